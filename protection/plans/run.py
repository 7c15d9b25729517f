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
"""

import dataclasses
import time
import typing

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.checkpoint import store as checkpoint_store
from protection.plans import retention
from protection.operations import runner

SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"


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


def _protect(service, connect, plan, started):
    """Protect the plan's resources; a PlanRun (failed ones included)."""
    tags = {retention.PLAN_NAME: plan.name, retention.PLAN_RUN: started}
    try:
        result = service.protect(connect(plan.cloud), plan.display_name,
                                 plan.roots, plan.parameters,
                                 cloud=plan.cloud, tags=tags,
                                 tenancy=checkpoint_store.Tenancy(
                                     plan.project_id, plan.user_id,
                                     plan.id))
    except exceptions.OperationFailed as exc:
        checkpoint_id = exc.result.checkpoint_id if exc.result else None
        return PlanRun(plan.name, FAILED, checkpoint_id, str(exc))
    except exceptions.ResourceNotFound as exc:
        return PlanRun(plan.name, FAILED, error=(
            f"{exc}: it was deleted from the cloud, or the plan names the "
            "wrong id (stackvault plan update)"))
    except (exceptions.StackvaultError, sdk_exceptions.SDKException,
            ks_exceptions.ClientException) as exc:
        return PlanRun(plan.name, FAILED, error=str(exc))
    return PlanRun(plan.name, SUCCEEDED, result.checkpoint_id)


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
    if done.ok:
        try:
            done.retention = retention.prune(service, connect(plan.cloud),
                                             plan, now)
        except exceptions.StackvaultError as exc:
            done.error = f"retention not applied: {exc}"
    service.stores.plans.record_run(plan.name, started, done.status,
                                    done.checkpoint_id, done.error)
    return done
