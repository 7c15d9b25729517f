"""Where an operation spent its time: seconds per resource and API calls
per service, reported in the result (``-f json``: ``timings``,
``api_calls``) so that an operator can see what made a restore slow.
"""

import collections
import contextlib
import threading
import time

from protection.model import progress as progress_mod
from protection.model.resource import key_str


class ResourceTimings:
    """A progress listener: each resource's seconds from its main flow's
    start (``running``) to its end (``done``)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._started = {}
        self._seconds = {}
        self._lock = threading.Lock()

    def __call__(self, event):
        if event.resource is None:
            return
        key = event.resource.key
        with self._lock:
            if event.state == progress_mod.RUNNING:
                self._started.setdefault(key, self._clock())
            elif event.state == progress_mod.DONE and key in self._started:
                self._seconds[key] = self._clock() - self._started[key]

    def as_dict(self):
        """``{"TYPE#ID": seconds}`` of the resources that finished."""
        with self._lock:
            return {key_str(key): round(seconds, 2)
                    for key, seconds in sorted(self._seconds.items())}


UNTYPED = "auth+discovery"


@contextlib.contextmanager
def api_calls(conn):
    """Count the HTTP requests made through ``conn``'s keystoneauth session
    meanwhile, per service type (``auth+discovery`` for what the session
    sends without one: tokens and API version discovery); yields the live
    counter.

    A connection without a session (a test's fake cloud) counts nothing.
    """
    counts = collections.Counter()
    session = getattr(conn, "session", None)
    request = getattr(session, "request", None)
    if request is None:
        yield counts
        return
    lock = threading.Lock()
    shadowed = "request" in vars(session)

    def counting(*args, **kwargs):
        service = (kwargs.get("endpoint_filter") or {}).get(
            "service_type") or UNTYPED
        with lock:
            counts[service] += 1
        return request(*args, **kwargs)

    session.request = counting
    try:
        yield counts
    finally:
        if shadowed:
            session.request = request
        else:
            del session.request     # the class's own method again
