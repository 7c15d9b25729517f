"""The ``stackvault`` CLI run in-process for tests: a fake cloud, the test
plugins of ``fake_cloud`` and a real FileSystemBank under a temporary
directory (no cloud, no subprocess), what the CLI's tests and fuzz tests
drive; and the check that a user's mistake is one line, no traceback."""

import io
import json
import os

import mock

from protection.cli import main as cli
from protection.plugin.registry import PluginRegistry
from tests.fakes import fake_cloud


class Cli:
    """Runs ``stackvault`` with a fake cloud, test plugins and a real
    FileSystemBank under ``tmp_path``; keeps the last exit code, stdout
    and stderr. ``own_database``: the persistence database in
    ``tmp_path`` too, for a runner that outlives one test (a module's
    fuzz runs) instead of the test's own data directory."""

    def __init__(self, tmp_path, own_database=False):
        self.tmp_path = tmp_path
        self.bank_path = tmp_path / "bank"
        self.config = tmp_path / "stackvault.conf"
        database = (f"[persistence]\nconnection = sqlite:///{tmp_path}/"
                    "ops.db\n\n") if own_database else ""
        self.config.write_text(
            f"[filesystem_bank]\npath = {self.bank_path}\n\n{database}"
            "[engine]\nmax_workers = 4\n")
        self.cloud = fake_cloud.app_cloud()
        self.registry = PluginRegistry([cls() for cls in fake_cloud.ALL])
        self.connect = mock.Mock(return_value=self.cloud)
        self.code, self.out, self.err = None, "", ""

    def __call__(self, *argv, config=True):
        stdout, stderr = io.StringIO(), io.StringIO()
        args = ["--config-file", str(self.config)] if config else []
        with mock.patch.object(cli.cloud, "connect", self.connect), \
                mock.patch.object(PluginRegistry, "load",
                                  return_value=self.registry):
            try:
                self.code = cli.main(args + list(argv), stdout, stderr)
            except SystemExit as exc:     # --help, as argparse ends it
                self.code = exc.code
        self.out, self.err = stdout.getvalue(), stderr.getvalue()
        return self.code

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
