"""Bounded waits: every wait ends, with a message saying for what."""

import time

from tempest.lib import exceptions as lib_exc


def wait_for(check, timeout, what, interval=1.0):
    """Call ``check()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise lib_exc.TimeoutException(
                f"waited {timeout} s for {what}")
        time.sleep(interval)


def wait_status(get, status, timeout, what, failures=("ERROR", "error")):
    """Wait until ``get().status`` is ``status``; fail at once on a
    failure status."""
    def check():
        current = get()
        if current.status in failures:
            raise AssertionError(f"{what} went {current.status}")
        return current if current.status == status else None
    return wait_for(check, timeout, f"{what} to be {status}")


def wait_gone(get, timeout, what, not_found):
    """Wait until ``get()`` raises ``not_found``."""
    def check():
        try:
            get()
        except not_found:
            return True
        return False
    wait_for(check, timeout, f"{what} to be gone")
