"""Fencing: a runner acts on its operation only while it provably owns it.

A runner owns its operation at one *generation* (the fencing token of
:mod:`protection.operations.store`, bumped by every change of owner). Two
things end that ownership without the runner being told:

- another process takes the operation over (a ``resume`` racing a
  conductor, or a process on another host that saw no heartbeat for
  ``owner_timeout`` seconds): the generation moves;
- the database stops answering: heartbeats fail, and after
  ``owner_timeout`` seconds another host may take over; the runner cannot
  know whether one did.

:class:`Fence` beats the operation's heartbeat with the generation (a
moved generation is seen at the next beat) and counts how long beats have
failed. Its :meth:`Fence.check` is asked before every write TaskFlow makes
to the operation's persisted flow (:class:`FencedBackend`): an atom is
marked RUNNING in that flow before it runs, so a task never starts once
the generation has moved or beats have failed for longer than
:attr:`Fence.bound` (half of ``owner_timeout``, so a runner stops well
before another host may start). The refused write stops the engine at
that task boundary, and nothing the stale runner does afterwards reaches
the flow the new owner runs from.
"""

import logging
import threading
import time

from protection.operations import store as ops

LOG = logging.getLogger(__name__)

MAX_BEAT_INTERVAL = 5.0   # seconds between two beats of a running operation


def beat_interval(owner_timeout):
    """Seconds between beats: several beats fit in the fence's bound."""
    return min(MAX_BEAT_INTERVAL, owner_timeout / 6.0)


class Fence:
    """This process's claim on one operation at one generation."""

    def __init__(self, store, operation_id, generation, owner_timeout,
                 clock=time.monotonic):
        self.store = store
        self.operation_id = operation_id
        self.generation = generation
        self.bound = owner_timeout / 2.0
        self.clock = clock
        self._last_beat = clock()
        self._lost = None
        self._lock = threading.Lock()

    @property
    def tripped(self):
        """Why the fence stopped the run (``None``: it did not)."""
        return self._lost

    def _trip(self, reason):
        with self._lock:
            if self._lost is None:
                self._lost = reason
                LOG.warning("operation %s: stopping at the next task "
                            "boundary: %s", self.operation_id, reason)

    def beat(self):
        """One heartbeat carrying the generation (the Heartbeat's call);
        a moved generation trips the fence, a failed write is counted."""
        try:
            self.store.heartbeat(self.operation_id, self.generation)
        except ops.OwnershipLost as exc:
            self._trip(str(exc))
            raise
        self._last_beat = self.clock()

    def _silent_for(self):
        return self.clock() - self._last_beat

    def check(self):
        """Raise OwnershipLost unless this process still owns the
        operation: not tripped, a heartbeat written within the bound, and
        the generation unmoved in the database."""
        if self._lost is None and self._silent_for() > self.bound:
            self._trip(f"no heartbeat could be written for "
                       f"{self._silent_for():.0f} s (bound {self.bound:.0f}"
                       " s): another process may own it by now")
        if self._lost is not None:
            raise ops.OwnershipLost(self.operation_id, self._lost)
        try:
            self.store.check_generation(self.operation_id, self.generation)
        except ops.OwnershipLost as exc:
            self._trip(str(exc))
            raise
        except Exception as exc:  # noqa: BLE001 - the database is away
            # Ownership cannot be proven: stop here, resumable, rather
            # than let the write fail the operation.
            self._trip(f"the operations database did not answer: "
                       f"{type(exc).__name__}: {exc}")
            raise ops.OwnershipLost(self.operation_id,
                                    self._lost) from exc


# What TaskFlow's storage writes through a backend connection.
_WRITES = ("save_logbook", "update_flow_details", "update_atom_details")


class FencedConnection:
    """A TaskFlow persistence connection whose writes ask the fence
    first; everything else is the wrapped connection's."""

    def __init__(self, conn, fence):
        self._conn = conn
        self._fence = fence

    def __getattr__(self, name):
        found = getattr(self._conn, name)
        if name not in _WRITES:
            return found

        def fenced(*args, **kwargs):
            self._fence.check()
            return found(*args, **kwargs)
        return fenced


class FencedBackend:
    """A TaskFlow persistence backend whose connections are fenced; the
    engine of one run is loaded on it."""

    def __init__(self, backend, fence):
        self._backend = backend
        self._fence = fence

    def get_connection(self):
        return FencedConnection(self._backend.get_connection(), self._fence)

    def __getattr__(self, name):
        return getattr(self._backend, name)
