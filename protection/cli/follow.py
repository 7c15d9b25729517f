"""Following an operation that a conductor runs (``[jobboard] address``).

The CLI posted the operation (:mod:`protection.operations.jobboard`); it now
reads the shared persistence database until the operation ends: its steps from
TaskFlow's saved atom states (``TYPE#ID/step`` names), turned into the same
progress lines an embedded run prints, then the operation's saved result, which
is the embedded run's ``-f json`` result exactly.
"""

import time

from flows import contract
from protection.operations import store as ops
from protection.model import progress as progress_mod
from protection.model.progress import ProgressEvent
from protection.model.resource import Resource

POLL = 1.0


def _event(kind, atom_name, state):
    """The progress event of one atom's state, or None. An atom seen
    first when it already ended still gets its line (polls are 1 s apart,
    many steps are shorter)."""
    owner, sep, step = atom_name.partition("/")
    rtype, hash_, rid = owner.partition("#")
    if not (sep and hash_) or step in contract.HOOKS:
        return None
    resource = Resource(rtype, rid)
    if state in ("FAILURE", "REVERT_FAILURE"):
        return ProgressEvent(kind, resource, progress_mod.FAILED, step=step)
    if state not in ("RUNNING", "SUCCESS"):
        return None
    if step == "start":
        return ProgressEvent(kind, resource, progress_mod.RUNNING)
    if step == "finish":
        return ProgressEvent(kind, resource, progress_mod.DONE) \
            if state == "SUCCESS" else None
    return ProgressEvent(kind, resource, progress_mod.STEP, step=step)


class Follower:
    """Emits progress for the atom states it has not seen yet."""

    def __init__(self, service, operation_id, kind):
        self.service = service
        self.operation_id = operation_id
        self.kind = kind
        self.shown = set()        # (atom name, event state) printed

    def poll(self):
        try:
            _book, detail = self.service.stores.flows.load(self.operation_id)
        except LookupError:
            return
        for atom in detail:
            event = _event(self.kind, atom.name, atom.state)
            if event is None or (atom.name, event.state) in self.shown:
                continue
            self.shown.add((atom.name, event.state))
            self.service.progress.emit(event)


def wait(service, posted, sleep=time.sleep, poll=POLL):
    """Follow ``posted`` (jobboard.Posted) until it ends; return its
    Operation row (final status and result)."""
    follower = Follower(service, posted.operation_id, posted.kind)
    while True:
        op = service.operation(posted.operation_id)
        follower.poll()
        if op.status in ops.FINAL:
            return op
        sleep(poll)


def failure_line(op):
    """The one line an embedded run prints when it fails."""
    failures = (op.result or {}).get("failures") or []
    if not failures:
        return f"{op.kind} {op.status}"
    first = failures[0]
    where = (first.get("resource") or "operation").replace("#", " ", 1)
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return (f"{op.kind} failed: {where}: step {first.get('step')}: "
            f"{first.get('message')}{more}")
