"""Retention rules with a controllable clock, and how prune applies them."""

import datetime

import mock
import pytest

from protection.checkpoint import store as cp
from protection.checkpoint import check as checkpoint_check
from protection import exceptions
from protection.auth import trusts
from protection.checkpoint.store import Tenancy
from protection.plans import retention
from protection.model.report import Failure

NOW = datetime.datetime(2030, 1, 10, tzinfo=datetime.timezone.utc)
DAY = 86400


class FakeCheckpoint:
    def __init__(self, cid, days_ago, status=cp.AVAILABLE, plan="nightly",
                 plan_id=None):
        created = NOW.timestamp() - days_ago * DAY
        self.id = cid
        self.status = status
        self.index_readable = True
        self.index = {
            "created_at": datetime.datetime.fromtimestamp(
                created, datetime.timezone.utc).isoformat(timespec="seconds"),
            "plan": {"name": plan, "plan_name": plan, "plan_run": created},
            "plan_id": plan_id or f"id-of-{plan}"}

    @property
    def request(self):
        """As protection.checkpoint.store.Checkpoint.request."""
        return self.index["plan"]


def _actions(decisions):
    return [(d.checkpoint_id, d.action) for d in decisions]


def test_keep_n_keeps_the_newest_available_ones():
    found = [FakeCheckpoint(f"c{i}", days) for i, days in
             enumerate([5, 4, 3, 2, 1])]
    decisions = retention.select(found, keep=2, now=NOW.timestamp())
    assert _actions(decisions) == [
        ("c4", "keep"), ("c3", "keep"), ("c2", "delete"), ("c1", "delete"),
        ("c0", "delete")]
    assert decisions[2].reason == "beyond the newest 2"


def test_checkpoints_not_available_are_never_deleted_nor_counted():
    found = [FakeCheckpoint("old", 9), FakeCheckpoint("err", 1, cp.ERROR),
             FakeCheckpoint("mid", 5),
             FakeCheckpoint("busy", 0.5, cp.PROTECTING),
             FakeCheckpoint("new", 2), FakeCheckpoint("bad", 7, cp.DAMAGED)]
    decisions = retention.select(found, keep=2, keep_days=1,
                                 now=NOW.timestamp())
    assert dict(_actions(decisions)) == {
        "busy": "keep", "err": "keep", "new": "keep", "mid": "delete",
        "bad": "keep", "old": "delete"}
    reasons = {d.checkpoint_id: d.reason for d in decisions}
    assert reasons["err"] == "not available (error)"
    assert reasons["new"] == "the newest available checkpoint"


def test_keep_days_deletes_older_ones_but_never_the_newest():
    found = [FakeCheckpoint("a", 10), FakeCheckpoint("b", 3),
             FakeCheckpoint("c", 1)]
    decisions = retention.select(found, keep_days=2.5, now=NOW.timestamp())
    assert _actions(decisions) == [("c", "keep"), ("b", "delete"),
                                   ("a", "delete")]
    assert decisions[1].reason == "older than 2.5 days"
    # Months later, nothing new: the newest stays all the same.
    later = NOW.timestamp() + 90 * DAY
    assert _actions(retention.select(found, keep_days=2.5, now=later))[0] \
        == ("c", "keep")


def test_the_clock_decides_what_is_too_old():
    found = [FakeCheckpoint("new", 0), FakeCheckpoint("old", 2)]
    assert _actions(retention.select(found, keep_days=3,
                                     now=NOW.timestamp()))[1] == \
        ("old", "keep")
    assert _actions(retention.select(found, keep_days=3,
                                     now=NOW.timestamp() + 1.5 * DAY))[1] == \
        ("old", "delete")


def test_runs_in_the_same_second_are_ordered_by_run_start():
    first, second = FakeCheckpoint("z-first", 1), FakeCheckpoint("a-next", 1)
    second.index["plan"]["plan_run"] += 0.25
    decisions = retention.select([second, first], keep=1,
                                 now=NOW.timestamp())
    assert _actions(decisions) == [("a-next", "keep"), ("z-first", "delete")]


def _service(checkpoints, made_here=()):
    service = mock.Mock()
    service.list_checkpoints.return_value = checkpoints
    service.delete_refusals.return_value = []
    service.stores.operations.protected_here.side_effect = \
        lambda checkpoint_id: checkpoint_id in made_here
    return service


def _plan(keep=1, keep_days=None):
    plan = mock.Mock(keep=keep, keep_days=keep_days, cloud="devcloud",
                     id="id-of-nightly", last_checkpoint=None,
                     project_id=None, user_id=None)
    plan.name = "nightly"
    return plan


def _precheck_refusal(checkpoint_id):
    failure = Failure(None, checkpoint_check.PRECHECK_STEP,
                      f"backup of {checkpoint_id} has incremental backups "
                      "that depend on it")
    return exceptions.OperationFailed("delete", [failure])


