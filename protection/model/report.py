"""What an operation reports: per-resource status and failure reasons."""

import dataclasses
import typing

from flows import contract
from flows.failure import Failure
from protection.model import progress as progress_mod

__all__ = ["Failure", "OperationResult", "StatusBoard"]


@dataclasses.dataclass
class OperationResult:
    """The outcome of protect, restore, delete or verify."""

    operation: str
    status: str                       # success | failed | aborted
    checkpoint_id: typing.Optional[str] = None
    resources: dict = dataclasses.field(default_factory=dict)
    failures: list = dataclasses.field(default_factory=list)
    restored: dict = dataclasses.field(default_factory=dict)
    policy: typing.Optional[str] = None
    left_behind: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    rollback_failures: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    # restore: {step: id} of restored objects whose marks stayed on
    still_marked: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    operation_id: typing.Optional[str] = None
    timings: dict = dataclasses.field(default_factory=dict)   # key -> s
    api_calls: dict = dataclasses.field(default_factory=dict)  # service -> n

    @property
    def ok(self):
        return self.status == "success"

    def to_dict(self):
        data = {
            "operation": self.operation,
            "operation_id": self.operation_id,
            "status": self.status,
            "checkpoint_id": self.checkpoint_id,
            "resources": self.resources,
            "failures": [f.to_dict() for f in self.failures],
            "seconds": round(self.seconds, 2),
        }
        if self.operation == contract.RESTORE:
            data["restored"] = self.restored
            data["policy"] = self.policy
        if self.operation == contract.RESTORE or self.left_behind:
            data["left_behind"] = self.left_behind
        if self.operation == contract.VERIFY:
            data["problems"] = self.problems
        if self.timings:
            data["timings"] = self.timings
        if self.api_calls:
            data["api_calls"] = self.api_calls
        if self.still_marked:
            data["still_marked"] = self.still_marked
        if self.warnings:
            data["warnings"] = self.warnings
        if self.rollback_failures:
            data["rollback_failures"] = [f.to_dict()
                                         for f in self.rollback_failures]
        return data


class StatusBoard:
    """A progress listener that remembers each resource's last state."""

    def __init__(self):
        self.states = {}
        self.bytes = {}

    def __call__(self, event):
        if event.resource is None:
            return
        key = event.resource.key
        if event.state in (progress_mod.RUNNING, progress_mod.DONE,
                           progress_mod.FAILED, progress_mod.REVERTING,
                           progress_mod.REVERTED):
            if self.states.get(key) == progress_mod.FAILED and \
                    event.state == progress_mod.REVERTING:
                return
            self.states[key] = event.state
        elif event.state == progress_mod.BYTES:
            self.bytes[key] = event.done

    def status_of(self, resource, default="pending"):
        return self.states.get(resource.key, default)
