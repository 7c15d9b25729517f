"""The API with a jobboard: each operation is posted with a Keystone
trust made from the caller's token, and a conductor's job worker (in
another service on the same bank and database) runs it acting with that
trust, then deletes it, whatever way the operation ends.

Real TaskFlow engines, bank and persistence database; the jobboard is a
list and Keystone's trusts are :class:`tests.fakes.trusts.FakeTrusts`
(a trust-scoped connection is the cloud of the trust's project).
"""


import pytest

from protection import exceptions
from protection.bank.filesystem import FileSystemBank
from protection.operations import conductor
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import sweeper
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import api as fake_api
from tests.fakes import fake_cloud
from tests.fakes.jobboard import Board

PROTECT = {"name": "app", "resources": [{"type": "Test::Server",
                                         "id": "web"}]}


@pytest.fixture
def board():
    return Board()


@pytest.fixture
def api(tmp_path, board):
    return fake_api.Api(tmp_path / "bank", board=board)


def _no_cloud_name(name):
    raise AssertionError(f"a trust operation asked for cloud {name!r}")


def _worker(api):
    """A conductor's job worker: its own service on the API's bank and
    database, the same Keystone (trusts), no clouds.yaml."""
    service = ProtectionService(
        api.conf, PluginRegistry([p() for p in fake_cloud.ALL]),
        FileSystemBank(api.service.bank.root), trusts=api.trusts)
    return conductor.JobWorker(api.conf, service, _no_cloud_name,
                               sleep=lambda _s: None)


def _run_last_job(api, board, expect=conductor.CONSUME):
    assert _worker(api)(board.jobs[-1]) is expect
    return api.service.operation(board.jobs[-1].details["operation_id"])


def _protected(api, board):
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 202, resp.text
    return resp.json["operation_id"]


def test_protect_and_restore_run_in_a_conductor_with_the_callers_trust(
        api, board):
    operation_id = _protected(api, board)
    op = api.service.operation(operation_id)
    assert op.status == ops.QUEUED
    [(trust_id, user, project, roles)] = api.trusts.made
    assert (user, project, roles) == ("user-member-a", "proj-a",
                                      ["member", "reader"])
    assert op.args["trust_id"] == trust_id and "cloud" not in op.args
    _book, detail = api.service.stores.flows.load(operation_id)
    assert detail.meta["factory"]["kwargs"]["trust_id"] == trust_id

    op = _run_last_job(api, board)
    assert op.status == ops.SUCCEEDED
    assert api.trusts.deleted == [(trust_id, "trust")]
    assert "trust_id" not in op.args and \
        op.args["ended_trust_id"] == trust_id

    resp = api.call("POST", "/v1/restores", "member",
                    {"checkpoint_id": op.checkpoint})
    assert resp.status_code == 202, resp.text
    restored = _run_last_job(api, board)
    assert restored.status == ops.SUCCEEDED
    new_web = restored.result["restored"]["Test::Server#web"]
    assert new_web in api.clouds["proj-a"].records   # the caller's project
    assert new_web not in api.clouds["proj-b"].records
    assert len(api.trusts.deleted) == 2 and not api.trusts.live


def test_a_board_that_is_down_is_503_and_nothing_is_made(
        api, monkeypatch):
    api.service.poster._board = None

    def unreachable(*_args):
        raise exceptions.OperationError("cannot reach the redis jobboard")
    monkeypatch.setattr(jobboard, "connect", unreachable)
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 503
    assert "cannot reach" in resp.json["error"]["message"]
    assert api.trusts.made == [] and api.service.list_operations() == []