def test_prune_deletes_newest_first_and_keeps_what_the_cloud_refuses():
    found = [FakeCheckpoint("c1", 3), FakeCheckpoint("c2", 2),
             FakeCheckpoint("c3", 1), FakeCheckpoint("other", 5,
                                                     plan="weekly")]
    service = _service(found)
    service.delete.side_effect = lambda cid, conn, **_kw: (
        _ for _ in ()).throw(_precheck_refusal(cid)) if cid == "c1" else None
    decisions = retention.prune(service, "conn", _plan(keep=1),
                                NOW.timestamp())
    assert [c.args[0] for c in service.delete.call_args_list] == ["c2", "c1"]
    # audited as a prune, not a delete someone asked for
    assert service.delete.call_args.kwargs == {
        "cloud": "devcloud", "tenancy": None, "action": "prune",
        "trust": None}
    assert _actions(decisions) == [("c3", "keep"), ("c2", "deleted"),
                                   ("c1", "refused")]
    assert "incremental backups that depend on it" in decisions[2].reason


def test_prune_reports_a_failed_delete_and_goes_on():
    found = [FakeCheckpoint("c1", 3), FakeCheckpoint("c2", 2),
             FakeCheckpoint("c3", 1)]
    service = _service(found)

    def delete(cid, conn, **_kwargs):
        if cid == "c2":
            raise exceptions.CheckpointBusy("c2 is being deleted")
    service.delete.side_effect = delete
    decisions = retention.prune(service, "conn", _plan(keep=1),
                                NOW.timestamp())
    assert _actions(decisions) == [("c3", "keep"), ("c2", "failed"),
                                   ("c1", "deleted")]
    assert decisions[1].reason == "c2 is being deleted"


def test_dry_run_deletes_nothing_and_asks_the_cloud():
    found = [FakeCheckpoint("c1", 3), FakeCheckpoint("c2", 2),
             FakeCheckpoint("c3", 1)]
    service = _service(found)
    service.delete_refusals.side_effect = lambda cid, conn: \
        _precheck_refusal(cid).failures if cid == "c1" else []
    decisions = retention.prune(service, "conn", _plan(keep=1),
                                NOW.timestamp(), dry_run=True)
    service.delete.assert_not_called()
    assert _actions(decisions) == [("c3", "keep"), ("c2", "delete"),
                                   ("c1", "refused")]


@pytest.mark.parametrize("readable,expected", [(True, "nightly"),
                                               (False, None)])
def test_plan_of(readable, expected):
    checkpoint = FakeCheckpoint("c", 1)
    checkpoint.index_readable = readable
    assert retention.plan_of(checkpoint) == expected


def test_prune_selects_by_plan_id_never_by_a_name_alone():
    """Another deployment's plan of the same name, in the same bank, has
    another id; checkpoints from before plan ids (no plan_id, or the
    name recorded as it) count only when this database made them."""
    ours = [FakeCheckpoint("c1", 3), FakeCheckpoint("c2", 2),
            FakeCheckpoint("c3", 1)]
    theirs = [FakeCheckpoint("t1", 4, plan_id="id-of-their-nightly")]
    legacy = [FakeCheckpoint("old-ours", 9), FakeCheckpoint("old-named", 8),
              FakeCheckpoint("old-theirs", 7)]
    legacy[0].index["plan_id"] = None
    legacy[1].index["plan_id"] = "nightly"
    del legacy[2].index["plan_id"]
    service = _service(ours + theirs + legacy,
                       made_here={"old-ours", "old-named"})
    decisions = retention.prune(service, "conn", _plan(keep=1),
                                NOW.timestamp())
    assert sorted(c.args[0] for c in service.delete.call_args_list) == [
        "c1", "c2", "old-named", "old-ours"]
    assert {d.checkpoint_id for d in decisions} == {
        "c1", "c2", "c3", "old-named", "old-ours"}


def test_a_plans_last_checkpoint_is_its_own_without_an_operation():
    legacy = FakeCheckpoint("last", 1)
    legacy.index["plan_id"] = None
    plan = _plan()
    assert not retention.belongs_to(legacy, plan, lambda cid: False)
    plan.last_checkpoint = "last"
    assert retention.belongs_to(legacy, plan, lambda cid: False)


def test_prune_with_a_lent_trust_deletes_as_the_plans_project_with_it():
    found = [FakeCheckpoint("c1", 2), FakeCheckpoint("c2", 1)]
    service = _service(found)
    plan = _plan(keep=1)
    plan.cloud, plan.project_id, plan.user_id = None, "proj-a", "user-a"
    trust = trusts.Trust("t1", 5000.0, lent_by="op-protect")
    retention.prune(service, "trust-conn", plan, NOW.timestamp(),
                    trust=trust)
    [call] = service.delete.call_args_list
    assert call.args == ("c1", "trust-conn")
    assert call.kwargs == {"cloud": None, "tenancy": Tenancy("proj-a",
                                                              "user-a"),
                           "action": "prune", "trust": trust}
