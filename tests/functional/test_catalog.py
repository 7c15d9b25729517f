"""The checkpoint catalog kept right by real operations (TaskFlow
engines, a filesystem bank, SQLite): protect, failed protect, delete,
force delete of a protect that was killed, and drift mended by a rebuild
(protection.checkpoint.catalog)."""

import shutil

import pytest

from protection import exceptions
from protection.checkpoint.store import Tenancy
from tests.fakes import file_cloud
from tests.fakes.fake_cloud import ROOTS

PROJECT = Tenancy(project_id="project-a", user_id="user-a")


def _rows(service, **kwargs):
    return {row["id"]: row for row in
            service.stores.catalog.page(**kwargs)[0]}


def _sizes(service, checkpoint_id):
    objects = service.show_checkpoint(checkpoint_id).manifest.objects()
    return sum(entry["size"] for entry in objects.values())


def test_a_protect_is_catalogued_available_with_its_size(service, cloud):
    result = service.protect(cloud, "app", ROOTS, tenancy=PROJECT)
    row = _rows(service)[result.checkpoint_id]
    assert (row["status"], row["name"], row["resources"]) == (
        "available", "app", 6)
    assert (row["project_id"], row["user_id"]) == ("project-a", "user-a")
    assert row["size"] == _sizes(service, result.checkpoint_id) > 0
    assert _rows(service, project_id="project-b") == {}


def test_a_failed_protect_is_catalogued_error(service, cloud):
    cloud.fail.add(("protect", "vol-db"))
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.protect(cloud, "app", ROOTS)
    row = _rows(service)[caught.value.result.checkpoint_id]
    assert row["status"] == "error"


def test_delete_removes_the_row_and_a_failed_one_says_so(service, cloud):
    checkpoint_id = service.protect(cloud, "app", ROOTS).checkpoint_id
    cloud.fail.add(("delete", "vol-web"))
    with pytest.raises(exceptions.OperationFailed):
        service.delete(checkpoint_id, cloud)
    assert _rows(service)[checkpoint_id]["status"] == "error_deleting"
    cloud.fail.clear()
    service.delete(checkpoint_id, cloud)
    assert _rows(service) == {}


def _killed_protect(tmp_path, monkeypatch):
    """A protect killed (os._exit) in a child process: its checkpoint
    stays ``protecting`` in the bank and in the catalog."""
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    world = {"cloud": str(tmp_path / "cloud.json"),
             "bank": str(tmp_path / "bank")}
    file_cloud.app_cloud(world["cloud"])
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.file_cloud", world["cloud"],
         world["bank"], str(data), "protect"],
        env=dict(os.environ, PYTHONPATH=root,
                 STACKVAULT_CRASH_AT="Test::Server#web/SaveRecord:before"),
        capture_output=True, text=True, timeout=120, cwd=root)
    assert "fault injected" in done.stderr, done.stderr
    return file_cloud.service(world["bank"]), world


def test_a_killed_protect_is_shown_interrupted_and_force_delete_drops_it(
        tmp_path, monkeypatch):
    service, world = _killed_protect(tmp_path, monkeypatch)
    [row] = _rows(service).values()
    assert row["status"] == "interrupted"       # stored: protecting
    service.delete(row["id"], file_cloud.FileCloud(world["cloud"]),
                   force=True)
    assert _rows(service) == {}


def test_a_killed_protect_resumed_is_catalogued_available(
        tmp_path, monkeypatch):
    service, world = _killed_protect(tmp_path, monkeypatch)
    [row] = _rows(service).values()
    [op] = service.list_operations()
    service.resume(op.id, lambda _name: file_cloud.FileCloud(world["cloud"]))
    assert _rows(service)[row["id"]]["status"] == "available"


def test_a_rebuild_mends_drift_and_can_be_run_again(make_service, cloud,
                                                    bank_path, tmp_path,
                                                    monkeypatch):
    service = make_service()
    kept = service.protect(cloud, "kept", ROOTS).checkpoint_id
    removed = service.protect(cloud, "removed", ROOTS).checkpoint_id
    # Another deployment (its own database) writes to the same bank.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    foreign = make_service().protect(cloud, "foreign", ROOTS).checkpoint_id
    # A checkpoint removed from the bank behind stackvault's back.
    shutil.rmtree(bank_path / "checkpoints" / removed)
    assert set(_rows(service)) == {kept, removed}
    assert service.rebuild_catalog() == {
        "added": 1, "updated": 1, "removed": 1, "total": 2}
    assert set(_rows(service)) == {kept, foreign}
    assert service.rebuild_catalog() == {
        "added": 0, "updated": 2, "removed": 0, "total": 2}
    assert _rows(service)[foreign]["name"] == "foreign"


def test_the_first_list_builds_the_catalog_from_the_bank(make_service,
                                                         cloud, tmp_path,
                                                         monkeypatch):
    # Checkpoints written by a process with another database (as by a
    # release before the catalog): the first page lists them.
    older = make_service().protect(cloud, "older", ROOTS).checkpoint_id
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "upgraded"))
    service = make_service()
    found, more = service.checkpoint_page()
    assert [row["id"] for row in found] == [older] and not more
