"""Run an assembled flow with TaskFlow's parallel engine; explain failures."""

from concurrent import futures
import dataclasses
import logging
import typing

from openstack import exceptions as sdk_exceptions
import taskflow.engines
from taskflow import states

from flows import contract
from flows.contract import KEEP
from flows.contract import POLICIES  # noqa: F401 - part of this API
from flows.contract import ROLLBACK

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Failure:
    """One step that failed: which resource, which step, the cloud's words."""

    resource: typing.Any          # the Resource, or None for the operation
    step: str
    message: str

    def __str__(self):
        where = f"{self.resource.type} {self.resource.id}" \
            if self.resource is not None else "operation"
        return f"{where}: step {self.step}: {self.message}"

    def to_dict(self):
        return {"resource": contract.resource_label(self.resource)
                if self.resource is not None else None,
                "step": self.step, "message": self.message}


@dataclasses.dataclass
class RunOutcome:
    succeeded: bool
    failures: list            # [Failure] from execute
    revert_failures: list     # [Failure] from revert (rollback incomplete)


def _message(failure):
    """The cloud's own words: for an API error, its message and HTTP code
    rather than the client's wrapper text with the URL."""
    exc = failure.exception
    if isinstance(exc, sdk_exceptions.HttpException) and exc.details:
        return f"{exc.details} (HTTP {exc.status_code})"
    text = str(exc) if exc is not None else failure.exception_str
    return text or failure.exception_type_names[0]


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


def run(built, *, max_workers, policy=ROLLBACK, on_step=None):
    """Run ``built.flow``; on failure revert it (``rollback``) or not.

    Never raises for a task failure: the outcome lists each failure with its
    resource, step and the cloud's message.
    """
    # Our own pool (the stdlib one): TaskFlow leaves executors it did not
    # create alone, and this one shuts down at once when idle.
    with futures.ThreadPoolExecutor(max_workers=max_workers) as executor:
        engine = taskflow.engines.load(
            built.flow, engine="parallel", executor=executor,
            never_resolve=(policy == KEEP))
        if on_step is not None:
            engine.atom_notifier.register("*",
                                          _step_listener(built, on_step))
        try:
            engine.run()
        except Exception:  # noqa: BLE001 - explained from the storage
            failures = _explain(engine.storage.get_execute_failures(),
                                built.owners)
            revert_failures = _explain(engine.storage.get_revert_failures(),
                                       built.owners)
            LOG.debug("%s failed: %s", built.operation, failures,
                      exc_info=True)
            return RunOutcome(False, failures, revert_failures)
    return RunOutcome(True, [], [])
