"""The ``stackvault`` CLI run in-process for tests: a fake cloud, the test
plugins of ``fake_cloud`` and a real FileSystemBank under a temporary
directory; and the check that a user's mistake is one line, no traceback."""

import io
import json
import os

import mock

from protection.cli import main as cli
from protection.plugin.registry import PluginRegistry
from tests.fakes import fake_cloud


class Cli:
    """Runs ``stackvault`` with a fake cloud, test plugins and a real
    FileSystemBank under ``tmp_path``."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.bank_path = tmp_path / "bank"
        self.config = tmp_path / "stackvault.conf"
        self.config.write_text(
            f"[filesystem_bank]\npath = {self.bank_path}\n\n"
            "[engine]\nmax_workers = 4\n")
        self.cloud = fake_cloud.app_cloud()
        self.registry = PluginRegistry([cls() for cls in fake_cloud.ALL])
        self.connect = mock.Mock(return_value=self.cloud)
        self.out = self.err = ""

    def __call__(self, *argv, config=True):
        stdout, stderr = io.StringIO(), io.StringIO()
        args = ["--config-file", str(self.config)] if config else []
        with mock.patch.object(cli.cloud, "connect", self.connect), \
                mock.patch.object(PluginRegistry, "load",
                                  return_value=self.registry):
            code = cli.main(args + list(argv), stdout, stderr)
        self.out, self.err = stdout.getvalue(), stderr.getvalue()
        return code

    def json(self, *argv):
        code = self(*argv, "-f", "json")
        assert code == 0, self.err
        return json.loads(self.out)

    def protect(self, *refs, name="nightly"):
        return self.json("protect", "--name", name, *refs)["checkpoint_id"]

    def bank_files(self):
        found = []
        for dirpath, _dirs, names in os.walk(self.bank_path):
            found += [os.path.join(dirpath, n) for n in names]
        return found


def assert_one_line_error(run, *words):
    assert run.out == ""
    assert run.err.endswith("\n")
    assert run.err.count("\n") == 1, run.err
    assert "Traceback" not in run.err
    for word in words:
        assert word in run.err
