"""Helpers for fullstack tests that drive stackvault against a real cloud.

``make_service`` builds a ProtectionService with the real plugins (loaded
through stevedore, as the CLI does) and a FileSystemBank under a temporary
directory, so each test has its own bank.
"""

from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService


def make_service(bank_dir, overrides=None, bank=None):
    """``overrides``: ``{(group, option): value}`` applied to the config."""
    conf = config.load_config([], conf=cfg.ConfigOpts())
    registry = PluginRegistry.load(conf)
    for (group, name), value in (overrides or {}).items():
        conf.set_override(name, value, group=group)
    return ProtectionService(conf, registry,
                             bank or FileSystemBank(str(bank_dir)))


def protect_one(service, conn, cleanup, rtype, rid, parameters=None):
    """Protect one resource; the checkpoint (and what its plugins stored in
    the cloud) is deleted at teardown. Returns the checkpoint id."""
    result = service.protect(conn, "fullstack", [(rtype, rid)],
                             {rtype: parameters} if parameters else None)
    cleanup(service.delete, result.checkpoint_id, conn)
    return result.checkpoint_id


def restore_one(service, conn, cleanup, checkpoint_id, rtype, original_id,
                delete, parameters=None):
    """Restore a checkpoint and return the new id of ``rtype#original_id``;
    ``delete(conn, new_id)`` runs at teardown."""
    result = service.restore(checkpoint_id, conn,
                             {rtype: parameters} if parameters else None)
    new_id = result.restored[f"{rtype}#{original_id}"]
    cleanup(delete, conn, new_id)
    return new_id
