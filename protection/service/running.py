"""What every operation kind does around its flow, and the reads they share.

An operation is recorded (:func:`start`), its flow run here or posted for a
conductor (:func:`run_or_post`), run (:func:`execute`: the runner, then
the first draft of its :class:`~protection.model.report.OperationResult`)
and its row finished with that result (:func:`finish`). What differs
between protect, restore, delete and verify (claiming a checkpoint,
committing or removing it, what a failure leaves) is in each kind's module
(:mod:`protection.service.kinds`).

Every function takes the :class:`~protection.service.facade.
ProtectionService` whose parts (stores, runner, registry, progress,
poster) it uses.
"""

import dataclasses
import logging
import time
import typing

from protection import exceptions
from protection.checkpoint import store as cp
from protection.model import parameters as params_mod
from protection.model import progress as progress_mod
from protection.model.progress import ProgressEvent
from protection.model.report import OperationResult
from protection.model.resource import key_str
from protection.operations import jobboard
from protection.operations import runner as runner_mod
from protection.operations import store as ops
from protection.plugin import saved_metadata as metadata_schema
from protection.plugin import tasks as plugin_tasks

DAY = 86400.0
LOG = logging.getLogger(__name__)


def _ids_as_dict(restored):
    return {key_str(key): new_id for key, new_id in
            sorted(restored.as_dict().items())}


# -- reads --------------------------------------------------------------------
def validated_parameters(service, kind, graph, parameters):
    """``resource key -> parameters`` for an operation of ``kind`` over
    ``graph``, each checked against its plugin's schema."""
    parameters = parameters or {}
    params_mod.check_targets(parameters, graph)
    merged = {}
    for resource in graph:
        plugin = service.registry.get(resource.type)
        merged[resource.key] = params_mod.validate(
            plugin.schema_for(kind),
            params_mod.for_resource(parameters, resource), resource)
    return merged


def saved_metadata(service, checkpoint, check, verified=False):
    """Each resource's ``metadata.json``; with ``check``, each one is
    checked against its plugin's ``metadata_schema`` first (raises
    InvalidMetadata naming the resource). ``verified`` (a restore's
    reads): each against its sha256 in the manifest (raises
    CheckpointDamaged), as the pre-check may not have read it."""
    saved = {}
    for resource in checkpoint.graph:
        metadata = checkpoint.section(resource).load_metadata(verified)
        if check:
            metadata_schema.check(service.registry.get(resource.type),
                                  resource, metadata)
        saved[resource.key] = metadata
    return saved


def metadata_problems(service, checkpoint, saved):
    """``saved`` (from :func:`saved_metadata`) against each plugin's
    schema: one line per problem."""
    problems = []
    for resource in checkpoint.graph:
        plugin = service.registry.get(resource.type)
        metadata = saved[resource.key]
        problems += [f"{resource}: metadata.json: {p}" for p in
                     metadata_schema.problems(plugin.metadata_schema,
                                              metadata)]
    return problems


def checkpoint(service, checkpoint_id, want_available=True):
    """The checkpoint; with ``want_available``, one that can be restored
    or verified (else CheckpointDamaged or CheckpointNotAvailable)."""
    found = service.checkpoints.get(checkpoint_id)
    if want_available:
        found.require_available()
    return found


# -- start, run, finish -------------------------------------------------------
def start(service, kind, checkpoint_id, args, tenancy=None):
    """Record a new operation (after pruning old ones) and announce it;
    ``tenancy`` (:class:`~protection.checkpoint.store.Tenancy`): the
    project and user it runs for. With a jobboard, the board is reached
    first: one that is down leaves nothing recorded."""
    if service.poster is not None:
        service.poster.connect()
    _prune(service)
    tenancy = tenancy or cp.Tenancy()
    op = service.stores.operations.create(
        kind, checkpoint_id, args, project_id=tenancy.project_id,
        user_id=tenancy.user_id)
    service.progress.emit(ProgressEvent(kind, None, progress_mod.STARTED,
                                        message=op.id))
    return op


def lease(service, op, checkpoint):
    """Hold a read lease on ``checkpoint`` for ``op`` (a restore or
    verify) until it ends (:mod:`protection.operations.leases`).

    Taken, then the index read again: a delete claims the checkpoint
    before it looks for leases, so either it sees this lease or this sees
    its claim (then the lease is dropped and the operation refused)."""
    leases = service.stores.operations.leases
    leases.take(checkpoint.id, op.id, op.kind)
    now = service.checkpoints.get(checkpoint.id)
    if now.status != cp.AVAILABLE:
        leases.release(op.id)
        finish(service, op, OperationResult(op.kind, "failed",
                                            checkpoint_id=checkpoint.id))
        now.require_available()


