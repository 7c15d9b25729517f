"""devcloud's protection API step (tools/devcloud_impl/stackvault_api.py):
the config the API reads, the personas in clouds.yaml, and a run without
a stackvault-api installed (``up`` goes on without the API)."""

import configparser
import stat
from unittest import mock

from protection.api import wsgi
from tools.devcloud_impl import boot
from tools.devcloud_impl import paths
from tools.devcloud_impl import stackvault_api


def test_the_config_is_the_apis_own_and_only_the_services(tmp_path):
    layout = paths.Layout(tmp_path)
    path = stackvault_api.write_conf(layout)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600   # a password
    conf = wsgi.load_conf([str(path)])
    assert (conf.api.host, conf.api.port) == ("127.0.0.1", 8799)
    assert conf.filesystem_bank.path == str(
        tmp_path / "data" / "stackvault-api" / "bank")
    assert conf.persistence.connection.startswith("sqlite:///")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    auth = parser["keystone_authtoken"]
    assert (auth["username"], auth["project_name"]) == ("stackvault",
                                                        "service")
    assert auth["www_authenticate_uri"].endswith(":5000/v3")
    trustee = parser["trustee"]      # unscoped: a trust scopes its tokens
    assert (trustee["auth_type"], trustee["username"]) == ("password",
                                                           "stackvault")
    assert "project_name" not in trustee
    assert conf.jobboard.address is None     # the API's own pool


def test_clouds_yaml_has_a_persona_per_role(tmp_path):
    layout = paths.Layout(tmp_path)
    boot.write_clouds_yaml(layout)
    text = layout.clouds_yaml.read_text()
    for cloud, user in (("devcloud", "demo"), ("devcloud-alt", "alt"),
                        ("devcloud-reader", "demo-reader"),
                        ("devcloud-admin", "admin")):
        assert f"  {cloud}:\n    auth:\n" in text
        block = text.split(f"  {cloud}:\n", 1)[1]
        assert f"username: {user}\n" in block.split("interface")[0]


def test_without_a_stackvault_api_nothing_starts(tmp_path):
    ctx = mock.Mock(layout=paths.Layout(tmp_path))
    with mock.patch.object(stackvault_api, "register"), \
            mock.patch("tools.devcloud_impl.identity.admin_connection"), \
            mock.patch.object(stackvault_api, "executable",
                              return_value=None), \
            mock.patch.object(stackvault_api.procs, "start") as start:
        assert stackvault_api.ensure(ctx) is None
    start.assert_not_called()
    assert "devcloud-reader" in ctx.layout.clouds_yaml.read_text()
