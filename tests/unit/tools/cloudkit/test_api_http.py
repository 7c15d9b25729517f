"""The configuration of an API of a test's or benchmark's own on devcloud
(``tools/cloudkit/api_http.py``: ``own_api_conf``), made from the config
devcloud's API step writes (``tools/devcloud_impl/stackvault_api.py``)."""

import configparser
import stat

import pytest

from protection.api import wsgi
from tools.cloudkit import api_http
from tools.devcloud_impl import paths
from tools.devcloud_impl import stackvault_api


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """devcloud's API config in a state directory of the test's own, found
    through ``OS_CLIENT_CONFIG_FILE`` as ``tools/devcloud env`` sets it."""
    layout = paths.Layout(tmp_path / "state")
    path = stackvault_api.write_conf(layout)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(layout.clouds_yaml))
    return _read(path)


def _read(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_the_copy_has_its_own_bank_and_database_and_the_rest_as_deployed(
        deployed, tmp_path):
    own = tmp_path / "own"
    path = api_http.own_api_conf(own)
    assert path == own / "stackvault-api.conf"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600   # a password
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    conf = wsgi.load_conf([str(path)])
    assert conf.filesystem_bank.path == str(own / "bank")
    assert conf.persistence.connection == f"sqlite:///{own}/api.db"
    copy = _read(path)
    changed = {("filesystem_bank", "path"), ("persistence", "connection")}
    assert copy.sections() == deployed.sections()
    for section in deployed.sections():
        assert {k: v for k, v in copy[section].items()
                if (section, k) not in changed} == \
            {k: v for k, v in deployed[section].items()
             if (section, k) not in changed}


def test_overrides_replace_options_and_add_sections(deployed, tmp_path):
    path = api_http.own_api_conf(
        tmp_path, filename="stackvault.conf",
        api={"port": 4321}, persistence={"connection": "mysql+pymysql://x"},
        jobboard={"namespace": "ns", "keep_alive": "1"})
    assert path == tmp_path / "stackvault.conf"
    copy = _read(path)
    assert copy["api"]["port"] == "4321"
    assert copy["api"]["host"] == deployed["api"]["host"]
    assert copy["persistence"]["connection"] == "mysql+pymysql://x"
    assert dict(copy["jobboard"]) == {"namespace": "ns", "keep_alive": "1"}
    assert copy["filesystem_bank"]["path"] == str(tmp_path / "bank")


def test_a_file_there_before_is_replaced_whole_and_made_private(
        deployed, tmp_path):
    old = tmp_path / "stackvault-api.conf"
    old.write_text("[old]\n" + "x = y\n" * 10000)
    old.chmod(0o644)
    path = api_http.own_api_conf(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _read(path).sections() == deployed.sections()


def test_without_devcloud_s_api_config_it_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE",
                       str(tmp_path / "clouds.yaml"))
    with pytest.raises(api_http.NoDeployedApi, match="tools/devcloud api"):
        api_http.own_api_conf(tmp_path / "own")
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    with pytest.raises(api_http.NoDeployedApi):
        api_http.deployed_api_conf()
    assert not (tmp_path / "own").exists()
