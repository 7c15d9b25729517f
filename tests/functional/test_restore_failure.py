"""Restore failure policies: rollback leaves nothing; keep lists the rest."""

import pytest

from protection import exceptions
from tests.fakes import bank_edits
from tests.fakes import fake_cloud

PARENT_CHILD = [("web", "vol-web"), ("web", "net"), ("db", "vol-db"),
                ("db", "net"), ("vol-web", "img"), ("vol-db", "img")]


def test_rollback_deletes_everything_the_restore_created(
        service, cloud, checkpoint_id):
    cloud.fail.add(("restore", "web"))
    cloud.slow["db"] = 0.2          # db is created while web fails
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, cloud)
    assert cloud.created() == []
    failure = caught.value.failures[0]
    assert failure.resource.key == ("Test::Server", "web")
    assert failure.step == "CreateRecord"
    assert "No valid host was found" in failure.message
    assert "Test::Server web" in str(caught.value)
    result = caught.value.result
    assert result.status == "failed"
    assert result.restored == {}            # every mapping was reverted
    assert result.resources["Test::Server#web"] == "failed"
    assert result.resources["Test::Image#img"] == "reverted"


def test_rollback_reverts_parents_before_children(
        service, cloud, checkpoint_id):
    cloud.fail.add(("restore", "web"))
    cloud.slow["db"] = 0.2
    with pytest.raises(exceptions.OperationFailed):
        service.restore(checkpoint_id, cloud)
    reverted = [rid for what, rid in cloud.log if what == "restore-revert"]
    for parent, child in PARENT_CHILD:
        if parent in reverted and child in reverted:
            assert reverted.index(parent) < reverted.index(child)
    assert {"img", "net", "vol-web", "vol-db"} <= set(reverted)


def test_keep_leaves_and_lists_what_was_created(
        service, cloud, checkpoint_id):
    cloud.fail.add(("restore", "web"))
    cloud.slow["db"] = 0.2
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, cloud, policy="keep")
    result = caught.value.result
    assert result.policy == "keep"
    assert sorted(result.left_behind.values()) == cloud.created()
    assert "Test::Server#web" not in result.left_behind
    assert not any(what == "restore-revert" for what, _ in cloud.log)
    for rid in ("img", "net", "vol-web"):
        assert f"Test::{_kind(rid)}#{rid}" in result.left_behind


def _kind(rid):
    return {"img": "Image", "net": "Network"}.get(rid, "Volume")


def test_failing_child_stops_its_parents_from_starting(
        service, cloud, checkpoint_id):
    cloud.fail.add(("restore", "img"))
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, cloud)
    started = {rid for what, rid in cloud.log if what == "restore"}
    assert not started & {"vol-web", "vol-db", "web", "db"}
    assert cloud.created() == []
    assert caught.value.failures[0].resource.id == "img"


def test_invalid_parameter_is_rejected_before_any_work(
        service, cloud, checkpoint_id):
    cloud.log.clear()
    with pytest.raises(exceptions.InvalidParameter) as caught:
        service.restore(checkpoint_id, cloud, parameters={
            "Test::Volume#vol-db": {"copies": 0}})
    assert "Test::Volume vol-db" in str(caught.value)
    assert "copies" in str(caught.value)
    assert cloud.log == [] and cloud.created() == []


def test_unknown_policy_is_a_clear_error(service, cloud, checkpoint_id):
    with pytest.raises(exceptions.StackvaultError, match="failure policy"):
        service.restore(checkpoint_id, cloud, policy="pray")


def test_restore_with_parameters_per_resource(service, cloud,
                                              checkpoint_id):
    result = service.restore(checkpoint_id, cloud, parameters={
        "Test::Volume": {"restore_name": "copy"},
        "Test::Volume#vol-db": {"restore_name": "db-copy"}})
    new = result.restored
    assert cloud.records[new["Test::Volume#vol-web"]]["name"] == "copy"
    assert cloud.records[new["Test::Volume#vol-db"]]["name"] == "db-copy"
    assert cloud.records[new["Test::Image#img"]]["name"] == "img"


def test_restored_data_comes_from_the_bank(service, cloud, checkpoint_id):
    for rid in list(cloud.records):
        cloud.records[rid]["data"] = b"changed after protect"
    result = service.restore(checkpoint_id, cloud)
    new_id = result.restored["Test::Volume#vol-web"]
    assert cloud.records[new_id]["data"] == b"web-data"


def test_restore_needs_a_plugin_for_every_type(make_service, cloud,
                                               checkpoint_id, bank_path):
    from oslo_config import cfg

    from protection import config
    from protection.bank.filesystem import FileSystemBank
    from protection.plugin.registry import PluginRegistry
    from protection.service import ProtectionService
    conf = config.load_config([], conf=cfg.ConfigOpts())
    partial = ProtectionService(
        conf, PluginRegistry([fake_cloud.ServerPlugin()]),
        FileSystemBank(str(bank_path)))
    with pytest.raises(exceptions.PluginNotFound, match="Test::Volume"):
        partial.restore(checkpoint_id, cloud)
    assert cloud.created() == []


def _rewrite_metadata(service, checkpoint_id, rtype, rid, metadata):
    """What a buggy plugin would have saved: hashed into the manifest like
    anything protect writes, so only the schema check can catch it."""
    checkpoint = service.checkpoints.get(checkpoint_id)
    bank_edits.resave_metadata(
        checkpoint, checkpoint.graph.resource((rtype, rid)), metadata)


def test_metadata_that_breaks_the_plugins_schema_stops_restore_first(
        service, cloud, checkpoint_id):
    from protection.plugin import saved_metadata as saved_metadata
    _rewrite_metadata(service, checkpoint_id, "Test::Volume", "vol-db",
                      {"name": 7})
    with pytest.raises(saved_metadata.InvalidMetadata) as err:
        service.restore(checkpoint_id, cloud)
    assert "Test::Volume vol-db" in str(err.value)
    assert "'type' is a required property" in str(err.value)
    assert cloud.created() == []


def test_verify_lists_metadata_that_breaks_the_schema(service, cloud,
                                                      checkpoint_id):
    _rewrite_metadata(service, checkpoint_id, "Test::Image", "img", {})
    with pytest.raises(exceptions.OperationFailed) as err:
        service.verify(checkpoint_id)
    problems = err.value.result.problems
    assert any("Test::Image img" in p and "required property" in p
               for p in problems), problems
