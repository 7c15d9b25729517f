"""Protect: resources and their dependencies into a new checkpoint.

The checkpoint is created ``protecting`` (owned by the operation) before
the flow runs, kept alive while it runs, then committed ``available`` or
failed ``error`` with reasons; an aborted protect removes it.
"""

import logging
import time

from protection import exceptions
from protection.checkpoint import store as cp
from protection.model.report import Failure
from protection.model.resource import Resource
from protection.model.resource import key_str
from protection.operations import runner as runner_mod
from protection.operations import store as ops
from protection.plugin import base as plugin_mod
from protection.service import running

LOG = logging.getLogger(__name__)


def start(service, conn, name, resources, parameters=None, cloud=None,
          tags=None, tenancy=None, trust=None, follow_up=None):
    """:meth:`ProtectionService.protect
    <protection.service.facade.ProtectionService.protect>`."""
    started = time.monotonic()
    if not resources:
        raise exceptions.StackvaultError("nothing to protect: name at "
                                         "least one resource")
    roots = [r if isinstance(r, Resource) else
             service.show_resource(conn, r[0], r[1]) for r in resources]
    graph = service.resource_graph(conn, roots)
    merged = running.validated_parameters(service, plugin_mod.PROTECT,
                                          graph, parameters)
    request = {"name": name,
               "resources": [list(r.key) for r in roots],
               "parameters": parameters or {}}
    request.update(tags or {})
    args = {**running.credentials(cloud, trust),
            "parameters": parameters or {}}
    if follow_up is not None:
        args[ops.FOLLOW_UP] = follow_up
    op = running.start(service, plugin_mod.PROTECT, None, args, tenancy)
    checkpoint = service.checkpoints.create(request, graph, op.id, tenancy)
    service.stores.operations.set_checkpoint(op.id, checkpoint.id)
    return running.run_or_post(
        service, runner_mod.OperationInputs(op, checkpoint, conn, merged, {}),
        started, lambda inputs, started: finish(service, inputs, started))


def resume_inputs(service, op, checkpoint, connect):
    args = op.args
    conn = running.connection(service, op, connect)
    parameters = running.validated_parameters(
        service, op.kind, checkpoint.graph, args.get("parameters"))
    return runner_mod.OperationInputs(
        op, checkpoint, conn, parameters, {},
        args.get("policy") or plugin_mod.ROLLBACK)


def finish(service, inputs, started, resume=False, abort=False):
    checkpoint = inputs.checkpoint
    op = inputs.operation
    if resume or abort:
        checkpoint.claim(cp.PROTECTING, op.id, op.generation)
        checkpoint.adopt_objects()
    try:
        with checkpoint.keep_alive():
            run, result = running.execute(service, inputs, started, resume,
                                          abort)
    except (runner_mod.OperationInterrupted, ops.OwnershipLost):
        raise       # resumable, or another process's to finish
    except BaseException as exc:
        checkpoint.fail([f"protect aborted: {exc}"])
        raise
    if abort:
        if result.status == "aborted":
            service.checkpoints.remove(checkpoint)
        return running.finish(service, inputs.operation, result,
                              result.left_behind)
    for resource in checkpoint.graph:
        checkpoint.set_resource_status(
            resource, "available" if result.ok else
            run.statuses[key_str(resource.key)])
    if result.ok:
        return _commit(service, inputs, run, result)
    for failure in result.failures:
        if failure.resource is not None:
            checkpoint.set_resource_status(failure.resource, "error",
                                           failure.message)
    checkpoint.fail([str(f) for f in result.failures])
    running.finish(service, inputs.operation, result)
    raise exceptions.OperationFailed(plugin_mod.PROTECT, result.failures,
                                     result)


def _commit(service, inputs, run, result):
    """A protect whose flow succeeded: its checkpoint becomes
    ``available`` (a refused commit fails the operation)."""
    op = inputs.operation
    try:
        inputs.checkpoint.commit(still_ours=lambda: service.stores.operations
                                 .check_generation(op.id, op.generation))
    except ops.OwnershipLost:
        raise       # the new owner commits
    except exceptions.StackvaultError as exc:
        result.status = "failed"
        result.failures = [Failure(None, "commit", str(exc))]
        running.finish(service, inputs.operation, result)
        raise
    result.resources = {k: "available" for k in run.statuses}
    return running.finish(service, inputs.operation, result)


def give_up(service, op, reason):
    """The given-up protect's checkpoint can never be committed: it is
    failed, with the reason."""
    if not op.checkpoint:
        return
    try:
        service.checkpoints.get(op.checkpoint).fail([reason])
    except exceptions.StackvaultError as exc:
        LOG.warning("checkpoint %s: %s", op.checkpoint, exc)


KIND = running.OperationKind(plugin_mod.PROTECT, resume_inputs, finish,
                             give_up)
