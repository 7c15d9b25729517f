"""Progress of an operation, per resource, for whoever is watching.

The flows report each resource's state changes; plugins add steps and byte
counts through ``ctx.progress``. Listeners (the CLI's terminal printer, a
service's status API, tests) receive :class:`ProgressEvent` objects.
"""

import dataclasses
import threading
import typing

from protection.model.resource import Resource

STARTED = "started"          # an operation began (message: its id)
RUNNING = "running"
DONE = "done"
FAILED = "failed"
REVERTING = "reverting"
REVERTED = "reverted"
STEP = "step"
BYTES = "bytes"


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    operation: str
    resource: typing.Optional[Resource]
    state: str
    step: typing.Optional[str] = None
    message: typing.Optional[str] = None
    done: typing.Optional[int] = None
    total: typing.Optional[int] = None


class Progress:
    """Fan progress events out to listeners; safe to call from any thread."""

    def __init__(self, listeners=()):
        self._listeners = list(listeners)
        self._lock = threading.Lock()

    def add_listener(self, listener):
        self._listeners.append(listener)

    def emit(self, event):
        with self._lock:
            for listener in self._listeners:
                listener(event)

    def for_resource(self, operation, resource):
        return ResourceProgress(self, operation, resource)


class ResourceProgress:
    """What plugin tasks call: ``ctx.progress.step()`` / ``.bytes()``."""

    def __init__(self, progress, operation, resource):
        self._progress = progress
        self.operation = operation
        self.resource = resource

    def state(self, state, step=None, message=None):
        self._progress.emit(ProgressEvent(self.operation, self.resource,
                                          state, step=step, message=message))

    def step(self, step, message=None):
        self.state(STEP, step=step, message=message)

    # What the framework's marker tasks (flows.atoms) report.
    def running(self):
        self.state(RUNNING)

    def done(self):
        self.state(DONE)

    def reverting(self):
        self.state(REVERTING)

    def reverted(self):
        self.state(REVERTED)

    def bytes(self, done, total=None, step=None):
        self._progress.emit(ProgressEvent(self.operation, self.resource,
                                          BYTES, step=step, done=done,
                                          total=total))
