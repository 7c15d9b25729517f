"""Retention: which of a plan's checkpoints to delete, and deleting them.

A plan's checkpoints are those whose index records its id
(:func:`belongs_to`; older ones by name only when this deployment made
them), never another plan's of the same name in a shared bank.

The rule (:func:`select`) looks only at the plan's ``available``
checkpoints, newest first: the newest is always kept; one beyond the
plan's ``keep`` newest, or created more than ``keep_days`` days ago, is
deleted. A checkpoint in any other status (protecting, error, deleting,
damaged) is never deleted and does not count.

Deleting (:func:`prune`) goes newest first, through the normal checkpoint
delete, so what its plugins stored in the cloud (volume backups, images)
goes too; each delete's precheck asks the cloud first, so a checkpoint
that another checkpoint depends on (the base of an incremental backup) is
kept, with the reason.
"""

import dataclasses
import datetime
import time

from protection.checkpoint import store as cp
from protection.checkpoint import check as checkpoint_check
from protection import exceptions
from protection.operations import audit

DAY = 86400.0
# Tags of a plan's checkpoint's request (index.json's ``plan``, see
# protection.checkpoint.store.Checkpoint.request), set by protection.plans.run
PLAN_NAME = "plan_name"
PLAN_RUN = "plan_run"
KEEP = "keep"
DELETE = "delete"            # the rule's verdict (also: dry run)
DELETED = "deleted"
REFUSED = "refused"          # the delete precheck said no: kept
FAILED = "failed"            # the delete was tried and failed


@dataclasses.dataclass
class Decision:
    checkpoint_id: str
    created_at: str
    action: str
    reason: str

    def to_dict(self):
        return dataclasses.asdict(self)


def plan_of(checkpoint):
    """The name of the plan a checkpoint was protected for (``None``: by
    hand); for people: retention selects by id (:func:`belongs_to`)."""
    if not checkpoint.index_readable:
        return None
    return checkpoint.request.get(PLAN_NAME)


def belongs_to(checkpoint, plan, made_here):
    """Whether retention may count ``checkpoint`` as ``plan``'s.

    A checkpoint whose index records the plan's id is. One written before
    plan ids (no ``plan_id``, or the plan's name where a release recorded
    that) carries only the plan's name, which another deployment sharing
    the bank may also use: it is the plan's only when this deployment's
    database proves it made it (``made_here(checkpoint_id)``: its protect
    is in the operations table, or it is the plan's last checkpoint).
    Otherwise it is kept: a checkpoint is never pruned on a name alone.
    """
    if not checkpoint.index_readable:
        return False
    recorded = checkpoint.index.get("plan_id")
    if recorded == plan.id:
        return True
    if recorded not in (None, plan.name) or plan_of(checkpoint) != plan.name:
        return False
    return checkpoint.id == plan.last_checkpoint or made_here(checkpoint.id)


def _epoch(created_at):
    moment = datetime.datetime.fromisoformat(created_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _age_order(checkpoint):
    """Oldest first: by when its plan run started (``created_at`` has
    whole seconds only), then ``created_at``."""
    request = checkpoint.request if checkpoint.index_readable else {}
    created = checkpoint.index.get("created_at") or ""
    return (request.get(PLAN_RUN) or 0.0, created, checkpoint.id)


def select(checkpoints, keep=None, keep_days=None, now=None):
    """One Decision (``keep`` or ``delete``) per checkpoint, newest first.

    ``checkpoints`` are one plan's; ``now`` is epoch seconds.
    """
    now = time.time() if now is None else now
    ordered = sorted(checkpoints, key=_age_order, reverse=True)
    decisions = []
    available = 0
    for checkpoint in ordered:
        created = checkpoint.index.get("created_at") or ""
        status = checkpoint.status
        if status != cp.AVAILABLE:
            decisions.append(Decision(checkpoint.id, created, KEEP,
                                      f"not available ({status})"))
            continue
        available += 1
        reason = "kept by the rule"
        action = KEEP
        if available == 1:
            reason = "the newest available checkpoint"
        elif keep is not None and available > keep:
            action, reason = DELETE, f"beyond the newest {keep}"
        elif keep_days is not None and \
                now - _epoch(created) > keep_days * DAY:
            action, reason = DELETE, f"older than {keep_days:g} days"
        decisions.append(Decision(checkpoint.id, created, action, reason))
    return decisions


def _delete(service, conn, decision, plan, trust):
    tenancy = cp.Tenancy(plan.project_id, plan.user_id) \
        if plan.project_id else None
    try:
        service.delete(decision.checkpoint_id, conn,
                       cloud=None if trust else plan.cloud,
                       tenancy=tenancy, action=audit.PRUNE, trust=trust)
    except exceptions.OperationFailed as exc:
        refused = exc.failures and all(
            f.step == checkpoint_check.PRECHECK_STEP for f in exc.failures)
        decision.action = REFUSED if refused else FAILED
        decision.reason = "; ".join(str(f) for f in exc.failures) or str(exc)
        return
    except exceptions.CheckpointLeased as exc:
        # A restore or verify reads it: kept, pruned by a later run.
        decision.action, decision.reason = REFUSED, str(exc)
        return
    except exceptions.StackvaultError as exc:
        decision.action, decision.reason = FAILED, str(exc)
        return
    decision.action = DELETED


def prune(service, conn, plan, now=None, dry_run=False, trust=None):
    """Apply the plan's rule to its checkpoints; return every Decision.

    With ``dry_run`` nothing is deleted: a checkpoint the rule would
    delete is ``delete``, or ``refused`` when the cloud would refuse its
    delete now. ``trust`` (a :class:`~protection.auth.trusts.Trust` lent
    by a posted plan run's protect, ``conn`` its connection): each
    delete records it, not the plan's cloud, and does not delete it.
    """
    made_here = service.stores.operations.protected_here
    mine = [c for c in service.list_checkpoints()
            if belongs_to(c, plan, made_here)]
    decisions = select(mine, plan.keep, plan.keep_days, now)
    for decision in decisions:
        if decision.action != DELETE:
            continue
        if not dry_run:
            _delete(service, conn, decision, plan, trust)
            continue
        refusals = service.delete_refusals(decision.checkpoint_id, conn)
        if refusals:
            decision.action = REFUSED
            decision.reason = "; ".join(str(f) for f in refusals)
    return decisions
