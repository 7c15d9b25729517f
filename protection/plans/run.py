"""One run of a plan: protect its resources now, then apply its retention.

The checkpoint is named after the plan (its ``display_name``), owned by
the plan's project, and carries the plan in its index: the plan's id
(``plan_id``), which is how retention finds the plan's checkpoints, its
name (``plan.plan_name``, for people and for releases before plan ids)
and ``plan.plan_run`` (when the run started, in epoch seconds), which
orders them.
A run that fails (a resource deleted from the cloud, a plugin failure, the
cloud unreachable) is recorded in the plan (``last_status`` ``failed``,
``last_error``) with the reason, and retention is not applied: old
checkpoints are only deleted after a new one is ``available``.

A run happens in one process (:func:`run`: the CLI, ``plan run-due``, a
conductor's due plans, the API without a jobboard), or is posted by the
API with a jobboard (:func:`post`): a conductor runs its protect with the
caller's Keystone trust, then its follow-up hook (:class:`AfterProtect`)
applies the retention with that same trust and records the run, and only
then the trust is deleted. Both end in :func:`after_protect`.
"""

import dataclasses
import logging
import time
import typing

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.auth import trusts
from protection.checkpoint import store as checkpoint_store
from protection.operations import runner
from protection.operations import store as ops_store
from protection.plans import retention
from protection.plans import store as plans_store

SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"
RUNNING = "running"
# A posted run's follow-up (the protect operation's ``follow_up`` args).
FOLLOW_UP_KEY = ops_store.FOLLOW_UP
FOLLOW_PLAN = "plan"
FOLLOW_STARTED = "started"
LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class PlanRun:
    """What one run of a plan did."""

    plan: str
    status: str
    checkpoint_id: typing.Optional[str] = None
    error: typing.Optional[str] = None
    retention: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return self.status == SUCCEEDED

    @property
    def deleted(self):
        return [d.checkpoint_id for d in self.retention
                if d.action == retention.DELETED]

    def to_dict(self):
        return {"plan": self.plan, "status": self.status,
                "checkpoint_id": self.checkpoint_id, "error": self.error,
                "retention": [d.to_dict() for d in self.retention
                              if d.action != retention.KEEP]}


def _tags(plan, started):
    """The checkpoint's request tags and tenancy for a run of ``plan``."""
    return ({retention.PLAN_NAME: plan.name, retention.PLAN_RUN: started},
            checkpoint_store.Tenancy(plan.project_id, plan.user_id, plan.id))


def _protect(service, connect, plan, started):
    """Protect the plan's resources; a PlanRun (failed ones included)."""
    tags, tenancy = _tags(plan, started)
    try:
        result = service.protect(connect(plan.cloud), plan.display_name,
                                 plan.roots, plan.parameters,
                                 cloud=plan.cloud, tags=tags,
                                 tenancy=tenancy)
    except exceptions.OperationFailed as exc:
        checkpoint_id = exc.result.checkpoint_id if exc.result else None
        return PlanRun(plan.name, FAILED, checkpoint_id, str(exc))
    except exceptions.ResourceNotFound as exc:
        return PlanRun(plan.name, FAILED, error=_gone(exc))
    except (exceptions.StackvaultError, sdk_exceptions.SDKException,
            ks_exceptions.ClientException) as exc:
        return PlanRun(plan.name, FAILED, error=str(exc))
    return PlanRun(plan.name, SUCCEEDED, result.checkpoint_id)


def _gone(exc):
    return (f"{exc}: it was deleted from the cloud, or the plan names the "
            "wrong id (stackvault plan update)")


def after_protect(service, plan, started, done, connection, now=None,
                  trust=None):
    """What a plan run does once its protect ended (``done``, a PlanRun):
    when it succeeded, the plan's retention, acting with
    ``connection()`` (and recording ``trust``, a posted run's, in each
    delete); then the plan's record of the run. The one home of this,
    for a run in this process (:func:`run`) and a run the API posted
    (:class:`AfterProtect`, in a conductor). Returns ``done``."""
    if done.ok:
        try:
            done.retention = retention.prune(service, connection(), plan,
                                             now, trust=trust)
        except exceptions.StackvaultError as exc:
            done.error = f"retention not applied: {exc}"
    service.stores.plans.record_run(plan.name, started, done.status,
                                    done.checkpoint_id, done.error)
    return done


