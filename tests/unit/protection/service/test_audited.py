"""The audit trail: every delete, prune, abort and undo leaves a record
of who, what, when and how it ended, in the database and on the
``stackvault.audit`` logger, and ``stackvault audit list`` shows them."""

import getpass
import json
import logging
import socket
import time

import mock
import pytest

from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import store as cp
from protection.model.report import OperationResult
from protection.plugin import journal as protect_journal
from protection.service import ProtectionService
from tests.fakes import api as fake_api
from tests.fakes import cli as fake_cli

ME = f"{getpass.getuser()}@{socket.gethostname()}"


@pytest.fixture
def run(tmp_path):
    return fake_cli.Cli(tmp_path)


def _records(run, *argv):
    return run.json("audit", "list", *argv)


def test_a_delete_records_who_what_when_and_the_outcome(run, caplog):
    checkpoint_id = run.protect("Test::Server=web")
    before = time.time()
    with caplog.at_level(logging.INFO, logger="stackvault.audit"):
        assert run("checkpoint", "delete", checkpoint_id) == 0, run.err
    [record] = _records(run)
    assert record["actor"] == ME
    assert (record["action"], record["target"], record["checkpoint"],
            record["outcome"]) == ("delete", checkpoint_id, checkpoint_id,
                                   "succeeded")
    assert record["resources"] == 4     # web, its volume, image, network
    assert record["at"] >= time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(before - 1))
    [line] = [r.getMessage() for r in caplog.records
              if r.name == "stackvault.audit"]
    assert json.loads(line) == record


def test_a_refused_delete_is_recorded_with_the_reason(run):
    assert run("checkpoint", "delete", "no-such-checkpoint") == 2
    [record] = _records(run)
    assert (record["action"], record["outcome"]) == ("delete", "refused")
    assert "does not exist" in record["detail"]


def test_a_prune_records_each_checkpoint_it_deletes(run):
    assert run("plan", "create", "nightly", "Test::Network=net",
               "--keep", "1") == 0, run.err
    for _ in range(3):
        assert run("plan", "run", "nightly") == 0, run.err
    pruned = [r for r in _records(run) if r["action"] == "prune"]
    assert len(pruned) == 2
    assert {r["outcome"] for r in pruned} == {"succeeded"}


def test_an_abort_is_recorded_with_its_operation_and_checkpoint(run):
    checkpoint_id = run.protect("Test::Network=net")
    [op] = run.json("operation", "list")
    aborted = OperationResult("protect", "aborted",
                              checkpoint_id=checkpoint_id,
                              resources={"Test::Network#net": "aborted"})
    with mock.patch.object(ProtectionService, "_take_over",
                           return_value=aborted):
        assert run("operation", "abort", op["ID"]) == 0, run.err
    [record] = _records(run)
    assert (record["action"], record["target"], record["checkpoint"],
            record["outcome"], record["resources"]) == (
        "abort", op["ID"], checkpoint_id, "succeeded", 1)


def test_an_undo_of_what_a_dead_protect_recorded_is_recorded(run):
    checkpoint_id = run.protect("Test::Network=net")
    checkpoint = cp.CheckpointStore(FileSystemBank(str(run.bank_path))) \
        .get(checkpoint_id)
    checkpoint.index["status"] = "error"
    checkpoint.save_index()
    undone = protect_journal.Undone(deleted=["net-new"],
                                    left={"Test::Network#x": "foreign"})
    with mock.patch.object(protect_journal, "undo_recorded",
                           return_value=undone):
        assert run("checkpoint", "delete", checkpoint_id) == 0, run.err
    delete, undo = _records(run)         # newest first
    assert (undo["action"], undo["target"], undo["resources"]) == (
        "undo", checkpoint_id, 1)
    assert "deleted: net-new" in undo["detail"]
    assert "foreign" in undo["detail"]
    assert delete["action"] == "delete"


def test_audit_list_limit_and_its_mistakes(run):
    for name in ("a", "b", "c"):
        run("checkpoint", "delete", name)
    assert len(_records(run)) == 3
    assert [r["target"] for r in _records(run, "--limit", "2")] == ["c",
                                                                    "b"]
    for bad in ("0", "-1", "99999999999999999999", "x"):
        assert run("audit", "list", "--limit", bad) == 2
        assert run.err.count("\n") == 1 and "--limit" in run.err


def test_through_the_api_the_record_names_the_keystone_user(tmp_path):
    api = fake_api.Api(tmp_path / "bank")
    _op, checkpoint_id = api.protect("proj-a", "user-member-a")
    resp = api.call("DELETE", f"/v1/checkpoints/{checkpoint_id}")
    assert resp.status_code in (200, 202), resp.text
    [record] = api.service.audit_records()
    assert (record.actor.project_id, record.actor.user_id) == (
        "proj-a", "user-member-a")
    assert record.actor.who == "user user-member-a project proj-a"


def test_no_secret_reaches_a_record(run):
    checkpoint_id = run.protect("Test::Network=net")
    leak = Exception('HTTP 500: {"password": "hunter2", '
                     '"token": "gAAAAsecret"}')
    with mock.patch("protection.service.delete.start", side_effect=leak):
        run("checkpoint", "delete", checkpoint_id)
    [record] = _records(run)
    assert record["outcome"] == "failed"
    assert "hunter2" not in json.dumps(record)
    assert "gAAAAsecret" not in json.dumps(record)