def test_a_recording_that_fails_takes_the_trust_back(api, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError("database is locked")
    monkeypatch.setattr(api.service.stores.operations, "create", broken)
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 500
    [(trust_id, *_rest)] = api.trusts.made
    assert api.trusts.deleted == [(trust_id, "caller")]
    assert not api.trusts.live


def test_a_post_that_fails_takes_the_trust_back_and_leaves_nothing(
        api, board):
    board.down = True
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code >= 500
    assert "was not started" in resp.json["error"]["message"]
    assert not api.trusts.live
    [op] = api.service.list_operations()
    assert op.status == ops.FAILED and "trust_id" not in op.args
    assert api.service.show_checkpoint(op.checkpoint).status == "error"


def test_a_failed_restore_deletes_its_trust(api, board):
    _protected(api, board)
    checkpoint = _run_last_job(api, board).checkpoint
    api.clouds["proj-a"].fail.add(("restore", "web"))
    api.call("POST", "/v1/restores", "member",
             {"checkpoint_id": checkpoint})
    assert _run_last_job(api, board).status == ops.FAILED
    assert not api.trusts.live


def test_a_trust_keystone_refuses_fails_the_operation_at_once(api, board):
    operation_id = _protected(api, board)
    [(trust_id, *_rest)] = api.trusts.made
    api.trusts.refused.add(trust_id)
    op = _run_last_job(api, board)
    assert op.status == ops.FAILED
    [failure] = op.result["failures"]
    assert f"no longer honours trust {trust_id}" in failure["message"]
    assert "Traceback" not in failure["message"]
    assert api.service.show_checkpoint(op.checkpoint).status == "error"
    # consumed, not retried: the job is not run again
    assert api.service.operation(operation_id).status == ops.FAILED


def test_a_given_up_operation_deletes_its_trust_and_abort_makes_a_new_one(
        api, board):
    operation_id = _protected(api, board)
    worker = _worker(api)
    worker.service.resume = lambda *_args: (_ for _ in ()).throw(
        OSError("the bank is unplugged"))
    for _ in range(api.conf.jobboard.max_attempts):
        assert worker(board.jobs[0]) is conductor.RELEASE
    assert worker(board.jobs[0]) is conductor.CONSUME
    assert api.service.operation(operation_id).status == ops.FAILED
    assert not api.trusts.live

    resp = api.call("POST", f"/v1/operations/{operation_id}/abort",
                    "member")
    assert resp.status_code == 202, resp.text
    op = api.service.operation(operation_id)
    assert op.status == ops.QUEUED and op.args["abort"]["user_id"] == \
        "user-member-a"
    assert len(api.trusts.made) == 2 and op.args["trust_id"] in \
        api.trusts.live
    op = _run_last_job(api, board)
    assert op.status == ops.ABORTED
    assert not api.trusts.live
    assert api.service.list_checkpoints() == []


def test_a_resume_through_the_api_is_posted_with_the_operations_trust(
        api, board):
    operation_id = _protected(api, board)
    [(trust_id, *_rest)] = api.trusts.made
    worker = _worker(api)
    api.clouds["proj-a"].slow["web"] = 0.5
    import threading
    timer = threading.Timer(0.2, worker.stop)
    timer.start()
    assert worker(board.jobs[0]) is conductor.RELEASE
    timer.join()
    api.clouds["proj-a"].slow.clear()
    assert api.service.operation(operation_id).shown_status == \
        ops.INTERRUPTED
    assert api.call("POST", f"/v1/operations/{operation_id}/resume",
                    "other").status_code == 404
    resp = api.call("POST", f"/v1/operations/{operation_id}/resume",
                    "member")
    assert resp.status_code == 202, resp.text
    assert api.call("POST", f"/v1/operations/{operation_id}/resume",
                    "member").status_code == 409       # queued already
    assert len(api.trusts.made) == 1        # the operation's own trust
    op = _run_last_job(api, board)
    assert op.status == ops.SUCCEEDED
    assert api.trusts.deleted == [(trust_id, "trust")]


def test_the_sweeper_deletes_a_trust_whose_deletion_failed(api, board):
    operation_id = _protected(api, board)
    api.trusts.failing_deletes = 1
    op = _run_last_job(api, board)
    assert op.status == ops.SUCCEEDED and op.args["trust_id"] in \
        api.trusts.live
    sweep = sweeper.TrustSweeper(api.service.stores, api.trusts)
    assert sweep() == [operation_id]
    assert not api.trusts.live
    assert sweep() == []
