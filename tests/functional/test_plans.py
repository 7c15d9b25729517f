"""Plans end to end: a real service, bank, database and TaskFlow engines
over the fake cloud; schedules driven by a controllable clock."""

import concurrent.futures
import threading

import pytest

from protection.checkpoint import store as cp
from protection import exceptions
from protection.plans import run as plan_run
from protection.plans import retention
from protection.plans import schedule

T0 = 1893456000          # 2030-01-01T00:00:00Z


def _settings(**changes):
    settings = {"resources": [["Test::Server", "web"]],
                "parameters": {"Test::Volume": {"mode": "incremental"}},
                "schedule": "* * * * *", "keep": 2, "keep_days": None,
                "cloud": "devcloud"}
    settings.update(changes)
    return settings


@pytest.fixture
def plan(service):
    settings = _settings()
    return service.stores.plans.create(
        "nightly", settings, schedule.first_run(settings["schedule"],
                                                T0 - 30))


def _connect(cloud):
    return lambda name: cloud


def _mine(service, name="nightly"):
    return [c for c in service.list_checkpoints()
            if retention.plan_of(c) == name]


def test_scheduled_runs_keep_two_checkpoints_and_delete_the_rest(
        service, cloud, plan):
    connect = _connect(cloud)
    first = schedule.run_due(service, connect, T0)
    assert schedule.run_due(service, connect, T0 + 30) == []
    second = schedule.run_due(service, connect, T0 + 60)
    # Nine slots missed: one run, not nine.
    third = schedule.run_due(service, connect, T0 + 600 + 10)
    assert schedule.run_due(service, connect, T0 + 600 + 20) == []
    runs = first + second + third
    assert [r.status for r in runs] == ["succeeded"] * 3
    assert runs[2].deleted == [runs[0].checkpoint_id]
    kept = _mine(service)
    assert sorted(c.id for c in kept) == sorted(
        r.checkpoint_id for r in runs[1:])
    assert {c.status for c in kept} == {cp.AVAILABLE}
    assert {c.name for c in kept} == {"nightly"}
    assert kept[0].index["plan"]["parameters"] == plan.parameters
    with pytest.raises(exceptions.CheckpointNotFound):
        service.show_checkpoint(runs[0].checkpoint_id)
    # Its plugins' delete flows ran (what they stored in the cloud goes).
    assert {rid for what, rid in cloud.log if what == "delete"} == \
        {"web", "vol-web", "net", "img"}
    stored = service.stores.plans.get("nightly")
    assert stored.last_status == "succeeded"
    assert stored.last_checkpoint == runs[2].checkpoint_id
    assert stored.next_run == T0 + 660


def test_a_plan_whose_resource_was_deleted_fails_with_that_reason(
        service, cloud, plan):
    kept = plan_run.run(service, _connect(cloud), plan).checkpoint_id
    del cloud.records["web"]
    done = plan_run.run(service, _connect(cloud), plan)
    assert done.status == "failed"
    assert done.error.startswith("Test::Server web not found: it was "
                                 "deleted from the cloud")
    assert done.checkpoint_id is None
    stored = service.stores.plans.get("nightly")
    assert (stored.last_status, stored.last_error) == ("failed", done.error)
    assert [c.id for c in _mine(service)] == [kept]


def test_a_failed_protect_deletes_nothing_and_is_never_pruned(
        service, cloud, plan):
    connect = _connect(cloud)
    good = [plan_run.run(service, connect, plan).checkpoint_id
            for _ in range(2)]
    cloud.fail.add(("protect", "net"))
    failed = plan_run.run(service, connect, plan)
    assert failed.status == "failed"
    assert "quota exceeded" in failed.error
    assert failed.retention == []
    cloud.fail.clear()
    plan_run.run(service, connect, plan)
    statuses = {c.id: c.status for c in _mine(service)}
    assert statuses[failed.checkpoint_id] == cp.ERROR
    assert good[0] not in statuses and statuses[good[1]] == cp.AVAILABLE
    assert len(statuses) == 3


def test_a_checkpoint_the_cloud_refuses_to_delete_is_kept_with_reason(
        service, cloud, plan, monkeypatch):
    connect = _connect(cloud)
    runs = [plan_run.run(service, connect, plan) for _ in range(2)]

    def refuse(conn, resource, metadata):
        raise exceptions.StackvaultError(
            "backup has incremental backups that depend on it")
    monkeypatch.setattr(service.registry.get("Test::Volume"),
                        "check_delete", refuse)
    dry = retention.prune(service, cloud, service.stores.plans.get(
        "nightly"), dry_run=True)
    third = plan_run.run(service, connect, plan)
    assert [d.action for d in dry] == ["keep", "keep"]
    refused = [d for d in third.retention if d.action != retention.KEEP]
    assert [(d.checkpoint_id, d.action) for d in refused] == \
        [(runs[0].checkpoint_id, retention.REFUSED)]
    assert "depend on it" in refused[0].reason
    assert service.show_checkpoint(runs[0].checkpoint_id).status == \
        cp.AVAILABLE
    assert ("delete", "web") not in cloud.log


def test_two_services_calling_run_due_at_once_protect_once(
        make_service, cloud, plan):
    services = [make_service(), make_service()]
    barrier = threading.Barrier(len(services))
    for one in services:
        store = one.stores.plans
        read = store.due

        def due(now, read=read):
            found = read(now)
            barrier.wait(timeout=30)     # both read before either claims
            return found
        store.due = due
    with concurrent.futures.ThreadPoolExecutor(len(services)) as pool:
        runs = list(pool.map(
            lambda one: schedule.run_due(one, _connect(cloud), T0),
            services))
    assert sorted(len(r) for r in runs) == [0, 1]
    assert [c.status for c in _mine(services[0])] == [cp.AVAILABLE]
