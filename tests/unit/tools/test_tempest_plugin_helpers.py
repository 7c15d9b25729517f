"""What the tempest plugin and ``tools/devcloud tempest`` compute without a
cloud: how datasource cells are compared with Heat's values, and the
tempest.conf written for devcloud. (The tests themselves run under
tempest: ``tools/devcloud tempest``.)"""

import configparser
import importlib.util
import sys

import pytest

from tests.fakes.paths import ROOT


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _load("sv_tempest_compare", ROOT / "stackvault_tempest_plugin" /
                "stackvault_tempest_plugin" / "compare.py")
sys.path.insert(0, str(ROOT / "tools"))
from devcloud_impl import tempest as devcloud_tempest  # noqa: E402


@pytest.mark.parametrize("cell, value, same", [
    ("CREATE_COMPLETE", "CREATE_COMPLETE", True),
    (None, None, True),
    (5, 5, True),
    ("5", 5, False),
    ('["a", "b"]', ["a", "b"], True),
    ('["b", "a"]', ["a", "b"], False),
    ('{"k": [1, 2]}', {"k": [1, 2]}, True),
    ("[]", [], True),
    (None, [], False),
    ("not json", {"k": 1}, False),
])
def test_cell_matches(cell, value, same):
    assert compare.cell_matches(cell, value) is same


def test_differences_compare_only_columns_heat_also_has():
    row = {"id": "x", "stack_id": "s", "tags": '["t"]', "status": "OK"}
    answer = {"id": "x", "tags": ["t"], "status": "FAILED", "links": []}
    assert compare.differences(row, answer) == {"status": ("OK", "FAILED")}


def test_keyed_refuses_two_rows_with_one_key():
    rows = [{"id": "a"}, {"id": "b"}]
    assert compare.keyed(rows, lambda r: r["id"]) == {"a": rows[0],
                                                       "b": rows[1]}
    with pytest.raises(AssertionError, match="two rows for a"):
        compare.keyed(rows + [{"id": "a"}], lambda r: r["id"])


def test_devcloud_tempest_conf():
    auth = {"auth_url": "http://127.0.0.1:5000/v3", "username": "admin",
            "password": "pw", "project_name": "admin",
            "user_domain_name": "Default"}
    text = devcloud_tempest.tempest_conf(auth, "RegionOne", "img", "flv",
                                         "pub", "/x/bin/stackvault", "/ws/l")
    conf = configparser.ConfigParser(default_section="no default")
    conf.read_string(text)
    assert conf["DEFAULT"]["log_dir"] == "/ws/l"
    assert dict(conf["auth"]) == {
        "use_dynamic_credentials": "True",
        "create_isolated_networks": "False",
        "admin_username": "admin", "admin_password": "pw",
        "admin_project_name": "admin", "admin_domain_name": "Default"}
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:5000/v3"
    assert conf["identity"]["region"] == "RegionOne"
    assert (conf["compute"]["image_ref"], conf["compute"]["flavor_ref"]) == (
        "img", "flv")
    assert conf["service_available"]["stackvault"] == "True"
    assert conf["stackvault"]["cli"] == "/x/bin/stackvault"
    assert conf["stackvault"]["heat_datasource"] == "True"
