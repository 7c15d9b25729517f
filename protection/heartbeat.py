"""A heartbeat: proof that the process running something is still alive.

Both things a process owns while it works beat one: a running operation
(its row's ``heartbeat`` column, :mod:`protection.operations.store`) and a
checkpoint being written or deleted (its index's ``updated_at``,
:mod:`protection.checkpoint.owner`). Another host cannot look at this
host's processes, so it takes an owner whose beat is older than a timeout
for dead. What a beat writes is the caller's; this only keeps time.

The rule that judges an owner by its beat is here too, once, for both
(:func:`owner_alive`): an owner recorded under this host's name is
checked by its pid, any other by the age of its last beat.

Imports nothing of stackvault's (the lowest layer, beside
:mod:`protection.loader`).
"""

import logging
import os
import threading

LOG = logging.getLogger(__name__)


def pid_alive(pid):
    """Whether process ``pid`` exists on this host (one that exists but
    belongs to another user counts as alive: the safe side)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True          # exists, someone else's
    except (OverflowError, ValueError, TypeError):
        return False
    return True


def owner_alive(host, pid, silent_for, timeout, here):
    """Whether the owner ``host``/``pid`` may still be running, judged
    from host ``here``: an owner recorded under the same host name by its
    pid (the clock says nothing about a process we can look at), one on
    another host until its last beat is ``timeout`` seconds old
    (``silent_for``: seconds since that beat)."""
    if host == here:
        return pid_alive(pid)
    return silent_for < timeout


class Heartbeat:
    """Call ``beat()`` every ``interval`` seconds while the block runs.

    A beat that fails is logged and retried at the next interval: one
    missed beat is harmless, the owner only counts as dead after a timeout
    several intervals long. The thread is a daemon and is joined when the
    block ends, so no beat overlaps what follows (a checkpoint's commit
    rewrites the same index a beat does).
    """

    def __init__(self, beat, interval, name="heartbeat"):
        self.beat = beat
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=name)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:   # noqa: BLE001 - keep beating
                LOG.warning("%s failed: %s", self.name, exc)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        return False
