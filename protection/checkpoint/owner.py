"""Who owns a checkpoint that is being written or deleted, and is it alive.

The index of a ``protecting`` or ``deleting`` checkpoint records its owner::

    "owner": {"operation_id": "...", "host": "node-1", "pid": 4242,
              "since": "2026-12-01T03:00:00+00:00"}

An owner is alive when:

* it runs on this host (same ``socket.gethostname()``): its pid exists
  (``os.kill(pid, 0)``; a pid that exists but belongs to another user
  counts as alive);
* it runs on another host: we cannot look at its processes, so it counts as
  alive until the index's ``updated_at`` is older than ``owner_timeout``
  seconds (``[bank] owner_timeout``). Set that longer than your longest
  protect or delete, or longer than the heartbeat interval of the
  operation that keeps ``updated_at`` fresh.

While a protect or delete runs, its checkpoint's ``keep_alive`` (a
:class:`protection.heartbeat.Heartbeat`) rewrites the index
(``updated_at``) every ``min(60, owner_timeout / 4)`` seconds, as long as
the checkpoint is still its own, so a long operation on another host is
not taken for dead.

A pid reused by an unrelated process after a crash keeps the owner
"alive": the safe side (``delete --force`` is refused, the message names
host and pid so an operator can check).
"""

import datetime
import os
import socket

from protection import heartbeat

DEFAULT_OWNER_TIMEOUT = 3600.0
MAX_HEARTBEAT_INTERVAL = 60.0


def this_host():
    return socket.gethostname()


def new_owner(operation_id, since):
    return {"operation_id": operation_id, "host": this_host(),
            "pid": os.getpid(), "since": since}


# Kept under its old name: the same-host check of the one owner rule.
pid_alive = heartbeat.pid_alive


def _age_seconds(timestamp, now=None):
    try:
        then = datetime.datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return float("inf")
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - then).total_seconds()


def is_alive(owner, updated_at, timeout=DEFAULT_OWNER_TIMEOUT, now=None):
    """Whether the process that owns a checkpoint may still be running."""
    if not isinstance(owner, dict):
        return False
    return heartbeat.owner_alive(owner.get("host"), owner.get("pid"),
                                 _age_seconds(updated_at, now), timeout,
                                 this_host())


def describe(owner):
    if not isinstance(owner, dict):
        return "an unknown process"
    return (f"operation {owner.get('operation_id')} (pid {owner.get('pid')}"
            f" on {owner.get('host')})")


def heartbeat_interval(timeout):
    return max(0.05, min(MAX_HEARTBEAT_INTERVAL, timeout / 4))
