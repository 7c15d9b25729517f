"""Fenced owners: rivals for one interrupted operation, in real processes.

A restore is killed half way (STACKVAULT_CRASH_AT, like kill -9) in a
child process; then two more children, started together, both try to
take it over: two ``operation resume``, or a resume and a conductor's job
worker. Each runs the real service, TaskFlow engines, filesystem bank and
SQLite persistence against the JSON-file cloud of tests/file_cloud.py,
whose every create is appended to a log by whichever process made it.
Exactly one rival may run the operation, and every original is restored
exactly once.
"""

import collections
import os
import subprocess
import sys
import time

import pytest

from flows import faults
from protection.operations import flow_factory
from protection.operations import store as ops
from tests.fakes import fake_cloud
from tests.fakes import file_cloud

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ORIGINALS = {"img", "net", "vol-web", "vol-db", "web", "db"}
ROUNDS = 3


@pytest.fixture
def world(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    paths = {"cloud": str(tmp_path / "cloud.json"),
             "bank": str(tmp_path / "bank"), "data": str(data)}
    file_cloud.app_cloud(paths["cloud"])
    return paths


def _argv(world, *args):
    return [sys.executable, "-m", "tests.fakes.file_cloud", world["cloud"],
            world["bank"], world["data"], *args]


def _interrupted_restore(world):
    """A restore killed after its first creates: its operation id."""
    service = file_cloud.service(world["bank"])
    checkpoint_id = service.protect(file_cloud.FileCloud(world["cloud"]),
                                    "app", fake_cloud.ROOTS
                                    ).checkpoint_id
    env = dict(os.environ, PYTHONPATH=ROOT,
               STACKVAULT_CRASH_AT="Test::Volume#vol-web/CreateRecord:"
                                   "after_call")
    proc = subprocess.run(_argv(world, "restore", checkpoint_id), env=env,
                          capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == faults.EXIT_CODE, proc.stderr
    [op] = [o for o in service.list_operations() if o.kind == "restore"]
    assert op.shown_status == ops.INTERRUPTED
    return op.id


def _race(world, operation_id, rivals):
    """Start every rival at once; their outputs, in order."""
    env = dict(os.environ, PYTHONPATH=ROOT, STACKVAULT_TEST_SLOW="0.2",
               STACKVAULT_TEST_START=str(time.time() + 4.0))
    env.pop("STACKVAULT_CRASH_AT", None)
    started = [subprocess.Popen(_argv(world, rival, operation_id), env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT)
               for rival in rivals]
    outputs = []
    for proc in started:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1])
    return outputs


def _ran(output):
    """Whether a rival's last line says it ran the operation."""
    return output.startswith("{") or output == "consume"


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("rivals", [("resume", "resume"),
                                    ("resume", "conduct")])
def test_rivals_for_one_interrupted_restore_run_it_once(world, rivals,
                                                        round_):
    operation_id = _interrupted_restore(world)
    outputs = _race(world, operation_id, rivals)
    assert [_ran(o) for o in outputs].count(True) == 1, outputs
    for output in outputs:
        if not _ran(output):    # refused: the other one owns it
            assert output.startswith("busy:") or output == "release", \
                outputs
    names = collections.Counter(name for _pid, _id, name in
                                file_cloud.creates(world["cloud"]))
    assert names == {name: 1 for name in ORIGINALS}, names
    service = file_cloud.service(world["bank"])
    op = service.operation(operation_id)
    assert op.status == ops.SUCCEEDED
    assert op.generation >= 1


def test_a_given_up_restore_can_still_be_aborted_to_nothing(world):
    """A conductor that gives an operation up ends it ``failed``; what it
    created is undone by an abort afterwards (it was refused: 'already
    ended')."""
    operation_id = _interrupted_restore(world)
    service = file_cloud.service(world["bank"])
    owned = service.stores.operations.take_over(operation_id)
    service.give_up(owned, "given up after 3 attempts by conductors")
    assert service.operation(operation_id).status == ops.FAILED
    assert file_cloud.creates(world["cloud"])       # it did create

    result = service.abort(operation_id, lambda _name: file_cloud.FileCloud(
        world["cloud"]))
    assert result.status == "aborted", result.to_dict()
    assert file_cloud.FileCloud(world["cloud"]).created() == []
    assert service.operation(operation_id).status == ops.ABORTED


