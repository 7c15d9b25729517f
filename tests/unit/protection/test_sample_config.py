"""The checked-in sample config is what oslo-config-generator writes now."""

import subprocess
import sys

from tests.fakes.paths import ROOT


def test_sample_config_is_current(tmp_path):
    out = tmp_path / "stackvault.conf.sample"
    subprocess.run(
        [sys.executable, "-m", "oslo_config.generator",
         "--namespace", "stackvault", "--wrap-width", "79",
         "--output-file", str(out)],
        check=True, cwd=ROOT)
    checked_in = ROOT / "etc" / "stackvault" / "stackvault.conf.sample"
    assert out.read_text() == checked_in.read_text(), (
        "etc/stackvault/stackvault.conf.sample is stale: run "
        "'tox -e genconfig' and commit the result")
