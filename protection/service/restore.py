"""Restore: a checkpoint's resources, or a selection of them, into the
project of a connection; and its dry run.

The pre-flight (:mod:`protection.restore.preview`) runs before the
operation is recorded; a failed restore leaves what its policy says (keep:
everything it created, listed; rollback: what the revert could not
delete, still journaled).
"""

import time

from protection import exceptions
from protection.checkpoint import check as checkpoint_check
from protection.operations import runner as runner_mod
from protection.plugin import base as plugin_mod
from protection.restore import preview as restore_preview
from protection.restore import selection
from protection.service import running


def start(service, checkpoint_id, conn, parameters=None,
          policy=plugin_mod.ROLLBACK, cloud=None, only=(), exclude=(),
          skip_preflight=False, tenancy=None, trust=None):
    """:meth:`ProtectionService.restore
    <protection.service.facade.ProtectionService.restore>`."""
    started = time.monotonic()
    if policy not in plugin_mod.POLICIES:
        raise exceptions.StackvaultError(
            f"unknown failure policy {policy!r} (use "
            f"{' or '.join(plugin_mod.POLICIES)})")
    checkpoint = running.checkpoint(service, checkpoint_id)
    checkpoint_check.check_before_restore(checkpoint)
    graph = selection.select(checkpoint.graph, only, exclude)
    merged = running.validated_parameters(service, plugin_mod.RESTORE,
                                          graph, parameters)
    saved = running.saved_metadata(service, checkpoint, check=True,
                                   verified=True)
    if not skip_preflight:
        report = restore_preview.preview(service, checkpoint, graph, conn,
                                         merged, saved, [])
        if not report.ok:
            raise exceptions.PreflightFailed(report)
    op = running.start(service, plugin_mod.RESTORE, checkpoint.id,
                       {**running.credentials(cloud, trust),
                        "parameters": parameters or {},
                        "policy": policy,
                        **selection.as_args(only, exclude)}, tenancy)
    running.lease(service, op, checkpoint)
    return running.run_or_post(
        service, runner_mod.OperationInputs(
            op, checkpoint, conn, merged, saved, policy, graph),
        started, lambda inputs, started: finish(service, inputs, started))


def dry_run(service, checkpoint_id, conn, parameters=None, only=(),
            exclude=()):
    """:meth:`ProtectionService.dry_run
    <protection.service.facade.ProtectionService.dry_run>`."""
    checkpoint = running.checkpoint(service, checkpoint_id)
    if checkpoint.damage is not None:
        checkpoint_check.check_before_restore(checkpoint)
    problems = checkpoint_check.integrity_problems(checkpoint)
    graph = selection.select(checkpoint.graph, only, exclude)
    merged = running.validated_parameters(service, plugin_mod.RESTORE,
                                          graph, parameters)
    saved = running.saved_metadata(service, checkpoint, check=True)
    return restore_preview.preview(service, checkpoint, graph, conn,
                                   merged, saved, problems)


def resume_inputs(service, op, checkpoint, connect):
    args = op.args
    conn = running.connection(service, op, connect)
    graph = selection.select(
        checkpoint.graph, [tuple(k) for k in args.get("only") or ()],
        [tuple(k) for k in args.get("exclude") or ()])
    parameters = running.validated_parameters(
        service, op.kind, graph, args.get("parameters"))
    metadata = running.saved_metadata(service, checkpoint, check=False,
                                      verified=True)
    return runner_mod.OperationInputs(
        op, checkpoint, conn, parameters, metadata,
        args.get("policy") or plugin_mod.ROLLBACK, graph)


def finish(service, inputs, started, resume=False, abort=False):
    run, result = running.execute(service, inputs, started, resume, abort)
    if abort or result.ok:
        return running.finish(service, inputs.operation, result,
                              result.left_behind)
    if inputs.policy == plugin_mod.KEEP:
        result.left_behind = dict(result.restored)
    else:
        # What a revert could not delete is still journaled.
        result.left_behind = run.journal.remaining()
    running.finish(service, inputs.operation, result, result.left_behind)
    raise exceptions.OperationFailed(plugin_mod.RESTORE, result.failures,
                                     result)


KIND = running.OperationKind(plugin_mod.RESTORE, resume_inputs, finish)
