"""The one heartbeat, beaten by running operations and by checkpoints
being written (protection.heartbeat)."""

import os
import threading

from protection import heartbeat
from protection.heartbeat import Heartbeat


def test_beats_every_interval_while_the_block_runs():
    beats = threading.Semaphore(0)
    with Heartbeat(beats.release, 0.01):
        for _ in range(3):
            assert beats.acquire(timeout=10)


def test_a_failed_beat_is_logged_and_the_next_one_comes(caplog):
    calls = []
    again = threading.Event()

    def beat():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("database gone")
        again.set()
    with Heartbeat(beat, 0.01, name="operation op-1 heartbeat"):
        assert again.wait(10)
    assert "operation op-1 heartbeat failed: database gone" in caplog.text


def test_no_beat_runs_after_the_block_ends():
    """What follows the block (a checkpoint's commit) rewrites what a beat
    writes: the block ends only once a beat under way is done."""
    started, release = threading.Event(), threading.Event()
    finished = []

    def beat():
        started.set()
        release.wait(10)
        finished.append(1)
    heartbeat = Heartbeat(beat, 0.01)
    with heartbeat:
        assert started.wait(10)
        threading.Timer(0.05, release.set).start()
    assert finished
    count = len(finished)
    threading.Event().wait(0.05)
    assert len(finished) == count
    assert not heartbeat._thread.is_alive()


def test_one_owner_rule_pid_on_this_host_beat_age_elsewhere():
    """The rule both an operation's and a checkpoint's owner are judged
    by (protection.heartbeat.owner_alive)."""
    here = "node-1"
    assert heartbeat.owner_alive(here, os.getpid(), 10 ** 6, 1, here)
    assert not heartbeat.owner_alive(here, 2 ** 40, 0, 3600, here)
    assert heartbeat.owner_alive("node-2", 2 ** 40, 59, 60, here)
    assert not heartbeat.owner_alive("node-2", os.getpid(), 61, 60, here)
    assert not heartbeat.pid_alive("x")