def _prune(service):
    days = service.conf.persistence.prune_after_days
    if not days:
        return
    for operation_id in service.stores.operations.prune(days * DAY):
        service.stores.flows.destroy(operation_id)


def finish(service, op, result, left_behind=None):
    """Record ``result`` as the operation's end (then its trust, if it
    has one, is deleted: :func:`end_trust`); return it."""
    result.operation_id = op.id
    status = ops.SUCCEEDED if result.ok else ops.FAILED
    if result.status == "aborted":
        status = ops.ABORTED
    service.stores.operations.finish(op.id, status, result.to_dict(),
                                     left_behind, generation=op.generation)
    end_trust(service, op)
    return result


# -- credentials -------------------------------------------------------------
def credentials(cloud=None, trust=None):
    """What an operation records of the credentials it acts with: the
    ``clouds.yaml`` name (the CLI), or the id and expiry of the Keystone
    trust the API made (:mod:`protection.auth.trusts`); never a secret."""
    if trust is not None:
        recorded = {"trust_id": trust.id,
                    "trust_expires_at": trust.expires_at}
        if trust.lent_by:
            recorded[ops.TRUST_LENT_BY] = trust.lent_by
        return recorded
    return {"cloud": cloud}


def connection(service, op, connect):
    """The one place a recorded operation's connection comes from (a
    resume, an abort, a conductor's run): its trust, as the trustee
    scoped by it (:meth:`protection.auth.trusts.Trusts.connection`:
    TrustNotHonoured when Keystone refuses it), else
    ``connect(cloud_name)`` for the ``clouds.yaml`` name it recorded."""
    args = op.args or {}
    if args.get("trust_id"):
        return service.trusts.connection(args["trust_id"])
    return connect(args.get("cloud"))


def has_credentials(op):
    """Whether the operation recorded a cloud or a trust to act with."""
    args = op.args or {}
    return bool(args.get("cloud") or args.get("trust_id"))


def end_trust(service, op):
    """Delete the trust of an operation that ended (with the trust's own
    token: the trustor's, impersonated). A failure is logged and left to
    the conductors' sweeper (:class:`protection.operations.sweeper.
    TrustSweeper`); the trust's expiry bounds it anyway. A trust lent by
    another operation, or still needed by this one's follow-up
    (:func:`follow_up`), is not deleted here
    (:func:`protection.operations.store.trust_to_end`)."""
    trust_id = ops.trust_to_end(op.args)
    if trust_id and service.trusts.delete_quietly(trust_id):
        service.stores.operations.forget_trust(op.id, trust_id)


def follow_up(service, operation_id, hook):
    """Run the follow-up of an operation that ended, then delete its
    trust; nothing when it has none (or it ran already).

    ``hook(op)`` does the work (a posted plan run's retention and
    record: :class:`protection.plans.run.AfterProtect`); it acts with
    the operation's trust, which is kept until the hook returned. A hook
    that raises leaves the follow-up pending: the conductor releases the
    job and the next one that claims it runs the hook again, so the hook
    must be safe to run twice (retention selects again; a checkpoint
    being deleted is not ``available`` and is not selected)."""
    op = service.stores.operations.get(operation_id)
    if ops.FOLLOW_UP not in (op.args or {}):
        return
    if hook is None:
        LOG.warning("operation %s has a follow-up and this process runs "
                    "none: its trust is deleted without it", op.id)
    else:
        hook(op)
    service.stores.operations.follow_up_done(op.id)
    end_trust(service, service.stores.operations.get(op.id))


def was_given_up(op):
    """Whether ``op`` ended ``failed`` because it was given up
    (:meth:`~protection.service.facade.ProtectionService.give_up`),
    not run to its end: it can still be aborted."""
    failures = (op.result or {}).get("failures") or []
    return op.status == ops.FAILED and any(
        f.get("step") == GIVEN_UP_STEP for f in failures)


GIVEN_UP_STEP = "conductor"     # the step of a given-up operation's failure


def run_or_post(service, inputs, started, run_here):
    """Run a new operation here (``run_here(inputs, started)``, its kind's
    finish), or post it for a conductor (a jobboard.Posted), or hand it to
    the service's executor (what its ``submit`` returns)."""
    if service.poster is not None:
        return _post(service, inputs.operation)
    def run():
        return released_if_broken(service, inputs.operation,
                                  lambda: run_here(inputs, started))
    if service.executor is not None:
        return service.executor.submit(inputs.operation, run)
    return run()


