"""Delete: what a checkpoint's plugins stored, then the checkpoint.

Refused while the checkpoint's owner is alive, or when a plugin's
``check_delete`` says no (before anything is deleted). A checkpoint left
``protecting`` by a protect that died is undone: through that protect's
operation when this database knows it, else from what the bank recorded.
"""

import time

from protection import exceptions
from protection.checkpoint import check as checkpoint_check
from protection.checkpoint import store as cp
from protection.model.report import OperationResult
from protection.operations import audit
from protection.operations import runner as runner_mod
from protection.operations import store as ops
from protection.plugin import base as plugin_mod
from protection.plugin import journal as protect_journal
from protection.service import running


def start(service, checkpoint_id, conn, force=False, cloud=None,
          tenancy=None, note=None, trust=None):
    """:meth:`ProtectionService.delete
    <protection.service.facade.ProtectionService.delete>`; ``note`` (an
    :class:`~protection.service.audited.Note`) takes the audit record of
    an undo of what a dead protect recorded."""
    started = time.monotonic()
    checkpoint = running.checkpoint(service, checkpoint_id,
                                    want_available=False)
    checkpoint_check.check_owner(checkpoint, force)
    checkpoint_check.check_project(checkpoint, conn)
    service.stores.operations.leases.refuse_if_leased(checkpoint.id)
    interrupted = _interrupted_protect(service, checkpoint)
    if interrupted is not None:
        # Undo it: what it created is journaled in its operation,
        # also what it had not yet recorded in the bank.
        return service.abort(interrupted.id, lambda _name: conn, tenancy)
    if not checkpoint.index_readable:
        service.checkpoints.remove(checkpoint)
        return OperationResult(
            plugin_mod.DELETE, "success", checkpoint_id=checkpoint.id,
            warnings=[checkpoint_check.unreadable_delete_note(checkpoint)],
            seconds=time.monotonic() - started)
    saved = running.saved_metadata(service, checkpoint, check=False)
    refused = checkpoint_check.delete_precheck(service.registry, checkpoint,
                                               conn, saved)
    if refused:
        result = OperationResult(
            plugin_mod.DELETE, "failed", checkpoint_id=checkpoint.id,
            failures=refused, seconds=time.monotonic() - started)
        raise exceptions.OperationFailed(plugin_mod.DELETE, refused, result)
    undone = protect_journal.Undone()
    if checkpoint.status != cp.AVAILABLE:
        # A protect that did not finish, whose operation this database
        # does not know: what it recorded in the bank goes too (what is
        # proven its own: protection.plugin.ownership).
        undone = protect_journal.undo_recorded(
            checkpoint, service.registry, conn, service.conf,
            service.timeouts, service.progress)
        if note is not None:
            note.also(audit.UNDO, checkpoint.id, audit.SUCCEEDED,
                      len(undone.deleted) or None, _undo_detail(undone))
    op = running.start(service, plugin_mod.DELETE, checkpoint.id,
                       running.credentials(cloud, trust), tenancy)
    return running.run_or_post(
        service, runner_mod.OperationInputs(
            op, checkpoint, conn, {}, saved, plugin_mod.KEEP),
        started, lambda inputs, started: finish(service, inputs, started,
                                                undone=undone))


def _undo_detail(undone):
    """The ids an undo deleted and left (ids only, never metadata)."""
    return "; ".join(filter(None, [
        f"deleted: {', '.join(map(str, undone.deleted))}"
        if undone.deleted else "",
        f"left: {undone.left}" if undone.left else ""])) or None


def refusals(service, checkpoint_id, conn):
    """:meth:`ProtectionService.delete_refusals
    <protection.service.facade.ProtectionService.delete_refusals>`."""
    checkpoint = running.checkpoint(service, checkpoint_id,
                                    want_available=False)
    saved = running.saved_metadata(service, checkpoint, check=False)
    return checkpoint_check.delete_precheck(service.registry, checkpoint,
                                            conn, saved)


def _interrupted_protect(service, checkpoint):
    """The operation of a protect that died with this checkpoint, if this
    database knows it."""
    if not checkpoint.index_readable or \
            checkpoint.status != cp.PROTECTING or \
            not checkpoint.operation_id:
        return None
    try:
        op = service.stores.operations.get(checkpoint.operation_id)
    except ops.OperationNotFound:
        return None
    return op if op.shown_status == ops.INTERRUPTED else None


def resume_inputs(service, op, checkpoint, connect):
    args = op.args
    conn = running.connection(service, op, connect)
    metadata = running.saved_metadata(service, checkpoint, check=False)
    return runner_mod.OperationInputs(
        op, checkpoint, conn, {}, metadata,
        args.get("policy") or plugin_mod.KEEP)


def finish(service, inputs, started, resume=False, abort=False,
           undone=None):
    checkpoint = inputs.checkpoint
    _claim_unless_leased(service, checkpoint, inputs.operation)
    with checkpoint.keep_alive():
        _run, result = running.execute(service, inputs, started, resume,
                                       abort)
    if undone is not None:
        running.report_left(result, undone.left, undone.warnings)
    if not result.ok:
        checkpoint.fail_delete([str(f) for f in result.failures])
        running.finish(service, inputs.operation, result)
        raise exceptions.OperationFailed(plugin_mod.DELETE, result.failures,
                                         result)
    service.checkpoints.remove(checkpoint)
    return running.finish(service, inputs.operation, result)


def _claim_unless_leased(service, checkpoint, op):
    """Claim the checkpoint (``deleting``), then look for read leases
    again: a restore takes its lease before it reads the index, so
    either it sees the claim or this sees its lease (then the claim is
    given back and the delete refused)."""
    before = checkpoint.index.get("status") \
        if checkpoint.index_readable else None
    checkpoint.claim(cp.DELETING, op.id)
    try:
        service.stores.operations.leases.refuse_if_leased(checkpoint.id)
    except exceptions.CheckpointBusy as exc:
        if before is not None:
            checkpoint.unclaim(before)
        running.finish(service, op, OperationResult(
            plugin_mod.DELETE, "failed", checkpoint_id=checkpoint.id,
            warnings=[str(exc)]))
        raise


KIND = running.OperationKind(plugin_mod.DELETE, resume_inputs, finish)
