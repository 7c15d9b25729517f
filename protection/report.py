"""What an operation reports: per-resource status and failure reasons."""

import dataclasses
import typing

from protection import progress as progress_mod
from protection.resource import Resource, key_str


@dataclasses.dataclass(frozen=True)
class Failure:
    resource: typing.Optional[Resource]
    step: str
    message: str

    def __str__(self):
        where = f"{self.resource.type} {self.resource.id}" \
            if self.resource is not None else "operation"
        return f"{where}: step {self.step}: {self.message}"

    def to_dict(self):
        return {"resource": key_str(self.resource.key)
                if self.resource is not None else None,
                "step": self.step, "message": self.message}


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
