"""Bounded, fail-fast waits, driven by a fake clock (no real sleeping)."""

import mock
import types

import pytest
from openstack.block_storage.v3 import backup as sdk_backup
from openstack.compute.v2 import server as sdk_server
from openstack import exceptions as sdk_exceptions
from keystoneauth1 import exceptions as ks_exceptions

from protection import exceptions
from protection.plugin import wait
from protection.plugin.context import ResourceContext

# openstacksdk's own resources warn about an internal deprecation.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The _compute_attributes method is deprecated")

TIMEOUTS = wait.Timeouts(status_wait=60.0, per_gib=10.0, poll_initial=0.5,
                         poll_max=5.0)


class FakeClock:
    """``clock()`` and ``sleep()`` that only move when sleep is called."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def statuses(*values, **attrs):
    """A ``fetch`` returning sdk-like objects with these statuses in turn;
    the last one repeats."""
    objs = [mock.Mock(spec=["status", "id"], status=s, id="obj-1")
            for s in values]
    calls = []

    def fetch():
        obj = objs[min(len(calls), len(objs) - 1)]
        calls.append(obj.status)
        return obj
    fetch.calls = calls
    return fetch


def run(fetch, status="available", clock=None, **kwargs):
    clock = clock or FakeClock()
    kwargs.setdefault("timeouts", TIMEOUTS)
    return wait.wait_for_status(fetch, status, what="volume v1",
                                sleep=clock.sleep, clock=clock.clock,
                                **kwargs)


# -- reaching the status ------------------------------------------------------
def test_returns_the_object_once_it_has_the_status():
    clock = FakeClock()
    fetch = statuses("creating", "creating", "available")
    obj = run(fetch, clock=clock)
    assert obj.status == "available"
    assert fetch.calls == ["creating", "creating", "available"]
    assert len(clock.sleeps) == 2


def test_no_sleep_when_already_there():
    clock = FakeClock()
    run(statuses("available"), clock=clock)
    assert clock.sleeps == []


def test_status_comparison_ignores_case_and_accepts_several():
    assert run(statuses("BUILD", "ACTIVE"), "active").status == "ACTIVE"
    assert run(statuses("creating", "in-use"),
               ("available", "in-use")).status == "in-use"


# -- failing fast -------------------------------------------------------------
def test_error_status_fails_at_once_with_server_fault():
    clock = FakeClock()
    server = sdk_server.Server(
        id="s1", status="ERROR",
        fault={"code": 500, "message": "No valid host was found.",
               "details": "Traceback ..."})
    fetches = iter([mock.Mock(spec=["status"], status="BUILD"), server])
    with pytest.raises(exceptions.ResourceFailed) as err:
        wait.wait_for_status(lambda: next(fetches), "ACTIVE",
                             what="server s1", timeouts=TIMEOUTS,
                             sleep=clock.sleep, clock=clock.clock)
    assert str(err.value) == \
        "server s1 went to status 'error': No valid host was found."
    assert len(clock.sleeps) == 1


def test_error_status_uses_backup_fail_reason():
    backup = sdk_backup.Backup(id="b1", status="error",
                               fail_reason="swift: 507 Insufficient Storage")
    with pytest.raises(exceptions.ResourceFailed) as err:
        run(lambda: backup)
    assert "volume v1 went to status 'error'" in str(err.value)
    assert "swift: 507 Insufficient Storage" in str(err.value)


def test_error_without_a_reason_says_so():
    with pytest.raises(exceptions.ResourceFailed,
                       match="the cloud gave no reason"):
        run(statuses("error"))


def test_custom_failure_statuses():
    with pytest.raises(exceptions.ResourceFailed, match="'error_restoring'"):
        run(statuses("restoring-backup", "error_restoring"),
            failures=("error", "ERROR_RESTORING"))


@pytest.mark.parametrize("attrs, expected", [
    ({"fault": {"message": "boom", "details": "tb"}}, "boom"),
    ({"fault": {"details": "only details"}}, "only details"),
    ({"fail_reason": "quota"}, "quota"),
    ({"status_reason": "image upload failed"}, "image upload failed"),
    ({"message": "m"}, "m"),
    ({"fault": None, "fail_reason": "second"}, "second"),
    ({"fault": {}, "fail_reason": ""}, None),
    ({}, None),
])
def test_fault_of(attrs, expected):
    obj = mock.Mock(spec=["status"] + list(attrs), status="error", **attrs)
    assert wait.fault_of(obj) == expected


# -- timing out ---------------------------------------------------------------
def test_times_out_with_the_last_status():
    clock = FakeClock()
    fetch = statuses("creating", "creating", "backing-up")
    with pytest.raises(exceptions.WaitTimeout) as err:
        run(fetch, clock=clock, timeout=20)
    message = str(err.value)
    assert "volume v1 did not reach available within 20s" in message
    assert "(last status 'backing-up')" in message
    # The whole wait took exactly the timeout; the last poll was at the
    # deadline, not one interval past it.
    assert sum(clock.sleeps) == pytest.approx(20)
    assert clock.now == pytest.approx(1020)


def test_timeout_defaults_to_status_wait():
    clock = FakeClock()
    with pytest.raises(exceptions.WaitTimeout, match="within 60s"):
        run(statuses("creating"), clock=clock)
    assert sum(clock.sleeps) == pytest.approx(60)


def test_backoff_grows_and_is_capped_by_poll_max():
    clock = FakeClock()
    timeouts = wait.Timeouts(status_wait=100, poll_initial=0.5, poll_max=4)
    with pytest.raises(exceptions.WaitTimeout):
        run(statuses("creating"), clock=clock, timeouts=timeouts)
    sleeps = clock.sleeps
    assert sleeps[0] == 0.5
    growing = sleeps[:sleeps.index(4)]
    assert growing == sorted(growing)
    assert growing[-1] > growing[0]
    assert max(sleeps) == 4
    # Once capped, the interval stays at poll_max (except the last sleep,
    # cut short by the deadline).
    capped = sleeps[sleeps.index(4):-1]
    assert capped and set(capped) == {4}
    assert sleeps[-1] <= 4
    assert sum(sleeps) == pytest.approx(100)


def test_backoff_intervals_exactly():
    timeouts = wait.Timeouts(poll_initial=1, poll_max=3, poll_lateness=0.2)
    assert [wait.interval_after(timeouts, elapsed)
            for elapsed in (0, 4, 5, 10, 15, 60)] == [1, 1, 1, 2, 3, 3]


def test_the_default_lateness_is_a_twentieth():
    """A volume's restore from its backup (8 s on devcloud, on the
    restore's critical path) is seen at most 0.4 s late, not 0.8 s."""
    timeouts = wait.Timeouts(poll_initial=0.25, poll_max=5)
    assert [wait.interval_after(timeouts, elapsed)
            for elapsed in (0, 5, 8, 20, 100, 600)] == \
        pytest.approx([0.25, 0.25, 0.4, 1, 5, 5])


