"""Pipelined restore (doc/design.rst, "Ordering"), on recorded events.

A parent whose tasks name the children they need (``restored_child``)
waits only for those: here a server boots once its network is restored,
while its volume is still being restored (slow), and attaches the volume
once that volume is done. The graph (tests.fakes.fake_cloud.app_cloud):

    web -> vol-web -> img        db -> vol-db -> img
    web -> net                   db -> net
"""

import pytest
from taskflow import task
from taskflow.patterns import linear_flow

from protection import exceptions
from protection.plugin import restored_child
from tests.fakes import fake_cloud
from tests.fakes.fake_cloud import ROOTS
from tests.fakes.service import make_service

VOLUMES = {"web": "vol-web", "db": "vol-db"}


class Boot(task.Task):
    """Creates the server once its network exists."""

    default_provides = "booted"

    def __init__(self):
        super().__init__(name="Boot", rebind={
            "network": restored_child("Test::Network", "net")})

    def execute(self, ctx, conn, resource, network):
        conn.event("boot", resource.id)
        new_id = conn.create(resource.type, resource.id, b"", {
            "net": network})
        ctx.record_new_id(new_id)
        return new_id

    def revert(self, ctx, conn, resource, result, **kwargs):
        conn.event("boot-revert", resource.id)
        if isinstance(result, str):
            conn.delete(result)
            ctx.forget_new_id()


class Attach(task.Task):
    """Attaches one volume once it, and the server, exist."""

    def __init__(self, volume):
        super().__init__(name=f"Attach[{volume}]", rebind={
            "volume": restored_child("Test::Volume", volume)})
        self.volume = volume

    def execute(self, conn, resource, booted, volume):
        conn.event("attach", self.volume)
        if ("attach", self.volume) in conn.fail:
            raise fake_cloud.CloudError(f"cannot attach {self.volume}")
        conn.records[booted]["children"][self.volume] = volume

    def revert(self, conn, **kwargs):
        conn.event("detach", self.volume)


class PipelinedServer(fake_cloud.RecordPlugin):
    resource_type = "Test::Server"

    def restore_flow(self, ctx, resource):
        return linear_flow.Flow("restore").add(
            Boot(), Attach(VOLUMES[resource.id]))


PLUGINS = (PipelinedServer, fake_cloud.VolumePlugin,
           fake_cloud.NetworkPlugin, fake_cloud.ImagePlugin)


@pytest.fixture
def cloud():
    cloud = fake_cloud.app_cloud()
    # volumes much slower than the network: the servers boot meanwhile
    cloud.slow.update({"vol-web": 0.4, "vol-db": 0.4})
    return cloud


@pytest.fixture
def service(tmp_path):
    return make_service(tmp_path, plugins=PLUGINS)


@pytest.fixture
def checkpoint_id(service, cloud):
    checkpoint = service.protect(cloud, "app", ROOTS).checkpoint_id
    cloud.log.clear()
    return checkpoint


def test_the_server_boots_while_its_volume_restores(service, cloud,
                                                    checkpoint_id):
    result = service.restore(checkpoint_id, cloud)
    for server, volume in VOLUMES.items():
        assert cloud.index("restore-done", "net") < cloud.index("boot",
                                                                server)
        assert cloud.index("boot", server) < cloud.index("restore-done",
                                                         volume)
        assert cloud.index("restore-done", volume) < cloud.index("attach",
                                                                 volume)
    restored = result.restored
    web = cloud.records[restored["Test::Server#web"]]
    # each task received the new id of the child it named
    assert web["children"] == {"net": restored["Test::Network#net"],
                               "vol-web": restored["Test::Volume#vol-web"]}


def test_on_complete_keeps_its_meaning(service, cloud, checkpoint_id):
    service.restore(checkpoint_id, cloud)
    for server, volume in VOLUMES.items():
        assert cloud.index("attach", volume) < cloud.index("complete",
                                                           server)
        for child in (volume, "net"):
            assert cloud.index("complete", child) < \
                cloud.index("complete", server)


def test_a_failed_volume_reverts_the_booted_servers(service, cloud,
                                                    checkpoint_id):
    cloud.fail.add(("restore", "vol-web"))
    with pytest.raises(exceptions.OperationFailed):
        service.restore(checkpoint_id, cloud)
    assert ("attach", "vol-web") not in cloud.log
    # web booted before its volume failed, and was reverted
    assert cloud.index("boot", "web") < cloud.index("restore-revert",
                                                    "vol-web")
    assert ("boot-revert", "web") in cloud.log
    assert cloud.created() == []


def test_a_failed_attach_detaches_before_the_volume_is_deleted(
        service, cloud, checkpoint_id):
    cloud.fail.add(("attach", "vol-db"))
    with pytest.raises(exceptions.OperationFailed):
        service.restore(checkpoint_id, cloud)
    for server, volume in VOLUMES.items():
        if ("attach", volume) in cloud.log:
            assert cloud.index("detach", volume) < \
                cloud.index("restore-revert", volume)
            assert cloud.index("detach", volume) < \
                cloud.index("boot-revert", server)
    assert cloud.created() == []


class NamesAStranger(PipelinedServer):
    def restore_flow(self, ctx, resource):
        return linear_flow.Flow("restore").add(Boot(), Attach("ghost"))


def test_a_named_resource_that_is_no_child_is_none(tmp_path, cloud):
    service = make_service(tmp_path, plugins=(NamesAStranger,) + PLUGINS[1:])
    checkpoint_id = service.protect(cloud, "app", ROOTS).checkpoint_id
    result = service.restore(checkpoint_id, cloud)
    assert result.ok
    web = cloud.records[result.restored["Test::Server#web"]]
    assert web["children"]["ghost"] is None
