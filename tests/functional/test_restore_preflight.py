"""Dry-run, pre-flight and selective restore on a real engine and bank.

The fake cloud logs every plugin action, so "creates nothing" is
checked on the cloud itself: no record made, no restore step run.
"""

import threading

import pytest

from protection import exceptions
from protection.plugin import checks
from protection.operations import runner
from protection.restore import selection

SERVER, VOLUME, NETWORK = "Test::Server", "Test::Volume", "Test::Network"


def actions(cloud):
    return {what for what, _rid in cloud.log}


def test_dry_run_creates_nothing_and_shows_the_plan(service, cloud,
                                                    checkpoint_id):
    cloud.log.clear()
    report = service.dry_run(checkpoint_id, cloud, {
        "Test::Server#web": {"restore_name": "web-copy"}})
    assert report.ok
    assert cloud.created() == []
    assert actions(cloud) == {"preflight"}      # hooks ran, nothing else
    assert [[r.id for r in stage] for stage in report.stages] == [
        ["img", "net"], ["vol-db", "vol-web"], ["db", "web"]]
    assert ("name", "web", "web-copy") in [
        (m.what, m.original, m.target) for m in report.mappings
        if m.resource == "Test::Server#web"]
    children = {m.original for m in report.mappings
                if m.resource == "Test::Server#web" and m.what == "child"}
    assert children == {"vol-web", "net"}
    verified = report.checks[0]
    assert (verified.name, verified.verdict) == ("checkpoint verifies",
                                                 checks.PASS)
    assert service.list_operations()[0].kind == "protect"
    assert len(service.list_operations()) == 1    # no restore recorded


def test_a_failing_check_stops_the_restore_before_anything(
        service, cloud, checkpoint_id):
    cloud.refuse.add("db")
    report = service.dry_run(checkpoint_id, cloud)
    assert [str(c) for c in report.failing] == [
        "Test::Server#db: room: no room for db"]
    cloud.log.clear()
    with pytest.raises(exceptions.PreflightFailed,
                       match="room: no room for db"):
        service.restore(checkpoint_id, cloud)
    assert cloud.created() == []
    assert actions(cloud) == {"preflight"}
    assert len(service.list_operations()) == 1
    result = service.restore(checkpoint_id, cloud, skip_preflight=True)
    assert result.ok and len(cloud.created()) == 6


def test_a_tampered_checkpoint_fails_its_check_in_the_dry_run(
        service, cloud, checkpoint_id, bank_path):
    data = (bank_path / "checkpoints" / checkpoint_id /
            "resources/Test::Volume/vol-db/data")
    data.write_bytes(b"other-data")
    report = service.dry_run(checkpoint_id, cloud)
    assert [c.name for c in report.failing] == ["checkpoint verifies"]
    assert "resources/Test::Volume/vol-db/data" in report.failing[0].detail
    assert cloud.created() == []


def test_only_restores_the_resource_and_what_it_needs(service, cloud,
                                                      checkpoint_id):
    result = service.restore(checkpoint_id, cloud,
                             only=[(VOLUME, "vol-web")])
    assert sorted(result.restored) == ["Test::Image#img",
                                       "Test::Volume#vol-web"]
    assert sorted(result.resources) == sorted(result.restored)
    assert len(cloud.created()) == 2
    new_volume = cloud.records[result.restored["Test::Volume#vol-web"]]
    assert new_volume["data"] == b"web-data"


def test_an_excluded_child_must_be_mapped(service, cloud, checkpoint_id):
    excluded = [(NETWORK, "net")]
    report = service.dry_run(checkpoint_id, cloud, exclude=excluded)
    assert sorted(str(c) for c in report.failing) == [
        "Test::Server#db: child: net is not restored: map it with "
        "child_mapping",
        "Test::Server#web: child: net is not restored: map it with "
        "child_mapping"]
    assert report.excluded == [{"resource": "Test::Network#net",
                                "needed_by": ["Test::Server#web",
                                              "Test::Server#db"]}]
    with pytest.raises(exceptions.PreflightFailed):
        service.restore(checkpoint_id, cloud, exclude=excluded)
    assert cloud.created() == []
    mapped = {SERVER: {"child_mapping": {"net": "existing-net"}}}
    assert service.dry_run(checkpoint_id, cloud, mapped,
                           exclude=excluded).ok
    result = service.restore(checkpoint_id, cloud, mapped, exclude=excluded)
    assert "Test::Network#net" not in result.restored
    web = cloud.records[result.restored["Test::Server#web"]]
    assert web["children"]["net"] == "existing-net"


def test_a_parameter_for_a_resource_left_out_is_refused(
        service, cloud, checkpoint_id):
    with pytest.raises(exceptions.InvalidParameter,
                       match="no resource of this type"):
        service.dry_run(checkpoint_id, cloud,
                        {NETWORK: {"restore_name": "x"}},
                        exclude=[(NETWORK, "net")])
    with pytest.raises(selection.SelectionError, match="no such resource"):
        service.restore(checkpoint_id, cloud, only=[(SERVER, "cache")])
    assert cloud.created() == []


def test_an_interrupted_selective_restore_resumes_the_same_selection(
        service, make_service, cloud, checkpoint_id):
    cloud.slow["img"] = 0.5
    timer = threading.Timer(0.2, service.runner.interrupt)
    timer.start()
    with pytest.raises(runner.OperationInterrupted) as caught:
        service.restore(checkpoint_id, cloud, only=[(VOLUME, "vol-db")])
    timer.join()
    result = make_service().resume(caught.value.operation_id,
                                   lambda _name: cloud)
    assert sorted(result.restored) == ["Test::Image#img",
                                       "Test::Volume#vol-db"]
    assert sorted(result.resources) == sorted(result.restored)
