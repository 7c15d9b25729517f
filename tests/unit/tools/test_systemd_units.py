"""The systemd units in etc/systemd: hardened (issue #23, item 10), and
valid for systemd itself (``systemd-analyze verify``)."""

import shutil
import subprocess

import pytest

from tests.fakes.paths import ROOT

UNITS = sorted((ROOT / "etc" / "systemd").glob("*.service"))
REQUIRED = {"UMask": "0077", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "ProtectHome": "yes",
            "PrivateTmp": "yes", "CapabilityBoundingSet": ""}


def _service_settings(unit):
    settings, section = {}, None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and \
                not line.startswith("#"):
            key, _sep, value = line.partition("=")
            settings[key] = value
    return settings


def test_there_are_units():
    assert UNITS


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_a_unit_is_hardened(unit):
    settings = _service_settings(unit)
    assert {key: settings.get(key) for key in REQUIRED} == REQUIRED


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_accepts_the_unit(unit, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    # verify wants the command and the user to exist on this machine: the
    # rest of the unit is checked as written.
    text = unit.read_text()
    command = _service_settings(unit)["ExecStart"].split()[0]
    copy = tmp_path / unit.name
    copy.write_text(text.replace(command, shutil.which("true"))
                    .replace("User=stackvault", "User=root")
                    .replace("Group=stackvault", "Group=root"))
    done = subprocess.run([analyze, "verify", str(copy)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
