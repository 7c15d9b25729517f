"""Policy in code: the sample generator reads it through the entry
point, every rule of the routes is documented, and an operator's policy
file overrides a default."""

import subprocess
import sys

from oslo_config import cfg

from protection.api import policies
from protection.api import scope
from tests.fakes import api as fake_api


def test_the_sample_generator_writes_every_rule():
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; from oslo_policy import generator; "
         "sys.argv = ['oslopolicy-sample-generator', '--namespace', "
         "'stackvault']; generator.generate_sample()"],
        capture_output=True, text=True, check=True).stdout
    for rule in policies.list_rules():
        assert f'"{rule.name}"' in out


def test_each_route_rule_names_its_route():
    for rule in policies.list_rules():
        if rule.name.startswith("stackvault:"):
            assert rule.operations and rule.scope_types == ["project"]


def test_a_policy_file_overrides_a_default(tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"stackvault:checkpoint:list": "role:admin"\n')
    api = fake_api.Api(tmp_path / "bank")
    api.conf.set_override("policy_file", str(policy_file),
                          group="oslo_policy")
    api.app = fake_api.wsgi.make_app(
        api.conf, api.service, connect=lambda e, c: None,
        auth=fake_api.FakeAuthToken, pool=api.pool)
    assert api.call("GET", "/v1/checkpoints", "member").status_code == 403
    assert api.call("GET", "/v1/checkpoints", "admin").status_code == 200


def test_the_enforcer_entry_point_builds_one():
    enforcer = scope.enforcer_for_generator()
    assert "stackvault:checkpoint:create" in enforcer.registered_rules
    assert isinstance(enforcer.conf, cfg.ConfigOpts)
