"""SIGINT/SIGTERM stop running operations from a thread of their own,
never inside the signal handler (protection.operations.runner.handle_signals):
the handler interrupts the main thread anywhere, e.g. in the middle of a SQLite
write that the stop's own write would then wait for."""

import os
import signal
import threading

from protection.operations import runner as runner_mod


def _runner():
    return runner_mod.Runner(conf=None, registry=None, progress=None,
                             stores=None, timeouts=None)


def test_the_stop_runs_on_another_thread_and_is_over_after_the_block():
    runner = _runner()
    seen = []
    handler_returned = threading.Event()

    def interrupt():
        # Runs only once the handler has returned to the main thread.
        assert handler_returned.wait(5)
        seen.append(threading.current_thread().name)

    runner.interrupt = interrupt
    with runner.handle_signals():
        os.kill(os.getpid(), signal.SIGINT)
        handler_returned.set()
    assert seen == ["stackvault-stop"]


def test_the_stop_waits_for_what_the_main_thread_holds():
    """A lock the main thread holds when the signal comes (here: the
    runner's own, which the stop needs) does not block the handler: the
    main thread goes on at once, the stop runs once the lock is free."""
    runner = _runner()
    returned = threading.Event()
    seen_at_release = []

    def release():
        seen_at_release.append(returned.is_set())
        runner._lock.release()

    with runner.handle_signals():
        runner._lock.acquire()
        # The old handler stopped inside the signal handler and blocked
        # the main thread here until this timer freed the lock.
        timer = threading.Timer(2.0, release)
        timer.start()
        os.kill(os.getpid(), signal.SIGINT)
        returned.set()
        timer.join()
    assert seen_at_release == [True]
    assert runner._interrupted is False     # reset for later runs


def test_previous_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with _runner().handle_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
