"""A restore keeps its marks until its last stage, so that every undo of
it acts only on what proves to be its own (issue #23, item 2).

Real service, TaskFlow engines, bank and operations database; the fake
cloud of tests/fakes/fake_cloud.py, whose records keep the marks a
creating task puts on them (``metadata``). Foreign ids (the project's own
records: the originals) are planted in an interrupted restore's journal,
then the restore is aborted, or resumed into a failure that rolls it
back: nothing foreign is deleted, and each one is reported.
"""

import threading

import pytest

from protection import exceptions
from protection.operations import runner as runner_mod
from protection.operations import store as ops
from tests.fakes import fake_cloud

ORIGINALS = {"img", "net", "vol-web", "vol-db", "web", "db"}
WEB = "Test::Server#web/CreateRecord"
DB = "Test::Server#db/CreateRecord"


def _originals_intact(cloud):
    template = fake_cloud.app_cloud()
    for rid in ORIGINALS:
        assert cloud.records[rid]["data"] == template.records[rid]["data"]


def _marked(cloud):
    return sorted(rid for rid in cloud.created()
                  if cloud.records[rid].get("metadata"))


def test_a_restore_ends_with_no_mark_on_what_it_made(
        service, cloud, checkpoint_id):
    result = service.restore(checkpoint_id, cloud)
    assert result.ok
    assert len(cloud.created()) == len(ORIGINALS)
    assert _marked(cloud) == []
    assert result.still_marked == {}
    # the marks came off after every resource's on_complete
    last_complete = max(i for i, (what, _rid) in enumerate(cloud.log)
                        if what == "complete")
    first_unmark = min(i for i, (what, _rid) in enumerate(cloud.log)
                       if what == "unmark")
    assert last_complete < first_unmark
    journal = service.operation(result.operation_id).journal
    assert sorted(v for k, v in journal.items()
                  if k.startswith("unmarked:")) == cloud.created()


def test_a_mark_that_does_not_come_off_fails_nothing(
        service, cloud, checkpoint_id):
    unmark = cloud.unmark

    def refuse_one(rid):
        if cloud.records[rid]["name"] == "vol-web":
            raise fake_cloud.CloudError("metadata service unavailable")
        unmark(rid)
    cloud.unmark = refuse_one
    result = service.restore(checkpoint_id, cloud)
    assert result.ok, result.to_dict()
    [kept] = _marked(cloud)
    assert cloud.records[kept]["name"] == "vol-web"
    assert result.still_marked == {"Test::Volume#vol-web/CreateRecord": kept}
    assert result.to_dict()["still_marked"] == result.still_marked
    assert any(kept in w and "not taken off" in w for w in result.warnings)
    assert service.operation(result.operation_id).status == ops.SUCCEEDED


def test_what_a_failed_restore_keeps_loses_its_marks(
        service, cloud, checkpoint_id):
    cloud.fail.add(("restore", "web"))
    cloud.slow["db"] = 0.2
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, cloud, policy="keep")
    assert sorted(caught.value.result.left_behind.values()) == \
        cloud.created()
    assert cloud.created() and _marked(cloud) == []


def _interrupted(service, cloud, checkpoint_id):
    """A restore stopped at a task boundary once it created something
    (the servers, which wait for their volumes, have not run)."""
    cloud.slow = {rid: 0.3 for rid in ORIGINALS}
    stop = threading.Event()

    def interrupt_after_the_first_create():
        while not stop.wait(0.01):
            if cloud.created():
                service.runner.interrupt()
                return
    watcher = threading.Thread(target=interrupt_after_the_first_create)
    watcher.start()
    try:
        with pytest.raises(runner_mod.OperationInterrupted) as caught:
            service.restore(checkpoint_id, cloud)
    finally:
        stop.set()
        watcher.join()
    cloud.slow = {}
    assert cloud.created()
    return caught.value.operation_id


def _plant(service, operation_id):
    """The journal names the project's own records for the servers'
    steps, which have not run (a database writer's doing)."""
    store = service.stores.operations
    store.record_created(operation_id, WEB, "vol-db")
    store.record_created(operation_id, DB, "img")


def test_an_abort_deletes_only_what_is_marked_and_reports_the_rest(
        service, cloud, checkpoint_id):
    operation_id = _interrupted(service, cloud, checkpoint_id)
    _plant(service, operation_id)
    result = service.abort(operation_id, lambda _name: cloud)
    _originals_intact(cloud)
    assert cloud.created() == []            # every mark proved ours
    assert result.status == "failed"        # what it left is listed
    assert result.left_behind[WEB] == "vol-db"
    assert result.left_behind[DB] == "img"
    assert service.operation(operation_id).status == ops.FAILED


def test_a_resumed_run_that_fails_rolls_back_only_what_is_marked(
        service, cloud, checkpoint_id):
    operation_id = _interrupted(service, cloud, checkpoint_id)
    _plant(service, operation_id)
    cloud.fail.add(("restore", "web"))
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.resume(operation_id, lambda _name: cloud)
    _originals_intact(cloud)
    assert cloud.created() == []
    result = caught.value.result
    assert result.left_behind[WEB] == "vol-db"
    assert any("vol-db was not deleted" in f.message
               for f in result.rollback_failures)


def _count_fetches(monkeypatch):
    """The ids each CreateRecord.fetch (a proving GET) asked for."""
    fetched = []
    fetch = fake_cloud.CreateRecord.fetch

    def counted(self, conn, new_id):
        fetched.append(new_id)
        return fetch(self, conn, new_id)
    monkeypatch.setattr(fake_cloud.CreateRecord, "fetch", counted)
    return fetched


def test_a_fresh_restore_does_not_prove_its_own_objects(
        service, cloud, checkpoint_id, monkeypatch):
    """Every id is one the cloud answered to this run: the last stage
    takes the marks off without reading the objects (issue 22 item 7)."""
    fetched = _count_fetches(monkeypatch)
    result = service.restore(checkpoint_id, cloud)
    assert result.ok
    assert _marked(cloud) == [] and len(cloud.created()) == len(ORIGINALS)
    assert fetched == []


def test_a_resumed_restore_proves_each_object_once(
        service, cloud, checkpoint_id, monkeypatch):
    operation_id = _interrupted(service, cloud, checkpoint_id)
    fetched = _count_fetches(monkeypatch)
    service.resume(operation_id, lambda _name: cloud)
    assert _marked(cloud) == [] and len(cloud.created()) == len(ORIGINALS)
    # what the interrupted run made is fetched by the re-run's step
    # (CreatingTask.earlier) and by the last stage's proof; the rest
    # only by the proof
    for rid in cloud.created():
        assert 1 <= fetched.count(rid) <= 2, (rid, fetched)
    assert sorted(set(fetched)) == cloud.created()


def test_a_resume_from_an_empty_journal_does_not_prove(
        service, cloud, checkpoint_id, monkeypatch):
    """A conductor's first run of a posted operation is a resume whose
    journal is empty: what it makes the cloud answered to it, so the last
    stage reads nothing again. Here: a restore stopped at its first task
    boundary, before anything was made, then resumed."""
    service.runner.interrupt()
    with pytest.raises(runner_mod.OperationInterrupted) as caught:
        service.restore(checkpoint_id, cloud)
    operation_id = caught.value.operation_id
    assert cloud.created() == []
    assert service.operation(operation_id).journal == {}
    fetched = _count_fetches(monkeypatch)
    service.resume(operation_id, lambda _name: cloud)
    assert _marked(cloud) == [] and len(cloud.created()) == len(ORIGINALS)
    assert fetched == []
