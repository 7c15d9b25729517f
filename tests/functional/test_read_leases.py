"""Read leases: a restore (or verify) holds its checkpoint; delete and a
plan's retention refuse to remove it meanwhile; a dead reader's lease
expires (issue #23 item 7)."""

import threading
import time

import pytest

from protection import exceptions
from protection.checkpoint import store as cp
from protection.plans import retention
from protection.plans import run as plan_run
from tests.fakes.fake_cloud import ROOTS


def test_delete_is_refused_while_a_restore_reads_the_checkpoint(
        service, cloud, checkpoint_id):
    cloud.slow["web"] = 1.0          # the restore is still running
    restoring = threading.Thread(
        target=service.restore, args=(checkpoint_id, cloud))
    restoring.start()
    deadline = time.monotonic() + 10
    while ("restore", "web") not in cloud.log and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(exceptions.CheckpointLeased) as refused:
        service.delete(checkpoint_id, cloud)
    restoring.join()
    restore_op = [op for op in service.list_operations()
                  if op.kind == "restore"][0]
    assert f"restore operation {restore_op.id}" in str(refused.value)
    assert service.show_checkpoint(checkpoint_id).status == cp.AVAILABLE
    assert restore_op.status == "succeeded"
    # The restore ended: its lease with it.
    assert service.stores.operations.leases.live(checkpoint_id) == []
    service.delete(checkpoint_id, cloud)


def test_an_expired_lease_of_a_dead_reader_is_ignored(
        service, cloud, checkpoint_id):
    leases_ = service.stores.operations.leases
    leases_.take(checkpoint_id, "op-dead", "restore",
                 now=time.time() - leases_.ttl - 1)
    service.delete(checkpoint_id, cloud)
    assert service.list_checkpoints() == []


def test_a_restore_refuses_a_checkpoint_a_delete_has_claimed(
        service, cloud, checkpoint_id):
    """The other order of the race: the delete claimed first."""
    claimed = service.show_checkpoint(checkpoint_id)
    claimed.claim(cp.DELETING, "op-delete")
    with pytest.raises(Exception, match="deleting"):
        service.restore(checkpoint_id, cloud, skip_preflight=True)
    assert service.stores.operations.leases.live(checkpoint_id) == []


def test_a_delete_that_finds_a_lease_after_its_claim_gives_it_back(
        service, cloud, checkpoint_id, monkeypatch):
    leases_ = service.stores.operations.leases
    real_claim = cp.Checkpoint.claim

    def claim_then_a_restore_leases(checkpoint, status, operation_id=None):
        real_claim(checkpoint, status, operation_id)
        leases_.take(checkpoint_id, "op-restore", "restore")
    monkeypatch.setattr(cp.Checkpoint, "claim", claim_then_a_restore_leases)
    with pytest.raises(exceptions.CheckpointLeased, match="op-restore"):
        service.delete(checkpoint_id, cloud)
    found = service.show_checkpoint(checkpoint_id)
    assert found.status == cp.AVAILABLE and found.owner is None


def test_prune_keeps_a_leased_checkpoint_and_says_why(service, cloud):
    plan = service.stores.plans.create(
        "nightly", {"resources": [list(r) for r in ROOTS], "parameters": {},
                    "schedule": None, "keep": 1, "keep_days": None,
                    "cloud": "devcloud"}, None)
    def connect(_name):
        return cloud
    first = plan_run.run(service, connect, plan).checkpoint_id
    service.stores.operations.leases.take(first, "op-r", "restore")
    done = plan_run.run(service, connect, plan)
    decision = [d for d in done.retention if d.checkpoint_id == first][0]
    assert decision.action == retention.REFUSED
    assert "operation op-r" in decision.reason
    assert service.show_checkpoint(first).status == cp.AVAILABLE
