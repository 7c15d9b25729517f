"""``stackvault`` run in-process over the fake cloud, the test plugins
and a real FileSystemBank in a temporary directory (no cloud, no
subprocess): what the CLI's tests and fuzz tests drive."""

import io
import json

import mock

from protection.cli import main as cli
from protection.plugin.registry import PluginRegistry
from tests import fake_cloud


class CliRunner:
    """Runs ``stackvault ARGV`` and keeps its exit code, stdout and
    stderr; the bank is ``<directory>/bank``."""

    def __init__(self, directory):
        self.bank_path = directory / "bank"
        self.config = directory / "stackvault.conf"
        self.config.write_text(
            f"[filesystem_bank]\npath = {self.bank_path}\n\n"
            f"[persistence]\nconnection = sqlite:///{directory}/ops.db\n\n"
            "[engine]\nmax_workers = 2\n")
        self.cloud = fake_cloud.app_cloud()
        self.registry = PluginRegistry([cls() for cls in fake_cloud.ALL])
        self.connect = mock.Mock(return_value=self.cloud)
        self.code, self.out, self.err = None, "", ""

    def __call__(self, *argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        with mock.patch.object(cli.cloud, "connect", self.connect), \
                mock.patch.object(PluginRegistry, "load",
                                  return_value=self.registry):
            try:
                self.code = cli.main(["--config-file", str(self.config)]
                                     + list(argv), stdout, stderr)
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
