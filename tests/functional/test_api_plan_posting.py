"""A plan run through the API with a jobboard: its protect is posted with
a Keystone trust of the caller's; a conductor's job worker runs it, then
its follow-up hook (:class:`protection.plans.run.AfterProtect`) applies
the plan's retention with the same trust and records the run, and only
then the trust is deleted. A conductor that dies between the protect's
commit and the end of the follow-up leaves the job unconsumed: the next
one finishes it, deleting nothing twice.

Real TaskFlow engines, bank and persistence database; the jobboard is a
list and Keystone's trusts are :class:`tests.fakes.trusts.FakeTrusts`.
"""

import json

import pytest

from protection.bank.filesystem import FileSystemBank
from protection.operations import conductor
from protection.operations import store as ops
from protection.operations import sweeper
from protection.plans import run as plan_run
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import api as fake_api
from tests.fakes import fake_cloud
from tests.fakes.jobboard import Board

PLAN = {"name": "nightly", "keep": 1,
        "resources": [{"type": "Test::Network", "id": "net"}]}
TOKEN = "tok-5ecret-of-the-caller-3b9f"   # the caller's token, never kept


@pytest.fixture
def board():
    return Board()


@pytest.fixture
def api(tmp_path, board, monkeypatch):
    monkeypatch.setitem(fake_api.PERSONAS, TOKEN,
                        fake_api.PERSONAS["member"])
    return fake_api.Api(tmp_path / "bank", board=board)


def _no_cloud_name(name):
    raise AssertionError(f"a trust operation asked for cloud {name!r}")


def _worker(api):
    """A conductor's job worker with the plan follow-up hook, as
    ``stackvault conductor`` wires it: its own service on the API's bank
    and database, the same Keystone, no clouds.yaml."""
    service = ProtectionService(
        api.conf, PluginRegistry([p() for p in fake_cloud.ALL]),
        FileSystemBank(api.service.bank.root), trusts=api.trusts)
    return conductor.JobWorker(api.conf, service, _no_cloud_name,
                               sleep=lambda _s: None,
                               after=plan_run.AfterProtect(service))


def _plan(api):
    resp = api.call("POST", "/v1/plans", TOKEN, PLAN)
    assert resp.status_code == 201, resp.text
    return resp.json["plan"]["id"]


def _posted_run(api, board, plan_id):
    """Run the plan through the API; the posted protect operation."""
    jobs = len(board.jobs)
    resp = api.call("POST", f"/v1/plans/{plan_id}/run", TOKEN)
    assert resp.status_code == 202, resp.text
    assert resp.json["plan"]["last_status"] == "running"
    assert len(board.jobs) == jobs + 1
    return api.service.operation(board.jobs[-1].details["operation_id"])


def _conducted_run(api, board, plan_id):
    """Run the plan through the API and have a conductor run its job to
    the end (protect, then the follow-up); the protect as posted."""
    posted = _posted_run(api, board, plan_id)
    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    return posted


def _plan_row(api, plan_id):
    return api.call("GET", f"/v1/plans/{plan_id}", TOKEN).json["plan"]


def _deletes(api):
    return [op for op in api.service.list_operations()
            if op.kind == "delete"]


def test_a_plan_run_is_posted_and_run_with_one_trust_then_retention(
        api, board):
    plan_id = _plan(api)
    first = _posted_run(api, board, plan_id)
    assert first.status == ops.QUEUED and first.kind == "protect"
    assert (first.project_id, first.user_id) == ("proj-a", "user-member-a")
    [(trust_id, *_rest)] = api.trusts.made
    assert first.args["trust_id"] == trust_id and "cloud" not in first.args
    assert first.args["follow_up"]["plan"] == plan_id
    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    shown = _plan_row(api, plan_id)
    assert shown["last_status"] == "succeeded", shown
    assert shown["last_checkpoint"] == api.service.operation(
        first.id).checkpoint
    assert not api.trusts.live and api.trusts.deleted == [(trust_id,
                                                           "trust")]

    second = _posted_run(api, board, plan_id)
    second_trust = second.args["trust_id"]
    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    second = api.service.operation(second.id)
    shown = _plan_row(api, plan_id)
    assert (shown["last_status"], shown["last_checkpoint"],
            shown["last_error"]) == ("succeeded", second.checkpoint, None)
    checkpoints = api.call("GET", "/v1/checkpoints", TOKEN).json[
        "checkpoints"]
    # keep=1: retention deleted the first run's checkpoint, as the caller
    assert [(c["id"], c["project_id"], c["plan_id"]) for c in checkpoints] \
        == [(second.checkpoint, "proj-a", plan_id)]
    [delete] = _deletes(api)
    assert delete.status == ops.SUCCEEDED
    assert delete.checkpoint == api.service.operation(first.id).checkpoint
    assert (delete.project_id, delete.user_id) == ("proj-a",
                                                   "user-member-a")
    # the delete acted with the protect's trust (lent), never a cloud name,
    # and did not delete it: the protect's follow-up did, afterwards
    assert delete.args["trust_id"] == second_trust and \
        delete.args["trust_lent_by"] == second.id and \
        "cloud" not in delete.args
    assert api.trusts.deleted == [(trust_id, "trust"),
                                  (second_trust, "trust")]
    assert not api.trusts.live
    assert second.args["followed_up"]["plan"] == plan_id and \
        "follow_up" not in second.args
    assert second.args["ended_trust_id"] == second_trust