def test_the_default_polls_of_long_waits_stay_few():
    """What the lower lateness costs: an 8 s wait polls 30 times (23 at
    a tenth), a 10-minute one 182 times (152)."""
    timeouts = wait.Timeouts()

    def polls(seconds):
        elapsed = count = 0
        while elapsed < seconds:
            count += 1
            elapsed += wait.interval_after(timeouts, elapsed)
        return count
    assert [polls(8), polls(60), polls(600)] == [30, 71, 182]


@pytest.mark.parametrize("lateness", [0.05, 0.1, 0.2])
def test_a_change_is_noticed_at_most_poll_lateness_of_the_wait_late(
        lateness):
    """No fixed interval: a step that ends after t seconds is seen by
    (1 + poll_lateness) t (or poll_initial after t) at the latest,
    whatever t is."""
    timeouts = wait.Timeouts(status_wait=1000, poll_initial=0.5,
                             poll_max=30, poll_lateness=lateness)
    for ends_at in (0.7, 3.3, 7.0, 13.0, 41.0):
        clock = FakeClock()
        start = clock.now

        def fetch(ends_at=ends_at, clock=clock, start=start):
            done = clock.now - start >= ends_at
            return types.SimpleNamespace(
                status="available" if done else "creating")
        wait.wait_for_status(fetch, "available", what="x", timeouts=timeouts,
                             sleep=clock.sleep, clock=clock.clock)
        seen = clock.now - start
        assert seen <= max((1 + lateness) * ends_at, ends_at + 0.5) + 1e-9


# -- waiting for a delete -----------------------------------------------------
def run_delete(fetch, clock=None, **kwargs):
    clock = clock or FakeClock()
    return wait.wait_for_delete(fetch, what="volume v1", timeouts=TIMEOUTS,
                                sleep=clock.sleep, clock=clock.clock,
                                **kwargs)


def test_wait_for_delete_treats_not_found_as_done():
    clock = FakeClock()
    seen = []

    def fetch():
        seen.append(1)
        if len(seen) < 3:
            return mock.Mock(spec=["status"], status="deleting")
        raise sdk_exceptions.NotFoundException("No Volume found for v1")

    assert run_delete(fetch, clock=clock) is None
    assert len(seen) == 3
    assert len(clock.sleeps) == 2


def test_wait_for_delete_treats_none_as_done():
    assert run_delete(lambda: None) is None


