"""The devstack plugin, phase by phase, against stub devstack functions.

Devstack cannot run here, so each phase runs in bash the way stack.sh runs
it (``source devstack/settings``, then ``source devstack/plugin.sh MODE
PHASE``) after a stub file that defines the devstack functions the plugin
calls (``iniset``, ``setup_develop``, ``pip_install``, ``run_process``,
``is_service_enabled`` ...): each stub records its call in a log, which
says what the plugin would install, configure and start. shellcheck checks
the scripts when it is installed (.ci/run installs it).
"""

import os
import pathlib
import shutil
import subprocess

import pytest

from tests.fakes.paths import ROOT

DEVSTACK = ROOT / "devstack"

STUBS = r"""
_record() { local IFS=$'\t'; printf '%s\n' "$*" >> "$STUB_LOG"; }
is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$service,"* ]] && return 0
    done
    return 1
}
enable_service() {
    _record enable_service "$@"
    local service
    for service in "$@"; do ENABLED_SERVICES+=",$service"; done
}
trueorfalse() {
    local value=${!2:-$1}
    case ${value,,} in
        1|yes|true|on) echo True ;;
        0|no|false|off) echo False ;;
        *) echo "$1" ;;
    esac
}
get_python_exec_prefix() { echo "$STUB_BIN"; }
iniset() { _record iniset "$@"; }
setup_develop() { _record setup_develop "$@"; }
pip_install() { _record pip_install "$@"; }
run_process() { _record run_process "$@"; }
stop_process() { _record stop_process "$@"; }
echo_summary() { _record echo_summary "$@"; }
die() { _record die "${@:2}"; exit 1; }
sudo() { _record sudo "$@"; "$@"; }
install_package() { _record install_package "$@"; }
restart_service() { _record restart_service "$@"; }
recreate_database() { _record recreate_database "$@"; }
database_connection_url() { echo "mysql+pymysql://root:pw@db/$1"; }
create_service_user() { _record create_service_user "$@"; }
get_or_create_service() { _record get_or_create_service "$@"; }
get_or_create_endpoint() { _record get_or_create_endpoint "$@"; }
configure_keystone_authtoken_middleware() {
    _record configure_keystone_authtoken_middleware "$@"
}
"""

BASE_SERVICES = "key,n-api,n-cpu,c-api,c-vol,g-api,q-svc,tempest"