def test_a_failed_protect_fails_the_plan_and_applies_no_retention(
        api, board):
    plan_id = _plan(api)
    _conducted_run(api, board, plan_id)
    kept = _plan_row(api, plan_id)["last_checkpoint"]
    api.clouds["proj-a"].fail.add(("protect", "net"))
    failed = _conducted_run(api, board, plan_id)
    shown = _plan_row(api, plan_id)
    assert shown["last_status"] == "failed", shown
    assert shown["last_error"] and "net" in shown["last_error"]
    assert shown["last_checkpoint"] == api.service.operation(
        failed.id).checkpoint
    assert api.service.show_checkpoint(kept).status == "available"
    assert _deletes(api) == []
    assert not api.trusts.live and len(api.trusts.deleted) == 2


def test_a_conductor_dying_after_the_commit_leaves_the_rest_to_another(
        api, board):
    plan_id = _plan(api)
    _conducted_run(api, board, plan_id)
    first_checkpoint = _plan_row(api, plan_id)["last_checkpoint"]
    second = _posted_run(api, board, plan_id)
    trust_id = second.args["trust_id"]
    # The protect runs and commits; the conductor dies before its
    # follow-up (the job is still claimed, not consumed).
    assert _worker(api).run(second.id) is conductor.CONSUME
    assert api.service.operation(second.id).status == ops.SUCCEEDED
    assert _plan_row(api, plan_id)["last_status"] == "running"
    assert trust_id in api.trusts.live       # kept for the follow-up
    # ... and the sweeper leaves it to the follow-up
    assert sweeper.TrustSweeper(api.service.stores, api.trusts,
                                clock=lambda: api.trusts.now)() == []
    assert trust_id in api.trusts.live

    # The next conductor claims the job: the operation ended, its
    # follow-up has not run: it runs it.
    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    shown = _plan_row(api, plan_id)
    assert shown["last_status"] == "succeeded", shown
    assert [d.checkpoint for d in _deletes(api)] == [first_checkpoint]
    assert not api.trusts.live
    # a job claimed once more (its consumption lost) deletes nothing again
    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    assert len(_deletes(api)) == 1 and not api.trusts.live


def test_a_follow_up_broken_after_retention_is_finished_once(api, board):
    plan_id = _plan(api)
    _conducted_run(api, board, plan_id)
    second = _posted_run(api, board, plan_id)
    worker = _worker(api)
    plans = worker.service.stores.plans

    def database_gone(*_args, **_kwargs):
        raise OSError("the database went away")
    plans.record_run = database_gone
    # retention ran, the record broke: the job is released, trust kept
    assert worker(board.jobs[-1]) is conductor.RELEASE
    assert len(_deletes(api)) == 1
    assert second.args["trust_id"] in api.trusts.live
    assert _plan_row(api, plan_id)["last_status"] == "running"
    del plans.record_run          # the database is back

    assert _worker(api)(board.jobs[-1]) is conductor.CONSUME
    shown = _plan_row(api, plan_id)
    assert (shown["last_status"], shown["last_checkpoint"]) == (
        "succeeded", api.service.operation(second.id).checkpoint)
    assert len(_deletes(api)) == 1 and not api.trusts.live


def test_no_token_reaches_the_job_the_operations_or_the_flows(api, board):
    plan_id = _plan(api)
    for _ in range(2):
        _conducted_run(api, board, plan_id)
    kept = [json.dumps(job.details, default=str) for job in board.jobs]
    for op in api.service.list_operations():
        kept.append(json.dumps(op.to_dict(), default=str))
        _book, detail = api.service.stores.flows.load(op.id)
        kept.append(json.dumps(detail.meta, default=str))
        kept += [json.dumps(atom.to_dict(), default=str) for atom in detail]
    kept.append(json.dumps(_plan_row(api, plan_id)))
    assert len(_deletes(api)) == 1
    assert not [text for text in kept if TOKEN in text]
