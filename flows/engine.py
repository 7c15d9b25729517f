"""Run an assembled flow with TaskFlow's parallel engine; explain failures."""

from concurrent import futures
import dataclasses
import logging
import typing

import taskflow.engines
from taskflow import states

from flows import contract
from flows import faults
from flows.failure import Failure
from flows.failure import message_of
from flows.contract import KEEP
from flows.contract import POLICIES  # noqa: F401 - part of this API
from flows.contract import ROLLBACK

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class RunOutcome:
    succeeded: bool
    failures: list            # [Failure] from execute
    revert_failures: list     # [Failure] from revert (rollback incomplete)
    suspended: bool = False   # stopped at a task boundary, resumable
    # [Failure] from a restore's last stage (flows.atoms.Unmark)
    unmark_failures: list = dataclasses.field(default_factory=list)


def _message(failure):
    return message_of(failure.exception, failure.exception_str) or \
        failure.exception_type_names[0]


def _explain(failures_by_atom, owners):
    explained = []
    for atom_name, failure in sorted(failures_by_atom.items()):
        resource, step = owners.get(atom_name, (None, atom_name))
        explained.append(Failure(resource=resource, step=step,
                                 message=_message(failure)))
    return explained


def _step_listener(built, on_step):
    """Turn TaskFlow atom transitions into ``on_step(resource, step,
    failed)`` calls: a plugin step starting, or any step failing."""
    def on_atom(state, details):
        owner = built.owners.get(details.get("task_name") or
                                 details.get("atom_name"))
        if owner is None:
            return
        resource, step = owner
        if step in ("start", "finish"):
            return          # the marker tasks report those themselves
        if step in contract.HOOKS and state != states.FAILURE:
            return          # hooks are mostly no-ops: report only failures
        if state in (states.FAILURE, states.RUNNING):
            on_step(resource, step, state == states.FAILURE)
    return on_atom


def _crash_listener(state, details):
    name = details.get("task_name") or details.get("atom_name") or ""
    if state == states.RUNNING:
        faults.maybe_crash(name, faults.BEFORE)
    elif state == states.SUCCESS:
        faults.maybe_crash(name, faults.AFTER_SAVE)


def _flow_crash_listener(operation):
    """The whole flow's point: ``<operation>:after_save`` once its
    SUCCESS is saved (every atom done, nothing committed yet)."""
    def on_flow(state, details):  # TaskFlow passes details by name
        if state == states.SUCCESS:
            faults.maybe_crash(operation, faults.AFTER_SAVE)
    return on_flow


@dataclasses.dataclass
class Persistence:
    """Where the engine keeps its state (see flows.persistence)."""

    backend: typing.Any
    book: typing.Any
    flow_detail: typing.Any


def run(built, *, max_workers, policy=ROLLBACK, on_step=None,
        persistence=None, on_engine=None):
    """Run ``built.flow``; on failure revert it (``rollback``) or not.

    Never raises for a task failure: the outcome lists each failure with its
    resource, step and the cloud's message. With ``persistence`` the
    engine saves every atom's state and result there, and an engine loaded
    on a flow detail that already ran skips what finished (resume).
    ``on_engine(engine)`` is called before the run, so that the caller can
    ``suspend()`` it (stop at the next task boundary, resumable).
    """
    options = {}
    if persistence is not None:
        options = {"backend": persistence.backend,
                   "book": persistence.book,
                   "flow_detail": persistence.flow_detail}
    # Our own pool (the stdlib one): TaskFlow leaves executors it did not
    # create alone, and this one shuts down at once when idle.
    with futures.ThreadPoolExecutor(max_workers=max_workers) as executor:
        engine = taskflow.engines.load(
            built.flow, engine="parallel", executor=executor,
            never_resolve=(policy == KEEP), **options)
        if faults.armed():
            engine.atom_notifier.register("*", _crash_listener)
            engine.notifier.register(
                "*", _flow_crash_listener(built.operation))
        if on_step is not None:
            engine.atom_notifier.register("*",
                                          _step_listener(built, on_step))
        if on_engine is not None:
            on_engine(engine)
        try:
            engine.run()
        except Exception:  # noqa: BLE001 - explained from the storage
            failures = _explain(engine.storage.get_execute_failures(),
                                built.owners)
            LOG.debug("%s failed: %s", built.operation, failures,
                      exc_info=True)
            return RunOutcome(False, failures, built.revert_failures())
        suspended = engine.storage.get_flow_state() == states.SUSPENDED
    return RunOutcome(not suspended, [], built.revert_failures(),
                      suspended=suspended,
                      unmark_failures=built.unmark_failures())