def run(service, connect, plan, now=None):
    """Run ``plan`` (a :class:`protection.plans.store.Plan`) once; return its
    PlanRun. ``connect(cloud_name)`` gives the plan's connection."""
    started = time.time()
    try:
        done = _protect(service, connect, plan, started)
    except runner.OperationInterrupted as exc:
        service.stores.plans.record_run(plan.name, started, INTERRUPTED,
                                        error=str(exc))
        raise
    return after_protect(service, plan, started, done,
                         lambda: connect(plan.cloud), now)


def post(service, conn, plan, trust):
    """Start a run of ``plan`` for a conductor (the API with a jobboard):
    its protect is recorded with ``trust`` and posted, with the plan's
    tags and tenancy and a follow-up (the plan and when the run started)
    that the conductor's :class:`AfterProtect` runs once the protect
    ended. The plan is ``running`` from now on; a protect that could not
    be started records the run ``failed`` and raises. Returns what the
    service's protect returns (a :class:`~protection.operations.jobboard.
    Posted`)."""
    started = time.time()
    tags, tenancy = _tags(plan, started)
    service.stores.plans.record_run(plan.name, started, RUNNING)
    try:
        return service.protect(conn, plan.display_name, plan.roots,
                               plan.parameters, tags=tags, tenancy=tenancy,
                               trust=trust, follow_up={
                                   FOLLOW_PLAN: plan.name,
                                   FOLLOW_STARTED: started})
    except BaseException as exc:
        error = _gone(exc) if isinstance(exc, exceptions.ResourceNotFound) \
            else f"the run was not started: {exc}"
        service.stores.plans.record_run(plan.name, started, FAILED,
                                        error=error)
        raise


def _protect_error(op):
    """Why a protect operation that ended did not succeed, in one line."""
    failures = (op.result or {}).get("failures") or []
    text = "; ".join(f.get("message") or "" for f in failures if f)
    return text or f"the protect ended {op.status}"


class AfterProtect:
    """The conductor's follow-up hook for a plan run the API posted
    (:func:`post`), handed to its job worker by
    :mod:`protection.cli.conductor` (:meth:`protection.operations.
    conductor.JobWorker.follow_up`): once the protect operation ``op``
    ended, :func:`after_protect` with the protect's own trust (its
    connection, and lent to each retention delete). The worker deletes
    the trust after this returns. Safe to run twice (a conductor that
    died during it): retention selects again, and a checkpoint being
    deleted is no longer ``available``."""

    def __init__(self, service):
        self._service = service

    def __call__(self, op):
        service = self._service
        follow = op.args.get(FOLLOW_UP_KEY) or {}
        try:
            plan = service.stores.plans.get(follow.get(FOLLOW_PLAN))
        except plans_store.PlanNotFound:
            LOG.info("operation %s: its plan %s is gone: no retention",
                     op.id, follow.get(FOLLOW_PLAN))
            return None
        if op.status == ops_store.SUCCEEDED:
            done = PlanRun(plan.name, SUCCEEDED, op.checkpoint)
        else:
            done = PlanRun(plan.name, FAILED, op.checkpoint,
                           _protect_error(op))
        trust_id = op.args.get("trust_id")
        trust = trusts.Trust(trust_id, op.args.get("trust_expires_at") or 0,
                             lent_by=op.id) if trust_id else None

        def connection():
            if trust is None:
                raise exceptions.OperationError(
                    f"operation {op.id} has no trust to act with")
            return service.trusts.connection(trust.id)
        done = after_protect(service, plan, follow.get(FOLLOW_STARTED),
                             done, connection, trust=trust)
        LOG.info("plan %s: %s, checkpoint %s%s", done.plan, done.status,
                 done.checkpoint_id, f": {done.error}" if done.error else "")
        return done
