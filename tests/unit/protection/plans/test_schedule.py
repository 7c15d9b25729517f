"""Schedules: cron parsing, due plans, claiming each run once (also with
several processes at once), missed runs run once; a controllable clock."""

import concurrent.futures
import multiprocessing
import threading

import mock
import pytest

from protection.db import engine as persistence
from protection.plans import store as plans
from protection.plans import schedule

T0 = 1893456000          # 2030-01-01T00:00:00Z, a whole minute
SETTINGS = {"resources": [["Test::Server", "web"]], "parameters": {},
            "schedule": "* * * * *", "keep": 2, "keep_days": None,
            "cloud": "devcloud"}


def _store(url):
    return plans.PlanStore(persistence.make_engine(url))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/stackvault.db"


@pytest.fixture
def store(url):
    return _store(url)


def _create(store, name, expression="* * * * *", now=T0 - 30):
    settings = dict(SETTINGS, schedule=expression)
    return store.create(name, settings, schedule.first_run(expression, now),
                        now=now)


@pytest.mark.parametrize("expression", ["* * * * *", "*/5 * * * *",
                                        "0 2 * * 1-5", "30 4 1 * *"])
def test_cron_expressions_are_accepted(expression):
    schedule.check(expression)


@pytest.mark.parametrize("expression", ["", "bad", "61 * * * *",
                                        "* * * * * *", "* * *", None])
def test_invalid_cron_expressions_are_refused_in_one_line(expression):
    with pytest.raises(plans.InvalidPlan) as err:
        schedule.check(expression)
    assert "invalid schedule" in str(err.value)
    assert "\n" not in str(err.value)


def test_next_slot_is_strictly_after_now():
    assert schedule.next_after("* * * * *", T0) == T0 + 60
    assert schedule.next_after("* * * * *", T0 + 1) == T0 + 60
    assert schedule.next_after("0 2 * * *", T0) == T0 + 2 * 3600
    assert schedule.first_run(None, T0) is None


def test_a_plan_is_due_at_its_slot_and_claimed_once(store):
    _create(store, "nightly")
    assert schedule.claim_due(store, T0 - 1) == []
    assert [p.name for p in schedule.claim_due(store, T0)] == ["nightly"]
    assert store.get("nightly").next_run == T0 + 60
    assert schedule.claim_due(store, T0 + 59) == []
    assert [p.name for p in schedule.claim_due(store, T0 + 60)] == \
        ["nightly"]


def test_missed_slots_run_once_at_the_next_chance(store):
    _create(store, "nightly")
    # Nothing ran for ten minutes: one run, then the next slot after now.
    later = T0 + 600 + 15
    assert len(schedule.claim_due(store, later)) == 1
    assert schedule.claim_due(store, later) == []
    assert store.get("nightly").next_run == T0 + 660


def test_a_plan_without_schedule_is_never_due(store):
    store.create("manual", dict(SETTINGS, schedule=None), None)
    assert schedule.claim_due(store, T0 + 10 ** 6) == []


def test_a_claim_fails_when_another_caller_moved_next_run(store):
    plan = _create(store, "nightly")
    assert store.claim("nightly", plan.next_run, T0 + 60)
    assert not store.claim("nightly", plan.next_run, T0 + 60)


def test_run_due_runs_each_claimed_plan_and_reports_it(store):
    _create(store, "a")
    _create(store, "b", "0 3 * * *")
    service = mock.Mock()
    service.stores.plans = store
    with mock.patch.object(schedule.plan_run, "run") as run:
        runs = schedule.run_due(service, "connect", T0)
    assert [c.args[2].name for c in run.call_args_list] == ["a"]
    assert run.call_args.args[:2] == (service, "connect")
    assert run.call_args.args[3] == T0
    assert runs == [run.return_value]


class _SyncedStore(plans.PlanStore):
    """A PlanStore whose callers all finish reading the due plans before
    any of them claims one: the race that claiming must survive."""

    def __init__(self, url, barrier):
        super().__init__(persistence.make_engine(url))
        self._barrier = barrier

    def due(self, now):
        found = super().due(now)
        self._barrier.wait(timeout=30)
        return found


def _claim_in_a_process(url, barrier, now, results):
    store = _SyncedStore(url, barrier)
    results.put([p.name for p in schedule.claim_due(store, now)])


def test_concurrent_processes_claim_each_due_run_exactly_once(store, url):
    names = [f"plan-{i}" for i in range(5)]
    for name in names:
        _create(store, name)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_claim_in_a_process,
                               args=(url, barrier, T0 + 5, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    claimed = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    # All four saw the five plans due; each plan was claimed by one.
    assert sorted(n for found in claimed for n in found) == names
    assert {store.get(n).next_run for n in names} == {T0 + 60}


def test_concurrent_threads_run_each_due_plan_exactly_once(url):
    barrier = threading.Barrier(6)
    stores = [_SyncedStore(url, barrier) for _ in range(6)]
    for name in ("a", "b", "c"):
        _create(stores[0], name)
    calls = []
    services = []
    for store in stores:
        service = mock.Mock()
        service.stores.plans = store
        services.append(service)
    with mock.patch.object(schedule.plan_run, "run",
                           side_effect=lambda s, c, plan, now:
                           calls.append(plan.name)), \
            concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda s: schedule.run_due(s, None, T0), services))
    assert sorted(calls) == ["a", "b", "c"]
