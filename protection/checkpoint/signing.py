"""Signing older checkpoints with the bank key (``checkpoint sign``).

Setting ``[bank] key_file`` makes every unsigned checkpoint (format 1 or
2) ``damaged`` for restore (:mod:`protection.checkpoint.integrity`). An
operator who trusts what the bank holds signs them: a checkpoint whose
sha256 chain is whole and that was never signed becomes format 3. One
that was signed once and no longer verifies (stripped, edited, another
key) is never signed again, so stripping a signature never makes a
forgery signable. The chain proves a checkpoint whole, not who wrote it:
signing is a trust decision (the service records it in the audit trail).
"""

from protection import exceptions
from protection.checkpoint import load
from protection.checkpoint import store as cp


def sign(store, checkpoint_id):
    """Sign checkpoint ``checkpoint_id`` of ``store`` (a
    :class:`~protection.checkpoint.store.CheckpointStore` with a bank
    key); ``False`` when it was signed already. Raises CheckpointDamaged
    (damaged, or signed once and failing now), CheckpointBusy (a protect
    or delete owns it), CheckpointNotFound."""
    if store.bank_key is None:
        raise exceptions.ConfigError(
            "signing needs the bank key: set [bank] key_file")
    seen = store.get(checkpoint_id)
    if seen.damage is None:
        return False
    if seen.index_readable and \
            seen.index.get("format_version") == cp.SIGNED_FORMAT_VERSION:
        raise exceptions.CheckpointDamaged(checkpoint_id, seen.damage)
    checkpoint = cp.Checkpoint(store.bank, checkpoint_id, {},
                               owner_timeout=store.owner_timeout,
                               bank_key=store.bank_key,
                               catalog=store.catalog)
    loaded = load.read(store.bank, checkpoint.key, None, checkpoint_id)
    if loaded.damage is not None:
        raise exceptions.CheckpointDamaged(checkpoint_id, loaded.damage)
    if loaded.index.get("status") in (cp.PROTECTING, cp.DELETING):
        raise exceptions.CheckpointBusy(
            f"checkpoint {checkpoint_id} is {loaded.index['status']!r}: "
            "sign it once that ends")
    checkpoint.index = loaded.index
    checkpoint.index_sha256 = loaded.index_sha256
    checkpoint.manifest = cp.Manifest(loaded.manifest_objects)
    # Format 3 in a commit's write order: the manifest (with its MAC in
    # the index), then index.sha256 naming both hashes, then the index; a
    # crash between leaves it unsigned or signed, and signing again
    # finishes it.
    checkpoint.index["format_version"] = cp.SIGNED_FORMAT_VERSION
    for field in ("project_id", "user_id", "plan_id"):
        checkpoint.index.setdefault(field, None)
    checkpoint.write_manifest()
    checkpoint.save_index()
    return True