def test_an_operation_that_ended_otherwise_is_not_reopened(world):
    operation_id = _interrupted_restore(world)
    service = file_cloud.service(world["bank"])
    connect = lambda _name: file_cloud.FileCloud(world["cloud"])  # noqa
    assert service.resume(operation_id, connect).ok
    with pytest.raises(ops.OperationBusy, match="already ended"):
        service.abort(operation_id, connect)


OWNER_TIMEOUT = 4.0     # seconds; the fence's bound is half of it


def _on_host(host, **extra):
    """A child's environment: its own [persistence] host name (so the
    other is judged by heartbeat, as on two machines) and a short
    owner timeout."""
    return dict(os.environ, PYTHONPATH=ROOT, OS_PERSISTENCE__HOST=host,
                OS_PERSISTENCE__OWNER_TIMEOUT=str(OWNER_TIMEOUT), **extra)


def _wait(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_database_outage_stops_the_runner_and_another_host_finishes(
        world, tmp_path):
    """The database goes away for the process running a restore, for
    longer than owner_timeout: that process stops at its next task
    boundary (it cannot prove it owns the operation) without waiting to
    be told; a process on another host takes the operation over once
    the heartbeat is older than owner_timeout and finishes it; every
    original is restored once (what the first made in its last step is
    found by its mark)."""
    service = file_cloud.service(world["bank"])
    checkpoint_id = service.protect(file_cloud.FileCloud(world["cloud"]),
                                    "app", fake_cloud.ROOTS
                                    ).checkpoint_id
    down = str(tmp_path / "db-down")
    first = subprocess.Popen(
        _argv(world, "restore", checkpoint_id), cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_on_host("host-a", STACKVAULT_TEST_SLOW="0.3",
                     STACKVAULT_TEST_DB_DOWN=down))
    _wait(lambda: file_cloud.creates(world["cloud"]), "a first create")
    open(down, "w").close()                          # the outage starts
    outage = time.monotonic()
    _out, err = first.communicate(timeout=120)
    stopped_after = time.monotonic() - outage
    assert first.returncode != 0
    assert "is no longer this process's" in err, err
    # It stopped by itself at a task boundary: within a second when its
    # next write came first, by the heartbeat bound when a step in flight
    # ran on (seconds on a loaded machine); never hung on the database.
    assert stopped_after < 3 * OWNER_TIMEOUT, stopped_after
    creates_before = len(file_cloud.creates(world["cloud"]))
    assert creates_before < len(ORIGINALS)
    [op] = [o for o in service.list_operations() if o.kind == "restore"]
    assert op.owner_host == "host-a" and op.generation == 0

    # The other host may take over once no heartbeat came for
    # owner_timeout.
    time.sleep(max(0.0, OWNER_TIMEOUT + 0.5 - (time.monotonic() - outage)))
    second = subprocess.run(
        _argv(world, "resume", op.id), cwd=ROOT, text=True,
        capture_output=True, timeout=120,
        env=_on_host("host-b", STACKVAULT_TEST_SLOW="0.05"))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1].startswith("{"), \
        second.stdout
    names = collections.Counter(name for _pid, _id, name in
                                file_cloud.creates(world["cloud"]))
    assert names == {name: 1 for name in ORIGINALS}, names
    finished = service.operation(op.id)
    assert (finished.status, finished.owner_host, finished.generation) == \
        (ops.SUCCEEDED, "host-b", 1)
    print(f"fencing outage: first runner stopped {stopped_after:.1f} s "
          f"after the outage began, {creates_before} of {len(ORIGINALS)} "
          "creates done; the other host finished it")


def test_the_fences_bound_counts_from_the_runs_start(service, cloud,
                                                     monkeypatch):
    """Building and recording the flow (TaskFlow migrating a new MariaDB
    database, seconds) may outlast half of owner_timeout: that is not a
    silent heartbeat, and the run must not stop before its first task."""
    service.stores.operations.owner_timeout = 1.0       # bound 0.5 s
    recorded = flow_factory.record

    def slow_record(*args, **kwargs):
        time.sleep(0.8)
        return recorded(*args, **kwargs)
    monkeypatch.setattr(flow_factory, "record", slow_record)
    result = service.protect(cloud, "app", fake_cloud.ROOTS)
    assert result.status == "success", result.to_dict()
