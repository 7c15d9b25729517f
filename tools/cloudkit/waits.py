"""Bounded waits of the fullstack tests, the demo and the benchmarks.

Deliberately not protection.plugin.wait: a test must not rely on the code it
tests to tell whether the cloud reached a state.
"""

import time

DEFAULT_TIMEOUT = 300


def wait_for(
    predicate, timeout=DEFAULT_TIMEOUT, interval=1.0, what="condition"
):
    """Poll ``predicate()`` until it returns a truthy value; bounded."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                "timed out after %ss waiting for %s" % (timeout, what)
            )
        time.sleep(interval)


def wait_status(
    fetch,
    status,
    failures=("error",),
    timeout=DEFAULT_TIMEOUT,
    interval=1.0,
    what="resource",
):
    """Wait until ``fetch().status`` is ``status``; fail fast on
    ``failures``."""
    seen = {}

    def check():
        res = fetch()
        seen["status"] = res.status
        if (res.status or "").lower() in [f.lower() for f in failures]:
            raise AssertionError("%s went to %s" % (what, res.status))
        return res if res.status == status else None

    try:
        return wait_for(
            check, timeout, interval, "%s to be %s" % (what, status)
        )
    except AssertionError as exc:
        raise AssertionError(
            "%s (last status %s)" % (exc, seen.get("status"))
        ) from None


def wait_gone(fetch, timeout=DEFAULT_TIMEOUT, interval=1.0, what="resource"):
    """Wait until ``fetch()`` raises NotFoundException or returns None."""
    from openstack import exceptions

    def gone():
        try:
            return fetch() is None
        except exceptions.NotFoundException:
            return True

    return wait_for(gone, timeout, interval, "%s to be deleted" % what)
