"""What an operation reports: per-resource status and failure reasons."""

from flows.engine import Failure
from protection import progress as progress_mod

__all__ = ["Failure", "StatusBoard"]


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