def test_wait_for_delete_fails_fast_on_error_deleting():
    obj = mock.Mock(spec=["status", "fail_reason"], status="error_deleting",
                    fail_reason="backend busy")
    with pytest.raises(exceptions.ResourceFailed) as err:
        run_delete(lambda: obj)
    assert "volume v1 could not be deleted" in str(err.value)
    assert "'error_deleting'" in str(err.value)
    assert "backend busy" in str(err.value)


def test_wait_for_delete_times_out_with_last_status():
    clock = FakeClock()
    with pytest.raises(exceptions.WaitTimeout) as err:
        run_delete(statuses("deleting"), clock=clock, timeout=7)
    assert "volume v1 was not deleted within 7s" in str(err.value)
    assert "(last status 'deleting')" in str(err.value)
    assert sum(clock.sleeps) == pytest.approx(7)


def test_wait_for_delete_lets_other_cloud_errors_through():
    def fetch():
        raise sdk_exceptions.HttpException("503 Service Unavailable")

    with pytest.raises(sdk_exceptions.HttpException):
        run_delete(fetch)


# -- timeouts -----------------------------------------------------------------
def test_timeouts_for_size_adds_per_gib():
    t = wait.Timeouts(status_wait=600, per_gib=120)
    assert t.for_size(0) == 600
    assert t.for_size(None) == 600
    assert t.for_size(10) == 600 + 1200
    assert t.for_size("2") == 840
    assert t.for_size(0.5) == 660
    assert t.for_size(-5) == 600


def test_timeouts_from_config():
    conf = mock.Mock()
    conf.timeouts.status_wait = 30.0
    conf.timeouts.per_gib = 5.0
    conf.timeouts.poll_initial = 0.1
    conf.timeouts.poll_max = 2.0
    conf.timeouts.poll_lateness = 0.3
    assert wait.Timeouts.from_config(conf) == wait.Timeouts(30.0, 5.0, 0.1,
                                                            2.0, 0.3)


def test_context_wait_uses_size_based_timeout():
    ctx = ResourceContext(operation="protect", resource=mock.Mock(),
                          conn=mock.Mock(), bank=mock.Mock(), parameters={},
                          restored=mock.Mock(), progress=mock.Mock(),
                          timeouts=TIMEOUTS)
    clock = FakeClock()
    with pytest.raises(exceptions.WaitTimeout, match="within 110s"):
        ctx.wait_for_status(statuses("creating"), "available", "backup b1",
                            size_gib=5, sleep=clock.sleep, clock=clock.clock)
    assert sum(clock.sleeps) == pytest.approx(60 + 5 * 10)


# -- polls the cloud does not answer ------------------------------------------
def _flaky(*answers):
    """A fetch() that raises or returns each answer in turn."""
    answers = list(answers)

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    return fetch


def _obj(status):
    return mock.Mock(spec=["status", "id"], status=status, id="obj-1")


def _http(code):
    return sdk_exceptions.HttpException(
        message="boom", response=mock.Mock(status_code=code, headers={}))


@pytest.mark.parametrize("error", [
    _http(503), _http(500),
    ks_exceptions.ConnectFailure("refused"),
    ks_exceptions.ConnectTimeout("no answer"),
])
def test_status_wait_retries_a_poll_the_cloud_did_not_answer(error):
    fetch = _flaky(_obj("creating"), error, _obj("available"))
    got = wait.wait_for_status(fetch, "available", what="volume v",
                               timeouts=TIMEOUTS, sleep=lambda s: None)
    assert got.status == "available"


def test_status_wait_fails_at_once_on_a_real_error():
    fetch = _flaky(_http(400))
    with pytest.raises(sdk_exceptions.HttpException):
        wait.wait_for_status(fetch, "available", what="volume v",
                             timeouts=TIMEOUTS, sleep=lambda s: None)


def test_unanswered_polls_still_end_at_the_deadline():
    clock = FakeClock()

    def fetch():
        raise _http(503)

    with pytest.raises(exceptions.WaitTimeout, match="volume v"):
        wait.wait_for_status(fetch, "available", what="volume v",
                             timeouts=TIMEOUTS, timeout=3, sleep=clock.sleep,
                             clock=clock.clock)


def test_delete_wait_retries_a_poll_the_cloud_did_not_answer():
    fetch = _flaky(_obj("deleting"), _http(502),
                   sdk_exceptions.NotFoundException("gone"))
    wait.wait_for_delete(fetch, what="volume v", timeouts=TIMEOUTS,
                         sleep=lambda s: None)


# -- delete_when_settled and retry_on_conflict --------------------------------
def test_delete_when_settled_waits_for_a_settled_status_first():
    events = []
    states = [_obj("creating"), _obj("creating"), _obj("available")]

    def fetch():
        if "deleted" in events:
            raise sdk_exceptions.NotFoundException("gone")
        return states.pop(0) if len(states) > 1 else states[0]

    wait.delete_when_settled(fetch, lambda: events.append("deleted"),
                             what="backup b", timeouts=TIMEOUTS,
                             settled=("available", "error"),
                             sleep=lambda s: None)
    assert events == ["deleted"]