class Devstack:
    """One fake devstack run: its directories, services and call log."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.stubs = tmp_path / "stubs.sh"
        self.stubs.write_text(STUBS)
        self.log = tmp_path / "calls.log"
        self.env = {
            "PATH": os.environ["PATH"],
            "DEST": str(tmp_path / "opt-stack"),
            "DATA_DIR": str(tmp_path / "data"),
            "TEMPEST_CONFIG": str(tmp_path / "tempest.conf"),
            "STACK_USER": subprocess.run(
                ["id", "-un"], capture_output=True, text=True,
                check=True).stdout.strip(),
            "STACKVAULT_CONF_DIR": str(tmp_path / "etc-stackvault"),
            "STUB_LOG": str(self.log),
            "STUB_BIN": str(self.bin),
            "ENABLED_SERVICES": BASE_SERVICES,
            "REGION_NAME": "RegionOne",
            "SERVICE_HOST": "192.0.2.10",
        }

    def run(self, *args, script="", local_conf="", **env):
        """Source the stubs, settings, ``local_conf`` (bash run after
        settings, as local.conf's ``disable_service`` would be) and
        ``plugin.sh ARGS``, then ``script``; return (exit code, the
        recorded calls as tuples, stdout)."""
        self.log.write_text("")
        code = (f'set -o errexit -o pipefail\nsource "{self.stubs}"\n'
                f'source "{DEVSTACK / "settings"}"\n{local_conf}\n'
                f'source "{DEVSTACK / "plugin.sh"}" {" ".join(args)}\n'
                + script)
        done = subprocess.run(["bash", "-c", code],
                              env={**self.env, **env}, capture_output=True,
                              text=True, timeout=60)
        calls = [tuple(line.split("\t"))
                 for line in self.log.read_text().splitlines()]
        return done.returncode, calls, done.stdout

    def conductor_script(self, name="stackvault-conductor"):
        exe = self.bin / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
        return exe


def named(calls, *names):
    return [c for c in calls if c[0] in names]


def inisets(calls, path):
    return {(c[2], c[3]): c[4] for c in calls
            if c[0] == "iniset" and c[1] == str(path)}


@pytest.fixture
def devstack(tmp_path):
    return Devstack(tmp_path)


def test_settings_enable_stackvault_and_never_heat(devstack):
    code, calls, out = devstack.run(
        "stack", "pre-install",
        script='echo "$ENABLED_SERVICES|$TEMPEST_PLUGINS"')
    assert code == 0
    assert named(calls, "enable_service") == [
        ("enable_service", "stackvault", "stackvault-conductor",
         "stackvault-api")]
    services, plugins = out.strip().split("|")
    assert services == BASE_SERVICES + \
        ",stackvault,stackvault-conductor,stackvault-api"
    assert plugins == f"{devstack.env['DEST']}/stackvault/" \
                      "stackvault_tempest_plugin"


def test_settings_add_the_tempest_plugin_to_other_plugins(devstack):
    code, _, out = devstack.run("stack", "pre-install",
                                script='echo "$TEMPEST_PLUGINS"',
                                TEMPEST_PLUGINS="/opt/stack/heat-tp")
    assert code == 0
    assert out.split() == ["/opt/stack/heat-tp", f"{devstack.env['DEST']}"
                           "/stackvault/stackvault_tempest_plugin"]


def test_install_sets_up_stackvault_from_its_checkout(devstack):
    code, calls, _ = devstack.run("stack", "install")
    assert code == 0
    assert named(calls, "setup_develop", "pip_install", "run_process",
                 "install_package", "restart_service") == [
        ("setup_develop", f"{devstack.env['DEST']}/stackvault"),
        # the conductor's jobboard
        ("install_package", "redis-server"),
        ("restart_service", "redis-server")]


def test_post_config_writes_the_configuration(devstack):
    code, calls, _ = devstack.run("stack", "post-config",
                                  STACKVAULT_STATUS_WAIT="900",
                                  SERVICE_PASSWORD="service-pw",
                                  KEYSTONE_SERVICE_URI="http://ks/identity")
    assert code == 0
    conf_dir = pathlib.Path(devstack.env["STACKVAULT_CONF_DIR"])
    bank = pathlib.Path(devstack.env["DATA_DIR"]) / "stackvault" / "bank"
    assert inisets(calls, conf_dir / "stackvault.conf") == {
        ("bank", "backend"): "filesystem",
        ("filesystem_bank", "path"): str(bank),
        ("timeouts", "status_wait"): "900",
        ("timeouts", "per_gib"): "120",
        ("engine", "max_workers"): "16",
        # the conductor's: without them it exits 2 at start
        ("jobboard", "backend"): "redis",
        ("jobboard", "address"): "127.0.0.1:6379",
        ("persistence", "connection"): "mysql+pymysql://root:pw@db/"
                                       "stackvault",
        # the API's
        ("api", "host"): "0.0.0.0",
        ("api", "port"): "8799",
        ("api", "region_name"): "RegionOne",
        # with a conductor, the API posts with trusts to this user
        ("trustee", "auth_type"): "password",
        ("trustee", "auth_url"): "http://ks/identity",
        ("trustee", "username"): "stackvault",
        ("trustee", "password"): "service-pw",
        ("trustee", "user_domain_name"): "Default",
    }
    assert named(calls, "recreate_database", "create_service_user",
                 "get_or_create_service", "get_or_create_endpoint",
                 "configure_keystone_authtoken_middleware") == [
        ("recreate_database", "stackvault"),
        ("create_service_user", "stackvault"),
        ("get_or_create_service", "stackvault", "data-protection",
         "stackvault data protection"),
        ("get_or_create_endpoint", "data-protection", "RegionOne",
         "http://192.0.2.10:8799"),
        ("configure_keystone_authtoken_middleware",
         str(conf_dir / "stackvault.conf"), "stackvault")]
    assert conf_dir.is_dir() and bank.is_dir()
    assert named(calls, "run_process", "setup_develop") == []


def test_extra_starts_no_conductor_while_stackvault_has_none(devstack):
    code, calls, out = devstack.run("stack", "extra")
    assert code == 0
    assert named(calls, "run_process") == []
    assert "no stackvault-conductor command is installed" in out


def test_extra_starts_the_conductor_once_it_is_installed(devstack):
    exe = devstack.conductor_script()
    code, calls, _ = devstack.run("stack", "extra")
    assert code == 0
    conf = pathlib.Path(devstack.env["STACKVAULT_CONF_DIR"]) / \
        "stackvault.conf"
    assert named(calls, "run_process") == [
        ("run_process", "stackvault-conductor",
         f"{exe} --config-file {conf}")]


def test_extra_starts_nothing_when_the_conductor_is_disabled(devstack):
    devstack.conductor_script()
    code, calls, _ = devstack.run(
        "stack", "extra",
        local_conf='ENABLED_SERVICES=${ENABLED_SERVICES/,stackvault-conductor/}')
    assert code == 0
    assert named(calls, "run_process") == []


def test_test_config_configures_the_tempest_plugin_without_heat(devstack):
    code, calls, _ = devstack.run("stack", "test-config")
    assert code == 0
    assert inisets(calls, devstack.env["TEMPEST_CONFIG"]) == {
        ("service_available", "stackvault"): "True",
        ("stackvault", "cli"): f"{devstack.bin}/stackvault",
        ("stackvault", "build_timeout"): "196",
        ("stackvault", "heat_datasource"): "False",
    }


def test_test_config_runs_the_heat_tests_only_with_heat_enabled(devstack):
    code, calls, _ = devstack.run(
        "stack", "test-config", STACKVAULT_TEST_HEAT_DATASOURCE="True",
        ENABLED_SERVICES=BASE_SERVICES + ",h-eng,h-api")
    assert code == 0
    assert inisets(calls, devstack.env["TEMPEST_CONFIG"])[
        ("stackvault", "heat_datasource")] == "True"

    code, calls, _ = devstack.run(
        "stack", "test-config", STACKVAULT_TEST_HEAT_DATASOURCE="True")
    assert code != 0
    (die,) = named(calls, "die")
    assert "needs Heat" in " ".join(die)
    assert inisets(calls, devstack.env["TEMPEST_CONFIG"]) == {}


def test_test_config_leaves_tempest_alone_when_it_is_disabled(devstack):
    code, calls, _ = devstack.run("stack", "test-config",
                                  ENABLED_SERVICES="key,n-api")
    assert code == 0
    assert named(calls, "iniset") == []


def test_no_phase_enables_or_installs_heat(devstack):
    devstack.conductor_script()
    for args in (("stack", "install"), ("stack", "post-config"),
                 ("stack", "extra"), ("stack", "test-config"),
                 ("unstack",), ("clean",)):
        code, calls, _ = devstack.run(*args)
        assert code == 0, args
        for call in named(calls, "enable_service", "setup_develop",
                          "pip_install", "run_process"):
            assert not any(word in ("heat", "h-eng", "h-api")
                           or "heat" in os.path.basename(word)
                           for word in call[1:]), (args, call)


def test_unstack_stops_the_conductor_and_clean_removes_state(devstack):
    code, calls, _ = devstack.run("stack", "post-config")
    assert code == 0
    code, calls, _ = devstack.run("unstack")
    assert code == 0
    assert named(calls, "stop_process") == [
        ("stop_process", "stackvault-conductor"),
        ("stop_process", "stackvault-api")]
    code, calls, _ = devstack.run("clean")
    assert code == 0
    assert not pathlib.Path(devstack.env["STACKVAULT_CONF_DIR"]).exists()
    assert not (pathlib.Path(devstack.env["DATA_DIR"]) /
                "stackvault").exists()


def test_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install "
                    "shellcheck)")
    done = subprocess.run(
        ["shellcheck", "-s", "bash", str(DEVSTACK / "plugin.sh"),
         str(DEVSTACK / "settings")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_extra_starts_the_api_once_it_is_installed(devstack):
    conductor = devstack.conductor_script()
    api = devstack.conductor_script("stackvault-api")
    code, calls, _ = devstack.run("stack", "extra")
    assert code == 0
    conf = pathlib.Path(devstack.env["STACKVAULT_CONF_DIR"]) / \
        "stackvault.conf"
    assert named(calls, "run_process") == [
        ("run_process", "stackvault-conductor",
         f"{conductor} --config-file {conf}"),
        ("run_process", "stackvault-api", f"{api} --config-file {conf}")]


def test_the_api_alone_gets_its_database_and_no_jobboard(devstack):
    code, calls, _ = devstack.run(
        "stack", "post-config",
        local_conf='ENABLED_SERVICES=${ENABLED_SERVICES/,stackvault-conductor/}')
    assert code == 0
    conf = pathlib.Path(devstack.env["STACKVAULT_CONF_DIR"]) / \
        "stackvault.conf"
    found = inisets(calls, conf)
    assert not [key for key in found if key[0] in ("jobboard", "trustee")]
    assert found[("persistence", "connection")].endswith("/stackvault")
    assert ("create_service_user", "stackvault") in calls


def test_without_the_api_nothing_is_registered_in_keystone(devstack):
    code, calls, _ = devstack.run(
        "stack", "post-config",
        local_conf='ENABLED_SERVICES=${ENABLED_SERVICES/,stackvault-api/}')
    assert code == 0
    assert named(calls, "create_service_user", "get_or_create_service",
                 "get_or_create_endpoint",
                 "configure_keystone_authtoken_middleware") == []
