"""Protect, list, show, verify and delete checkpoints in a real bank."""

import json
import os

import pytest

from protection.checkpoint import store as cp
from protection import exceptions
from tests.fakes.fake_cloud import ROOTS


def _index(bank_path, checkpoint_id):
    with open(bank_path / "checkpoints" / checkpoint_id / "index.json") as f:
        return json.load(f)


def test_protect_writes_an_available_checkpoint_with_manifest(
        service, cloud, bank_path):
    result = service.protect(cloud, "app", ROOTS)
    index = _index(bank_path, result.checkpoint_id)
    assert index["status"] == "available"
    assert index["format_version"] == cp.FORMAT_VERSION
    assert index["plan"]["resources"] == [list(r) for r in ROOTS]
    assert len(index["graph"]["nodes"]) == 6
    manifest = json.loads((bank_path / "checkpoints" / result.checkpoint_id
                           / "manifest.json").read_text())
    assert "resources/Test::Volume/vol-web/data" in manifest["objects"]
    assert set(result.resources.values()) == {"available"}


def test_a_new_service_restores_from_the_bank_alone(
        service, make_service, cloud, checkpoint_id):
    """No database: a fresh service finds and restores the checkpoint."""
    fresh = make_service()
    assert [c.id for c in fresh.list_checkpoints()] == [checkpoint_id]
    result = fresh.restore(checkpoint_id, cloud)
    assert len(result.restored) == 6


def test_protect_failure_leaves_an_error_checkpoint_with_reasons(
        service, cloud, bank_path):
    cloud.fail.add(("protect", "vol-db"))
    cloud.slow["vol-db"] = 0.3        # vol-web is protected before it fails
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.protect(cloud, "app", ROOTS)
    checkpoint_id = caught.value.result.checkpoint_id
    index = _index(bank_path, checkpoint_id)
    assert index["status"] == "error"
    assert any("vol-db" in e and "quota exceeded" in e
               for e in index["errors"])
    assert index["resources"]["Test::Volume#vol-db"]["status"] == "error"
    # what was protected is reverted (a real plugin deletes its backups)
    assert cloud.index("protect-done", "vol-web") < \
        cloud.index("protect-revert", "vol-web")
    with pytest.raises(exceptions.CheckpointNotAvailable):
        service.restore(checkpoint_id, cloud)


def test_protect_of_unknown_resource_is_a_clear_error(service, cloud,
                                                      bank_path):
    with pytest.raises(exceptions.ResourceNotFound, match="nope"):
        service.protect(cloud, "app", [("Test::Server", "nope")])
    assert not (bank_path / "checkpoints").exists()


def test_protect_of_type_without_plugin(service, cloud):
    with pytest.raises(exceptions.PluginNotFound, match="OS::Nope::Thing"):
        service.protect(cloud, "app", [("OS::Nope::Thing", "x")])


def test_cycle_is_reported_with_its_resources(service, cloud):
    cloud.deps["img"] = ["web"]
    with pytest.raises(exceptions.CycleError) as caught:
        service.protect(cloud, "app", ROOTS)
    text = str(caught.value)
    assert "Test::Server web" in text and "Test::Image img" in text


def test_verify_detects_a_changed_byte(service, cloud, checkpoint_id,
                                       bank_path):
    assert service.verify(checkpoint_id, cloud).ok
    data = (bank_path / "checkpoints" / checkpoint_id / "resources" /
            "Test::Volume" / "vol-db" / "data")
    raw = bytearray(data.read_bytes())
    raw[0] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.verify(checkpoint_id)
    assert any("vol-db/data: sha256 mismatch" in p
               for p in caught.value.result.problems)


def test_verify_detects_a_missing_object(service, cloud, checkpoint_id,
                                         bank_path):
    os.unlink(bank_path / "checkpoints" / checkpoint_id / "resources" /
              "Test::Image" / "img" / "metadata.json")
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.verify(checkpoint_id, cloud)
    problems = caught.value.result.problems
    assert "resources/Test::Image/img/metadata.json: missing" in problems
    # the plugin's own verify flow also noticed
    assert any(f.resource is not None and f.resource.id == "img"
               for f in caught.value.failures)


def test_delete_runs_plugin_flows_then_removes_every_object(
        service, cloud, checkpoint_id, bank_path):
    service.delete(checkpoint_id, cloud)
    deleted = {rid for what, rid in cloud.log if what == "delete"}
    assert deleted == {"web", "db", "vol-web", "vol-db", "net", "img"}
    assert not (bank_path / "checkpoints" / checkpoint_id).exists()
    with pytest.raises(exceptions.CheckpointNotFound):
        service.show_checkpoint(checkpoint_id)


def test_failed_delete_keeps_the_checkpoint_as_error_deleting(
        service, cloud, checkpoint_id, bank_path):
    cloud.fail.add(("delete", "vol-web"))
    with pytest.raises(exceptions.OperationFailed, match="vol-web"):
        service.delete(checkpoint_id, cloud)
    assert _index(bank_path, checkpoint_id)["status"] == "error_deleting"
    cloud.fail.clear()
    service.delete(checkpoint_id, cloud)          # a retry finishes it
    assert not (bank_path / "checkpoints" / checkpoint_id).exists()


def test_progress_reports_every_resource(make_service, cloud):
    service = make_service()
    events = []
    service.progress.add_listener(events.append)
    service.protect(cloud, "app", ROOTS)
    done = {e.resource.id for e in events if e.state == "done"}
    assert done == {"web", "db", "vol-web", "vol-db", "net", "img"}
    assert all(e.operation == "protect" for e in events)


def test_a_checkpoint_left_protecting_needs_force_to_delete(
        service, cloud, checkpoint_id, bank_path):
    """What a protect process that died leaves behind can be cleaned up."""
    checkpoint = service.show_checkpoint(checkpoint_id)
    checkpoint.index["status"] = "protecting"
    checkpoint.save_index()
    with pytest.raises(exceptions.StackvaultError, match="--force"):
        service.delete(checkpoint_id, cloud)
    assert _index(bank_path, checkpoint_id)["status"] == "protecting"
    service.delete(checkpoint_id, cloud, force=True)
    deleted = {rid for what, rid in cloud.log if what == "delete"}
    assert deleted == {"web", "db", "vol-web", "vol-db", "net", "img"}
    assert not (bank_path / "checkpoints" / checkpoint_id).exists()


def test_an_in_memory_runner_keeps_no_flow_and_still_restores(
        service, cloud, checkpoint_id):
    """``Runner.persistent = False`` (benchmarks/durability.py only):
    the same operation, its flow on the in-memory engine."""
    service.runner.persistent = False
    result = service.restore(checkpoint_id, cloud)
    assert len(result.restored) == 6
    assert service.operation(result.operation_id).status == "succeeded"
    with pytest.raises(LookupError):
        service.stores.flows.load(result.operation_id)
    service.runner.persistent = True
    again = service.restore(checkpoint_id, cloud)
    assert service.stores.flows.size(again.operation_id) > 0