def test_delete_when_settled_of_a_missing_object_does_nothing():
    delete = mock.Mock()
    wait.delete_when_settled(
        _flaky(sdk_exceptions.NotFoundException("gone")), delete,
        what="volume v", timeouts=TIMEOUTS, sleep=lambda s: None)
    delete.assert_not_called()


def test_retry_on_conflict_retries_409_then_succeeds():
    call = mock.Mock(side_effect=[sdk_exceptions.ConflictException("busy"),
                                  "done"])
    assert wait.retry_on_conflict(call, what="subnet s", timeouts=TIMEOUTS,
                                  sleep=lambda s: None) == "done"
    assert call.call_count == 2


def test_retry_on_conflict_gives_up_at_the_deadline():
    clock = FakeClock()
    call = mock.Mock(side_effect=sdk_exceptions.ConflictException("busy"))
    with pytest.raises(exceptions.ResourceFailed,
                       match="subnet s could not be deleted"):
        wait.retry_on_conflict(call, what="subnet s", timeouts=TIMEOUTS,
                               sleep=clock.sleep, clock=clock.clock)


def conflict(details="port still in use"):
    return sdk_exceptions.ConflictException("409 Conflict", details=details)


def not_found():
    return sdk_exceptions.NotFoundException("404")


class Deletable:
    """A cloud object: ``fetch`` shows ``statuses`` in turn until ``delete``
    succeeds, then raises NotFound; ``delete`` raises ``refusals`` first."""

    def __init__(self, *statuses, refusals=()):
        self.statuses = list(statuses)
        self.refusals = list(refusals)
        self.fetches, self.deletes, self.gone = 0, 0, False

    def fetch(self):
        if self.gone:
            raise not_found()
        self.fetches += 1
        status = self.statuses[min(self.fetches, len(self.statuses)) - 1]
        return mock.Mock(spec=["status"], status=status)

    def delete(self):
        self.deletes += 1
        if self.refusals:
            raise self.refusals.pop(0)
        self.gone = True


def run_delete_when_settled(obj, clock=None, **kwargs):
    clock = clock or FakeClock()
    return wait.delete_when_settled(obj.fetch, obj.delete, what="backup b1",
                                    timeouts=TIMEOUTS, sleep=clock.sleep,
                                    clock=clock.clock, **kwargs)


def test_delete_when_settled_deletes_at_once_without_settled():
    obj = Deletable("creating")
    run_delete_when_settled(obj)
    assert obj.fetches == 1 and obj.deletes == 1 and obj.gone


def test_delete_when_settled_retries_409_then_waits_until_gone():
    clock = FakeClock()
    obj = Deletable("ACTIVE", refusals=[conflict(), conflict()])
    run_delete_when_settled(obj, clock=clock)
    assert obj.deletes == 3 and obj.gone
    assert clock.sleeps == [0.5, 0.5]


def test_delete_when_settled_treats_none_as_gone():
    deletes = []
    wait.delete_when_settled(lambda: None, lambda: deletes.append(1),
                             what="x", timeouts=TIMEOUTS)
    assert deletes == []


def test_delete_when_settled_times_out_waiting_for_a_settled_status():
    clock = FakeClock()
    obj = Deletable("creating")
    with pytest.raises(exceptions.WaitTimeout, match="backup b1 did not "
                       "reach available within 60s"):
        run_delete_when_settled(obj, clock=clock, settled=("available",))
    assert obj.deletes == 0


def test_retry_on_conflict_treats_not_found_as_done():
    def call():
        raise not_found()
    assert wait.retry_on_conflict(call, what="x", timeouts=TIMEOUTS) is None


def test_retry_on_conflict_names_the_clouds_reason_and_is_bounded():
    clock = FakeClock()
    calls = []

    def call():
        calls.append(clock.now)
        raise conflict("One or more ports have an IP allocation")
    with pytest.raises(exceptions.ResourceFailed) as err:
        wait.retry_on_conflict(call, what="subnet s1", timeouts=TIMEOUTS,
                               sleep=clock.sleep, clock=clock.clock)
    assert str(err.value) == (
        "subnet s1 could not be deleted within 60s: One or more ports have "
        "an IP allocation")
    assert calls[-1] - calls[0] >= 60
    assert clock.now - 1000.0 < 60 + TIMEOUTS.poll_max


def test_retry_on_conflict_lets_other_errors_through():
    def call():
        raise sdk_exceptions.BadRequestException("400")
    with pytest.raises(sdk_exceptions.BadRequestException):
        wait.retry_on_conflict(call, what="x", timeouts=TIMEOUTS)
