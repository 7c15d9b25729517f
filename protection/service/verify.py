"""Verify: recompute every object hash of a checkpoint, check each saved
metadata against its plugin's schema and, with a connection, run the
plugins' verify steps.

The bank's problems are found before the operation is recorded (a resumed
verify finds them again); without a connection no flow runs.
"""

import time

from protection import exceptions
from protection.checkpoint import verify as checkpoint_verify
from protection.model.report import Failure
from protection.model.report import OperationResult
from protection.operations import runner as runner_mod
from protection.plugin import base as plugin_mod
from protection.service import running


def start(service, checkpoint_id, conn=None, cloud=None, tenancy=None,
          trust=None):
    """:meth:`ProtectionService.verify
    <protection.service.facade.ProtectionService.verify>`."""
    started = time.monotonic()
    checkpoint = running.checkpoint(service, checkpoint_id)
    problems = checkpoint_verify.verify_objects(checkpoint)
    saved = running.saved_metadata(service, checkpoint, check=False)
    problems += running.metadata_problems(service, checkpoint, saved)
    op = running.start(service, plugin_mod.VERIFY, checkpoint.id,
                       running.credentials(cloud, trust), tenancy)
    running.lease(service, op, checkpoint)
    inputs = runner_mod.OperationInputs(op, checkpoint, conn, {}, saved,
                                        plugin_mod.KEEP)
    return running.run_or_post(
        service, inputs, started,
        lambda inputs, started: finish(service, inputs, started,
                                       problems=problems))


def resume_inputs(service, op, checkpoint, connect):
    args = op.args
    conn = running.connection(service, op, connect) \
        if running.has_credentials(op) else None
    metadata = running.saved_metadata(service, checkpoint, check=False)
    return runner_mod.OperationInputs(
        op, checkpoint, conn, {}, metadata,
        args.get("policy") or plugin_mod.KEEP)


def finish(service, inputs, started, resume=False, abort=False,
           problems=None):
    """``problems``: the bank's, when :func:`start` found them already."""
    if problems is None:
        problems = checkpoint_verify.verify_objects(inputs.checkpoint)
        problems += running.metadata_problems(service, inputs.checkpoint,
                                              inputs.metadata)
    if inputs.conn is not None:
        _run, result = running.execute(service, inputs, started, resume,
                                       abort)
    else:
        result = OperationResult(plugin_mod.VERIFY, "success",
                                 checkpoint_id=inputs.checkpoint.id)
    result.problems = problems
    result.warnings = list(inputs.checkpoint.warnings)
    result.seconds = time.monotonic() - started
    if problems:
        result.status = "failed"
    running.finish(service, inputs.operation, result)
    if not result.ok:
        bank_failures = [Failure(None, "verify-bank", p) for p in problems]
        raise exceptions.OperationFailed(
            plugin_mod.VERIFY, bank_failures + result.failures, result)
    return result


KIND = running.OperationKind(plugin_mod.VERIFY, resume_inputs, finish)
