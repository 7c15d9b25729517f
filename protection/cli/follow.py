"""Following an operation that a conductor runs (``[jobboard] address``).

The CLI posted the operation (:mod:`protection.operations.jobboard`); it now
reads the shared persistence database until the operation ends: its steps from
TaskFlow's saved atom states (``TYPE#ID/step`` names), turned into the same
progress lines an embedded run prints, then the operation's saved result, which
is the embedded run's ``-f json`` result exactly.

Following is bounded while nothing runs the operation: as long as it is
``queued`` the follower looks at the jobboard every :data:`BOARD_LOOK`
seconds for the job naming it. A job the jobboard lost is posted again by
a running conductor's sweeper (:mod:`protection.operations.sweeper`)
within ``[jobboard] claim_expiry`` plus one sweep; the follower never
posts (the sweeper's contract: one re-poster, by compare-and-swap). When
no job has named the operation for longer than that (no conductor runs,
or none re-posted it), or the jobboard has not answered for as long, it
stops with one line saying what to do (:class:`NotFollowed`). A queued
operation whose job is on the board waits for a conductor as long as it
takes.
"""

import time

from flows import contract
from protection import exceptions
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import sweeper
from protection.model import progress as progress_mod
from protection.model.progress import ProgressEvent
from protection.model.resource import Resource

POLL = 1.0
BOARD_LOOK = 5.0    # seconds between two looks at the jobboard while queued


class NotFollowed(exceptions.StackvaultError):
    """Following stopped while the operation waits and nothing is about
    to run it; the message says what to do."""


def lost_after(conf):
    """Seconds a queued operation may go without a job naming it before
    the follower gives up: what a running conductor's sweeper needs to
    post it again (it waits ``claim_expiry``, and sweeps every
    SWEEP_INTERVAL), and one more look."""
    return conf.jobboard.claim_expiry + sweeper.SWEEP_INTERVAL + BOARD_LOOK


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


class BoardWatch:
    """Whether a queued operation, or one interrupted (its process died),
    still has a job on the jobboard; raises NotFollowed once it has had
    none, or the board has not answered, for ``limit`` seconds."""

    def __init__(self, service, operation_id, clock, limit):
        self.service = service
        self.operation_id = operation_id
        self.clock = clock
        self.limit = limit
        self._next = clock()
        self._missing_since = self._silent_since = None

    def reset(self):
        self._missing_since = self._silent_since = None

    def look(self, state=ops.QUEUED):
        """``state``: the operation's shown status (queued, interrupted)."""
        now = self.clock()
        if self.service.poster is None or now < self._next:
            return
        self._next = now + BOARD_LOOK
        try:
            named = self.operation_id in jobboard.operations_named(
                self.service.poster.connect())
        except Exception as exc:  # noqa: BLE001 - the board is away
            self._silent_since = self._silent_since or now
            if now - self._silent_since >= self.limit:
                raise NotFollowed(self._silent_line(now, exc, state)) \
                    from None
            return
        self._silent_since = None
        self._missing_since = None if named else \
            (self._missing_since or now)
        if not named and now - self._missing_since >= self.limit:
            raise NotFollowed(self._lost_line(now, state))

    def _board(self):
        conf = self.service.conf.jobboard
        return f"the {conf.backend} jobboard at {conf.address}"

    def _lost_line(self, now, state):
        op = self.operation_id
        why = ("the jobboard lost it and no conductor posted it again (is "
               "one running? a running conductor's sweeper posts it again)"
               if state == ops.QUEUED else
               "its process died and no conductor will take it up again "
               "(a sweeper posts only queued operations)")
        return (f"operation {op} is {self._shown(state)} and no job on "
                f"{self._board()} has named it for "
                f"{now - self._missing_since:.0f} s: {why}; run it here "
                f"with 'stackvault operation resume {op}' or drop it with "
                f"'stackvault operation abort {op}'")

    @staticmethod
    def _shown(state):
        return "still queued" if state == ops.QUEUED else "interrupted"

    def _silent_line(self, now, exc, state):
        op = self.operation_id
        return (f"operation {op} is {self._shown(state)} and "
                f"{self._board()} has "
                f"not answered for {now - self._silent_since:.0f} s "
                f"({type(exc).__name__}): follow it later with "
                f"'stackvault operation show {op}'")


def wait(service, posted, sleep=time.sleep, poll=POLL, clock=time.monotonic):
    """Follow ``posted`` (jobboard.Posted) until it ends; return its
    Operation row (final status and result). NotFollowed when it stays
    queued, or interrupted, with no job naming it, or no jobboard
    answering, for :func:`lost_after` seconds (a job still on the board
    is waited for: a conductor takes it, or takes it over once the claim
    of one that died expires)."""
    follower = Follower(service, posted.operation_id, posted.kind)
    watch = BoardWatch(service, posted.operation_id, clock,
                       lost_after(service.conf))
    while True:
        op = service.operation(posted.operation_id)
        follower.poll()
        if op.status in ops.FINAL:
            return op
        shown = op.shown_status
        if shown in (ops.QUEUED, ops.INTERRUPTED):
            watch.look(shown)
        else:
            watch.reset()
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
