"""Is the owner of a protecting/deleting checkpoint alive?"""

import datetime
import os
import subprocess

from protection.checkpoint import owner as owners

NOW = datetime.datetime(2026, 12, 1, 3, 0, tzinfo=datetime.timezone.utc)


def _ago(seconds):
    return (NOW - datetime.timedelta(seconds=seconds)).isoformat()


def test_a_new_owner_is_this_process():
    owner = owners.new_owner("op-1", "2026-12-01T03:00:00+00:00")
    assert owner == {"operation_id": "op-1", "host": owners.this_host(),
                     "pid": os.getpid(),
                     "since": "2026-12-01T03:00:00+00:00"}
    assert owners.is_alive(owner, _ago(10 ** 6), timeout=1, now=NOW)


def test_same_host_is_decided_by_the_pid_not_the_clock():
    child = subprocess.Popen(["sleep", "60"])
    owner = {"host": owners.this_host(), "pid": child.pid}
    try:
        assert owners.is_alive(owner, _ago(10 ** 6), timeout=1, now=NOW)
    finally:
        child.kill()
        child.wait()
    assert not owners.is_alive(owner, _ago(0), timeout=3600, now=NOW)


def test_another_host_is_alive_until_its_index_is_older_than_the_timeout():
    owner = {"host": "elsewhere.invalid", "pid": os.getpid()}
    assert owners.is_alive(owner, _ago(59), timeout=60, now=NOW)
    assert not owners.is_alive(owner, _ago(61), timeout=60, now=NOW)
    assert not owners.is_alive(owner, "not a time", timeout=60, now=NOW)


def test_no_owner_or_a_bad_pid_is_dead():
    assert not owners.is_alive(None, _ago(0), now=NOW)
    assert not owners.pid_alive("x")
    assert not owners.pid_alive(2 ** 40)


def test_describe_names_operation_pid_and_host():
    assert owners.describe({"operation_id": "op", "pid": 7, "host": "h"}) \
        == "operation op (pid 7 on h)"
    assert owners.describe(None) == "an unknown process"
