"""Helpers for fullstack tests that drive stackvault against a real cloud.

``make_service`` builds a ProtectionService with the real plugins (loaded
through stevedore, as the CLI does) and a FileSystemBank under a temporary
directory, so each test has its own bank.
"""

from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.registry import PluginRegistry
from protection.service import ProtectionService


def make_service(bank_dir, overrides=None, bank=None):
    """``overrides``: ``{(group, option): value}`` applied to the config."""
    conf = config.load_config([], conf=cfg.ConfigOpts())
    registry = PluginRegistry.load(conf)
    for (group, name), value in (overrides or {}).items():
        conf.set_override(name, value, group=group)
    return ProtectionService(conf, registry,
                             bank or FileSystemBank(str(bank_dir)))
