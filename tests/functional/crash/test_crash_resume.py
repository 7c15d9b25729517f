"""Operations killed at real task boundaries, then resumed or aborted.

Each case runs the operation in a child process (the real service,
TaskFlow engines, filesystem bank and SQLite persistence, against the
JSON-file fake cloud of tests/fakes/file_cloud.py) with
STACKVAULT_CRASH_AT, so the child dies with os._exit exactly there, like
kill -9. Then this process resumes or aborts the operation and checks the
cloud: every original restored exactly once (no duplicates), or nothing
left. Slow (a child process per case): marked ``crash``, so that
``-m "not crash"`` leaves them out of quick runs.
"""

import collections
import os
import subprocess
import sys

import pytest

from flows import faults
from protection import exceptions
from protection.checkpoint import store as cp
from protection.operations import store as ops
from tests.fakes import fake_cloud
from tests.fakes import file_cloud
from tests.fakes.paths import ROOT

pytestmark = pytest.mark.crash
ORIGINALS = {"img", "net", "vol-web", "vol-db", "web", "db"}


@pytest.fixture
def world(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    paths = {"cloud": str(tmp_path / "cloud.json"),
             "bank": str(tmp_path / "bank"), "data": str(data)}
    file_cloud.app_cloud(paths["cloud"])
    return paths


def _child(world, crash_at, operation, *args):
    env = dict(os.environ, STACKVAULT_CRASH_AT=crash_at, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "tests.fakes.file_cloud", world["cloud"],
         world["bank"], world["data"], operation, *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def _crashed(world, crash_at, operation, *args):
    proc = _child(world, crash_at, operation, *args)
    assert proc.returncode == faults.EXIT_CODE, proc.stderr
    assert "fault injected" in proc.stderr
    service = file_cloud.service(world["bank"])
    [op] = [o for o in service.list_operations() if o.kind == operation]
    assert op.shown_status == ops.INTERRUPTED
    return service, op


def _protected(world):
    service = file_cloud.service(world["bank"])
    cloud = file_cloud.FileCloud(world["cloud"])
    return service.protect(cloud, "app", fake_cloud.ROOTS)


def _restored_names(world):
    cloud = file_cloud.FileCloud(world["cloud"])
    return collections.Counter(cloud.records[r]["name"]
                               for r in cloud.created())


def _connect(world):
    return lambda _name: file_cloud.FileCloud(world["cloud"])


RESTORE_CRASHES = [
    "Test::Image#img/CreateRecord:before",
    "Test::Image#img/CreateRecord:after_call",
    "Test::Image#img/CreateRecord:after_save",
    "Test::Volume#vol-web/CreateRecord:after_call",
    "Test::Server#web/CreateRecord:before",
    "Test::Server#web/CreateRecord:after_call",
    "Test::Server#db/CreateRecord:after_save",
    "Test::Network#net/started:after_save",
    # the last stage: before it, and once the first object lost its marks
    "unmark:before",
    "Test::Volume#vol-web/CreateRecord:unmarked",
    # the whole flow done and saved, the restore not yet recorded
    "restore:after_save",
]


@pytest.mark.parametrize("crash_at", RESTORE_CRASHES)
def test_a_killed_restore_resumes_without_duplicates(world, crash_at):
    checkpoint_id = _protected(world).checkpoint_id
    service, op = _crashed(world, crash_at, "restore", checkpoint_id)
    result = service.resume(op.id, _connect(world))
    assert result.ok
    assert _restored_names(world) == {name: 1 for name in ORIGINALS}
    assert service.operation(op.id).status == ops.SUCCEEDED
    assert set(result.restored) == {
        f"{t}#{n}" for t, n in (
            ("Test::Image", "img"), ("Test::Network", "net"),
            ("Test::Volume", "vol-web"), ("Test::Volume", "vol-db"),
            ("Test::Server", "web"), ("Test::Server", "db"))}
    # the last stage finished: nothing keeps a mark, nothing is reported
    assert _marked(world) == []
    assert result.still_marked == {} and result.left_behind == {}


@pytest.mark.parametrize("crash_at", [
    "Test::Volume#vol-web/CreateRecord:after_call",
    "Test::Server#web/CreateRecord:after_save",
])
def test_a_killed_restore_aborts_to_nothing(world, crash_at):
    checkpoint_id = _protected(world).checkpoint_id
    service, op = _crashed(world, crash_at, "restore", checkpoint_id)
    assert _restored_names(world)          # it did create something
    result = service.abort(op.id, _connect(world))
    assert result.status == "aborted", result.to_dict()
    assert _restored_names(world) == {}
    assert service.operation(op.id).status == ops.ABORTED


def _marked(world):
    cloud = file_cloud.FileCloud(world["cloud"])
    return sorted(r for r in cloud.created()
                  if cloud.records[r].get("metadata"))


def test_an_abort_half_way_through_the_last_stage_leaves_the_unmarked(
        world):
    """Killed once vol-web's marks came off (others may have lost theirs
    alongside): the abort deletes what still proves to be its own, and
    leaves and reports what no longer does, never deleting it blind."""
    checkpoint_id = _protected(world).checkpoint_id
    service, op = _crashed(world, "Test::Volume#vol-web/CreateRecord:"
                           "unmarked", "restore", checkpoint_id)
    cloud = file_cloud.FileCloud(world["cloud"])
    unmarked = sorted(r for r in cloud.created()
                      if not cloud.records[r].get("metadata"))
    assert "vol-web" in {cloud.records[r]["name"] for r in unmarked}
    result = service.abort(op.id, _connect(world))
    cloud = file_cloud.FileCloud(world["cloud"])
    assert cloud.created() == unmarked       # the marked ones are gone
    assert result.status == "failed"
    assert sorted(result.left_behind.values()) == unmarked
    assert all(not k.startswith("unmarked:") for k in result.left_behind)
    assert any("took its marks off" in f.message
               for f in result.rollback_failures)
    assert {cloud.records[r]["name"] for r in ORIGINALS} == ORIGINALS


PLANTED = "Test::Volume#vol-web/CreateRecord"
NEVER_RAN = "Test::Server#web/CreateRecord"


def _killed_with_planted_ids(world):
    """vol-web's step killed after the cloud made its record, before
    the journal write; then the journal is made to name the project's
    own records (what anyone holding the database's password can do):
    vol-db for vol-web's step, db for the server web's (which never
    ran)."""
    checkpoint_id = _protected(world).checkpoint_id
    service, op = _crashed(world, f"{PLANTED}:after_call", "restore",
                           checkpoint_id)
    store = service.stores.operations
    store.record_created(op.id, PLANTED, "vol-db")
    store.record_created(op.id, NEVER_RAN, "db")
    return service, op


def test_an_abort_leaves_foreign_ids_planted_in_the_journal(world):
    """The step that was running runs again first (TaskFlow), finds its
    own record by its mark instead of adopting vol-db, and is reverted;
    the entry of the step that never ran is listed, not deleted."""
    service, op = _killed_with_planted_ids(world)
    result = service.abort(op.id, _connect(world))
    cloud = file_cloud.FileCloud(world["cloud"])
    assert set(ORIGINALS) <= set(cloud.records)    # vol-db, db still there
    assert cloud.created() == []     # the real vol-web: found by its mark
    assert result.status == "failed"
    assert result.left_behind == {NEVER_RAN: "db"}
    assert service.operation(op.id).status == ops.FAILED


def test_a_resumed_rollback_leaves_a_foreign_id_planted_in_the_journal(
        world):
    service, op = _killed_with_planted_ids(world)

    def failing_web(_name):
        cloud = file_cloud.FileCloud(world["cloud"])
        cloud.fail.add(("restore", "web"))
        return cloud
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.resume(op.id, failing_web)
    cloud = file_cloud.FileCloud(world["cloud"])
    assert set(ORIGINALS) <= set(cloud.records)
    assert cloud.created() == []
    # web's step failed before it created anything: its revert found the
    # planted db, which carries no mark: left, and reported
    result = caught.value.result
    assert result.left_behind == {NEVER_RAN: "db"}
    assert any("record db was not deleted" in f.message
               for f in result.rollback_failures)


def test_resume_is_refused_while_the_owner_lives(world):
    checkpoint_id = _protected(world).checkpoint_id
    service = file_cloud.service(world["bank"])
    op = service.stores.operations.create("restore", checkpoint_id, {})
    with pytest.raises(ops.OperationBusy, match="still running"):
        service.resume(op.id, _connect(world))


@pytest.mark.parametrize("crash_at", [
    "Test::Volume#vol-web/SaveRecord:before",
    "Test::Server#db/SaveRecord:after_save",
    "protect:after_save",        # every atom done, nothing committed
])
def test_a_killed_protect_resumes_to_an_available_checkpoint(world,
                                                              crash_at):
    service, op = _crashed(world, crash_at, "protect")
    listed = {c.id: c.display_status for c in service.list_checkpoints()}
    assert listed[op.checkpoint] == "interrupted"
    result = service.resume(op.id, _connect(world))
    assert result.ok
    checkpoint = service.show_checkpoint(op.checkpoint)
    assert checkpoint.status == cp.AVAILABLE
    assert service.verify(op.checkpoint).ok


def test_a_killed_protect_aborts_and_its_checkpoint_goes(world):
    service, op = _crashed(world, "Test::Server#web/SaveRecord:before",
                           "protect")
    result = service.abort(op.id, _connect(world))
    assert result.status == "aborted"
    assert [c.id for c in service.list_checkpoints()] == []


def test_checkpoint_delete_force_of_a_dead_protect_aborts_it(world):
    service, op = _crashed(world, "Test::Server#web/SaveRecord:before",
                           "protect")
    service.delete(op.checkpoint, file_cloud.FileCloud(world["cloud"]),
                   force=True)
    assert [c.id for c in service.list_checkpoints()] == []
    assert service.operation(op.id).status == ops.ABORTED


def test_sigint_stops_at_a_task_boundary_and_leaves_it_resumable(world):
    """The real signal: SIGINT suspends the engine (the running step
    finishes first); the operation can then be resumed."""
    import signal
    import threading

    from protection.operations import runner as runner_mod

    checkpoint_id = _protected(world).checkpoint_id
    service = file_cloud.service(world["bank"])
    cloud = file_cloud.FileCloud(world["cloud"])
    cloud.slow = {rid: 0.3 for rid in ORIGINALS}
    stop = threading.Event()

    def interrupt_after_the_first_create():
        # Half way, whatever the machine's load: once the cloud holds a
        # restored object (a fixed timer fired before the engine ran on
        # a loaded machine).
        while not stop.wait(0.02):
            if _restored_names(world):
                os.kill(os.getpid(), signal.SIGINT)
                return

    watcher = threading.Thread(target=interrupt_after_the_first_create)
    try:
        with service.runner.handle_signals():
            watcher.start()
            with pytest.raises(runner_mod.OperationInterrupted) as caught:
                service.restore(checkpoint_id, cloud)
    finally:
        stop.set()
        watcher.join()
    operation_id = caught.value.operation_id
    assert f"stackvault operation resume {operation_id}" in str(caught.value)
    assert len(_restored_names(world)) < len(ORIGINALS)
    # Released at once: any process (this one too) may resume it.
    assert service.operation(operation_id).shown_status == ops.INTERRUPTED
    assert service.resume(operation_id, _connect(world)).ok
    assert _restored_names(world) == {name: 1 for name in ORIGINALS}
