"""``stackvault plugin list|show``: offline, every plugin with its source,
schemas and error."""

import io
import json
import os
import pathlib
import socket
import subprocess
import sys
from importlib import metadata
from unittest import mock

import pytest

from protection import loader
from protection.cli import main as cli
from protection.plugin import ProtectionPlugin

ROOT = pathlib.Path(__file__).resolve().parents[4]
HERE = __name__


class GoodPlugin(ProtectionPlugin):
    resource_type = "Test::Good"
    restore_schema = {"type": "object",
                      "properties": {"restore_name": {"type": "string"}}}
    metadata_schema = {"type": "object", "required": ["name"]}
    quota_demands = {"compute.server_groups": "server groups"}

    def list_resources(self, conn):
        return []

    def show_resource(self, conn, resource_id):
        return None

    def protect_flow(self, ctx, resource):
        return None

    def restore_flow(self, ctx, resource):
        return None


class NoRestore(ProtectionPlugin):
    resource_type = "Test::Broken"

    def list_resources(self, conn):
        return []

    def show_resource(self, conn, resource_id):
        return None

    def protect_flow(self, ctx, resource):
        return None


class SameType(GoodPlugin):
    """Claims GoodPlugin's type: the second of the two is refused."""


def entry_point(name, value):
    return metadata.EntryPoint(name, value, loader.PLUGINS)


def run(*argv, plugins=None):
    """``stackvault ARGV`` -> (exit code, stdout, stderr); ``plugins``:
    the entry points installed instead of the real ones."""
    out, err = io.StringIO(), io.StringIO()
    if plugins is None:
        code = cli.main(list(argv), out, err)
    else:
        with mock.patch.object(loader, "entry_points",
                               return_value=plugins):
            code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_list_shows_every_installed_plugin_with_its_source():
    code, out, err = run("plugin", "list", "-f", "json")
    assert (code, err) == (0, "")
    found = {p["Entry point"]: p for p in json.loads(out)}
    assert set(found) >= {"keypair", "server", "volume", "network", "image",
                          "heat_stack"}
    keypair = found["keypair"]
    assert keypair["Type"] == "OS::Nova::KeyPair"
    assert keypair["Class"] == "plugins.keypair.KeyPairPlugin"
    assert keypair["Source"] == str(ROOT / "plugins" / "keypair.py")
    assert keypair["Distribution"].startswith("stackvault ")
    assert keypair["Status"] == "loaded"


def test_a_plugin_that_does_not_load_is_listed_with_its_error():
    code, out, err = run("plugin", "list", "-f", "json", plugins=[
        entry_point("good", f"{HERE}:GoodPlugin"),
        entry_point("gone", "stackvault_gone.plugin:GonePlugin"),
        entry_point("norestore", f"{HERE}:NoRestore"),
        entry_point("same", f"{HERE}:SameType"),
        entry_point("notaclass", "os.path:join")])
    rows = {p["Entry point"]: p for p in json.loads(out)}
    assert rows["good"]["Status"] == "loaded"
    assert rows["gone"]["Type"] is None
    assert rows["gone"]["Class"] == "stackvault_gone.plugin:GonePlugin"
    assert rows["gone"]["Status"] == (
        "error: cannot import stackvault_gone.plugin:GonePlugin: "
        "ModuleNotFoundError: No module named 'stackvault_gone'")
    assert "does not implement restore_flow()" in rows["norestore"]["Status"]
    assert rows["norestore"]["Type"] == "Test::Broken"
    assert "two plugins claim Test::Good" in rows["same"]["Status"]
    assert "not a ProtectionPlugin subclass" in rows["notaclass"]["Status"]
    # One line per broken plugin on stderr, no traceback; exit 1: the
    # service would refuse to start.
    assert code == 1
    assert err.count("\n") == 4 and "Traceback" not in err
    assert "stackvault: plugin 'gone' (stackvault_gone.plugin:GonePlugin) " \
        "does not load: cannot import" in err


@pytest.mark.parametrize("name", ["Test::Good", "good"])
def test_show_prints_schemas_and_quota_names(name):
    code, out, err = run("plugin", "show", name, "-f", "json", plugins=[
        entry_point("good", f"{HERE}:GoodPlugin")])
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["type"] == "Test::Good"
    assert shown["class"] == f"{HERE}.GoodPlugin"
    assert shown["source"] == __file__
    assert shown["restore_schema"] == GoodPlugin.restore_schema
    assert shown["metadata_schema"] == {"type": "object",
                                        "required": ["name"]}
    assert shown["options_schema"] == {}
    assert shown["quota_demands"] == {"compute.server_groups":
                                      "server groups"}


def test_show_as_a_table_prints_each_schema_as_indented_json():
    code, out, _err = run("plugin", "show", "good", plugins=[
        entry_point("good", f"{HERE}:GoodPlugin")])
    assert code == 0
    assert '|   "required": [' in out
    assert '|     "name"' in out


def test_show_of_a_broken_plugin_gives_its_error_and_exit_1():
    code, out, err = run("plugin", "show", "norestore", "-f", "yaml",
                         plugins=[entry_point("norestore",
                                              f"{HERE}:NoRestore")])
    assert code == 1
    assert "does not implement restore_flow()" in out
    assert err.count("\n") == 1


def test_show_of_an_unknown_plugin_is_one_line_and_exit_2():
    code, out, err = run("plugin", "show", "OS::Nova::ServerGroup",
                         plugins=[entry_point("good", f"{HERE}:GoodPlugin")])
    assert (code, out) == (2, "")
    assert err == ("stackvault: error: no plugin 'OS::Nova::ServerGroup' "
                   "installed (types and entry points: Test::Good, good)\n")


def test_list_needs_no_network_cloud_or_database(tmp_path, monkeypatch):
    """No OS_CLOUD, no clouds.yaml, no config file: nothing is read but
    the entry points, and nothing reaches the network or a database."""
    for var in [v for v in os.environ if v.startswith("OS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "missing"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"network used: {args}")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    code, out, err = run("plugin", "list")
    assert (code, err) == (0, "")
    assert "OS::Nova::KeyPair" in out
    assert not (tmp_path / "data").exists()     # no database was made


def test_the_console_command_lists_plugins_without_a_cloud(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "protection.cli.main", "plugin", "list",
         "-f", "value"], capture_output=True, text=True, env=env,
        cwd=tmp_path, check=False, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert "OS::Nova::KeyPair keypair plugins.keypair.KeyPairPlugin" in \
        done.stdout
    assert not (tmp_path / "data").exists()
