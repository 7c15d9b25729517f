"""A datasource as a library: what changed between two polls, and polling
in a loop.

::

    from protection.datasources import polling

    for result in polling.poll_loop(source, interval=30, polls=10):
        ...

:func:`diff` compares two :class:`~protection.datasources.PollResult`\\ s
table by table; :func:`poll_loop` polls one datasource object every
``interval`` seconds, a bounded number of times or until it is stopped.
"""

import collections
import threading
import time


class TableDiff(collections.namedtuple("TableDiff",
                                       ["added", "removed", "changed"])):
    """How one table changed: ``added`` and ``removed`` rows, and
    ``changed`` ``(old row, new row)`` pairs (same key, other values)."""

    def __bool__(self):
        return bool(self.added or self.removed or self.changed)


def _keyed(rows, key):
    found = {}
    for row in rows:
        ident = tuple(row.get(c) for c in key) if key else \
            tuple(sorted(row.items()))
        found[ident] = row
    return found


def diff(old, new):
    """``{table: TableDiff}`` for every table of ``new`` or ``old`` that
    changed (tables that did not change are left out).

    Rows are matched by the columns ``new.keys`` gives for their table (a
    row whose key is in both polls with other values is ``changed``); a
    table without key columns matches whole rows, so a changed row is a
    removal plus an addition. A table that only one of the polls read
    counts as empty in the other: diff polls of the same tables.
    """
    changes = {}
    keys = dict(old.keys)
    keys.update(new.keys)
    for table in sorted(set(old.tables) | set(new.tables)):
        key = keys.get(table)
        before = _keyed(old.tables.get(table, ()), key)
        after = _keyed(new.tables.get(table, ()), key)
        found = TableDiff(
            [row for ident, row in after.items() if ident not in before],
            [row for ident, row in before.items() if ident not in after],
            [(before[ident], row) for ident, row in after.items()
             if ident in before and before[ident] != row])
        if found:
            changes[table] = found
    return changes


def poll_loop(source, interval, polls=None, stop=None, only=None,
              clock=time.monotonic):
    """Poll ``source`` every ``interval`` seconds; yield each
    :class:`~protection.datasources.PollResult`.

    Bounded: it ends after ``polls`` polls, or when ``stop`` (a
    :class:`threading.Event`) is set, whichever comes first; one of them
    must be given. The interval runs from the start of one poll to the
    start of the next (a poll longer than the interval is followed by the
    next at once); ``stop`` interrupts the wait. The same datasource
    object polls each time, so a failed call keeps the previous poll's
    rows (marked stale) and unchanged answers are reused.
    """
    if polls is None and stop is None:
        raise ValueError("poll_loop needs polls or stop (it must end)")
    if polls is not None and polls < 1:
        raise ValueError(f"polls must be at least 1, not {polls}")
    if interval < 0:
        raise ValueError(f"interval must not be negative, not {interval}")
    stop = stop or threading.Event()
    made = 0
    while not stop.is_set():
        started = clock()
        yield source.poll(only=only)
        made += 1
        if stop.is_set() or (polls is not None and made >= polls):
            return
        stop.wait(max(0.0, interval - (clock() - started)))
