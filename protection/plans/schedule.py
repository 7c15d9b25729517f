"""Schedules: when a plan runs, and running the plans that are due.

A plan's schedule is a cron expression (five fields, UTC), parsed by
``croniter``. Its ``next_run`` (epoch seconds) is the first slot after the
plan was created or its schedule changed. :func:`run_due` runs every plan
whose ``next_run`` has come, once, and moves ``next_run`` to the first slot
after *now*: runs missed while nothing was running are run once at the
next chance, not once per missed slot.

Claiming a run is one compare-and-swap UPDATE of ``next_run``
(:meth:`protection.plans.store.PlanStore.claim`): of several processes (cron
jobs, systemd timers, conductors) that find the same plan due, exactly one
moves ``next_run`` and runs it; the others see it moved and skip it. A
process that dies during the run has used its slot: its protect is an
``interrupted`` operation (``stackvault operation resume|abort``), and
the next slot runs as usual.
"""

import datetime
import logging
import time

import croniter

from protection.plans import run as plan_run
from protection.plans import store as plans

LOG = logging.getLogger(__name__)


def check(expression):
    """Raise InvalidPlan unless ``expression`` is a cron expression."""
    if not isinstance(expression, str) or \
            len(expression.split()) != 5 or \
            not croniter.croniter.is_valid(expression):
        raise plans.InvalidPlan(
            f"invalid schedule {expression!r}: expected a cron expression "
            "of five fields (minute hour day-of-month month day-of-week, "
            "UTC), for example '0 2 * * *'")


def next_after(expression, now):
    """The first slot of ``expression`` strictly after ``now`` (epoch
    seconds, UTC), as whole epoch seconds."""
    start = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return int(croniter.croniter(expression, start).get_next(float))


def first_run(expression, now=None):
    """``next_run`` of a plan created (or rescheduled) at ``now``."""
    if not expression:
        return None
    return next_after(expression, time.time() if now is None else now)


def claim_due(store, now):
    """The due plans this caller has claimed (each moved to its next slot
    after ``now``); plans another caller claimed first are left out."""
    claimed = []
    for plan in store.due(now):
        following = next_after(plan.schedule, now)
        if store.claim(plan.name, plan.next_run, following):
            claimed.append(plan)
        else:
            LOG.info("plan %s: run of %s claimed by another process",
                     plan.name, plans.iso(plan.next_run))
    return claimed


def run_due(service, connect, now=None):
    """Run each plan that is due at ``now`` (default: the clock) once;
    return their :class:`protection.plans.run.PlanRun`.

    This is what ``stackvault plan run-due`` and the conductor call.
    ``connect(cloud_name)`` gives the connection for a plan's cloud. A
    failed run is reported in its PlanRun (and the plan's ``last_*``),
    never raised, so the other due plans still run.
    """
    now = time.time() if now is None else now
    runs = []
    for plan in claim_due(service.stores.plans, now):
        runs.append(plan_run.run(service, connect, plan, now))
    return runs
