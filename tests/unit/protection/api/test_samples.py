"""The checked-in samples of the API's configuration and policy are what
the generators write now (``tox -e genconfig``, ``tox -e genpolicy``)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[4]


def _generated(tmp_path, module, generator_conf):
    out = tmp_path / "sample"
    code = (f"import sys; from {module} import generator as g; "
            f"sys.argv = ['gen', '--config-file', {generator_conf!r}, "
            f"'--output-file', {str(out)!r}]; "
            + ("g.main()" if module == "oslo_config"
               else "g.generate_sample()"))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return out.read_text()


def test_the_api_config_sample_is_current(tmp_path):
    found = _generated(tmp_path, "oslo_config",
                       "etc/oslo-config-generator/stackvault-api.conf")
    assert "[api]" in found and "[keystone_authtoken]" in found
    assert found == (ROOT / "etc/stackvault/stackvault-api.conf.sample") \
        .read_text(), "stale: run 'tox -e genconfig' and commit the result"


def test_the_policy_sample_is_current(tmp_path):
    found = _generated(tmp_path, "oslo_policy",
                       "etc/oslo-policy-generator/stackvault.conf")
    assert '"stackvault:checkpoint:delete"' in found
    assert found == (ROOT / "etc/stackvault/policy.yaml.sample") \
        .read_text(), "stale: run 'tox -e genpolicy' and commit the result"
