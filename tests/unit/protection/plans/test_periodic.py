"""The conductor's periodic hook that runs due plans
(protection.plans.periodic)."""

import threading

import mock

from protection.plans import periodic


def test_due_plans_run_in_a_thread_one_look_at_a_time():
    """The conductor's plan hook never holds up the ticker, and a look
    still running its plans is not started twice."""
    entered, release = threading.Event(), threading.Event()
    calls = []

    def run_due(service, connect):
        calls.append((service, connect))
        entered.set()
        release.wait(10)
        return []

    hook = periodic.DuePlans("service", "connect")
    with mock.patch.object(periodic.schedule, "run_due", run_due):
        hook()                      # returns at once: runs in a thread
        assert entered.wait(10)
        hook()                      # still busy: skipped
        release.set()
        for _ in range(100):
            if hook._busy.acquire(blocking=False):
                hook._busy.release()
                break
            threading.Event().wait(0.05)
        entered.clear()
        release.clear()
        release.set()
        hook()
        assert entered.wait(10)
    assert calls == [("service", "connect")] * 2