def released_if_broken(service, op, run):
    """``run()``; when it breaks on anything but the operation's own end
    (failed, interrupted, taken by another process), ``op`` is released
    at once, resumable: a long-lived process (a conductor, the API) must
    not hold an operation it no longer runs."""
    try:
        return run()
    except (exceptions.OperationFailed, runner_mod.OperationInterrupted,
            ops.OwnershipLost):
        raise       # ended, released, or someone else's now
    except BaseException:
        release_quietly(service, op)
        raise


def _post(service, op):
    """Post ``op`` for a conductor; when the post fails once it is
    queued, it is given up (a protect's checkpoint fails with it) and the
    caller gets one line: nothing is left ``queued`` or ``protecting``."""
    try:
        return service.poster.post(op)
    except jobboard.NotPosted as exc:
        service.give_up(exc.operation, str(exc))
        raise exceptions.JobNotPosted(
            f"operation {op.id} was not started: {exc}") from None


def release_quietly(service, op):
    """Release ``op`` if this process still owns it at its generation
    (a stopped or broken run): it is resumable at once. A database that
    does not answer leaves it to the owner timeout."""
    try:
        service.stores.operations.release(op.id, op.generation)
    except Exception as exc:  # noqa: BLE001 - best effort, logged
        LOG.warning("operation %s not released: %s", op.id, exc)


def execute(service, inputs, started, resume=False, abort=False):
    """Run the operation's flow: ``(run, result)``; an interruption leaves
    it resumable (OperationInterrupted), a lost ownership untouched by
    this process (OwnershipLost)."""
    try:
        run = service.runner.run(inputs, resume=resume, abort=abort)
    except ops.OwnershipLost:
        release_quietly(service, inputs.operation)
        raise
    if run.outcome.suspended:
        service.stores.operations.release(inputs.operation.id,
                                          inputs.operation.generation)
        raise runner_mod.OperationInterrupted(inputs.operation.id)
    result = OperationResult(
        inputs.operation.kind,
        "success" if run.outcome.succeeded else "failed",
        checkpoint_id=inputs.checkpoint.id, resources=run.statuses,
        failures=run.outcome.failures,
        rollback_failures=run.outcome.revert_failures,
        restored=_ids_as_dict(run.restored), policy=inputs.policy,
        seconds=time.monotonic() - started, timings=run.timings,
        api_calls=run.api_calls)
    # Objects that carry no mark and may exist twice after a crash.
    result.warnings += plugin_tasks.unconfirmed_notes(
        run.journal.remaining())
    if abort:
        left = run.journal.left_after_undo()
        result.status = "failed" if left else "aborted"
        result.left_behind = left
    else:
        report_marks(result, run)
    report_left(result, run.journal.left, run.journal.notes)
    return run, result


def report_marks(result, run):
    """What a restore's last stage could not take the marks off: the
    objects stay (the restore stands), listed in ``still_marked`` and
    ``warnings``, for the operator to take the marks off by hand."""
    result.still_marked = run.journal.still_marked()
    result.warnings += [
        f"{new_id} ({key}): its stackvault marks were not taken off "
        "(the restore stands; take them off by hand: metadata or "
        "properties stackvault_operation and stackvault_task, or a "
        "stackvault: description)"
        for key, new_id in result.still_marked.items()]
    result.warnings += [
        f"{failure.resource}: {failure.step}: marks not taken off: "
        f"{failure.message}"
        for failure in run.outcome.unmark_failures]


def report_left(result, left, notes):
    """What a delete step left because it is not proven stackvault's
    (protection.plugin.ownership): in ``left_behind`` and ``warnings``."""
    if left:
        result.left_behind = dict(result.left_behind, **left)
        result.warnings = list(result.warnings) + list(notes)


# -- what each kind defines ---------------------------------------------------
def _nothing_to_leave_right(_service, _op, _reason):
    """A given-up operation of this kind holds nothing beyond its row."""


@dataclasses.dataclass(frozen=True)
class OperationKind:
    """One operation kind's own pieces, the row of its kind in
    :data:`protection.service.kinds.KINDS`.

    ``resume_inputs(service, op, checkpoint, connect)``: the
    :class:`~protection.operations.runner.OperationInputs` of a recorded
    operation, rebuilt from its saved arguments (resume, abort, a
    conductor's run). ``finish(service, inputs, started, resume=False,
    abort=False)``: run its flow and settle its checkpoint and row; the
    OperationResult (raises OperationFailed). ``give_up(service, op,
    reason)``: what a conductor that gives an operation up leaves right
    besides its row (a protect fails its checkpoint).
    """

    name: str
    resume_inputs: typing.Callable
    finish: typing.Callable
    give_up: typing.Callable = _nothing_to_leave_right
