"""A ProtectionService for tests: the plugins of ``fake_cloud`` (or those
given), a FileSystemBank under the test's temporary directory, and as many
engine workers as asked, with the default configuration otherwise."""

from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud


def make_service(tmp_path, workers=8, plugins=fake_cloud.ALL):
    """``plugins``: plugin classes, each made with no arguments."""
    conf = config.load_config([], conf=cfg.ConfigOpts())
    conf.set_override("max_workers", workers, group="engine")
    return ProtectionService(conf, PluginRegistry([p() for p in plugins]),
                             FileSystemBank(str(tmp_path / "bank")))
