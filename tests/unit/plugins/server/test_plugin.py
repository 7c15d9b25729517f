"""The server plugin class: discovery, dependencies, delete and verify
flows, and the whole restore flow on a real TaskFlow engine (flows.builder +
flows.engine) over a mocked cloud, to prove what is created, in which
order, and what a failure undoes.
"""

import json
import threading
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions
import stevedore

from flows import builder
from flows import engine
from plugins.server import common
from plugins.server import description
from plugins.server import mappings
from plugins.server import ServerPlugin
from plugins.server import protect
from protection import exceptions
from protection.plugin import saved_metadata as schema_check
from protection.model.graph import ResourceGraph
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import make_ctx, obj
from tests.fakes.server_helpers import (
    NOT_FOUND, RESTORED_NET, SRV, attachment, cloud, fip, flavor, port,
    restore_ctx, saved, saved_root_disk, server, server_section, volume)


@pytest.fixture
def section(tmp_path):
    return server_section(tmp_path)


# -- discovery ---------------------------------------------------------------
def test_registered_under_its_entry_point():
    manager = stevedore.ExtensionManager("stackvault.plugins")
    assert manager["server"].plugin is ServerPlugin
    ServerPlugin.check()


def test_list_and_show():
    conn = mock.Mock()
    conn.compute.servers.return_value = [obj(id="a", name="x",
                                             status="ACTIVE")]
    plugin = ServerPlugin()
    assert [r.key for r in plugin.list_resources(conn)] == [
        (common.RESOURCE_TYPE, "a")]
    conn.compute.get_server.return_value = obj(id="a", name="x",
                                                status="SHUTOFF")
    assert plugin.show_resource(conn, "a").extra == {"status": "SHUTOFF"}
    conn.compute.get_server.side_effect = NOT_FOUND
    with pytest.raises(exceptions.ResourceNotFound):
        plugin.show_resource(conn, "a")


def test_dependencies_of_an_image_booted_server():
    conn = cloud(attachments=[attachment("vol-1", "/dev/vdb")],
                 volumes={"vol-1": volume("vol-1", name="data")})
    children = ServerPlugin().dependencies(conn, SRV)
    assert {c.key: c.extra for c in children} == {
        ("OS::Cinder::Volume", "vol-1"): {"size": 1},
        ("OS::Glance::Image", "img-1"): {
            "status": "active", "size": 1024, "disk_format": "raw",
            "kernel_id": None, "ramdisk_id": None},
        ("OS::Neutron::Network", "net-1"): {"subnets": 1},
        ("OS::Nova::KeyPair", "key"): {},
    }
    # the external network of the floating IP is a reference only
    json.dumps([c.to_dict() for c in children])


def test_a_key_pair_the_user_cannot_see_is_not_a_child():
    conn = cloud()
    conn.compute.find_keypair.side_effect = NOT_FOUND
    kinds = {c.type for c in ServerPlugin().dependencies(conn, SRV)}
    assert "OS::Nova::KeyPair" not in kinds


def test_an_image_of_another_project_is_a_reference_not_a_child():
    conn = cloud(image_owner="someone-else")
    kinds = {c.type for c in ServerPlugin().dependencies(conn, SRV)}
    assert "OS::Glance::Image" not in kinds


def test_a_shared_network_of_another_project_is_a_reference():
    conn = cloud(ports=[port(network_id="public")], fips=[])
    assert ServerPlugin().dependencies(conn, SRV) == [
        Resource("OS::Glance::Image", "img-1"),
        Resource("OS::Nova::KeyPair", "key")]


def test_boot_volume_is_marked():
    conn = cloud(srv=server(image={}),
                 attachments=[attachment("data", "/dev/vdb"),
                              attachment("root", "/dev/vda")],
                 volumes={"data": volume("data"),
                          "root": volume("root", bootable=True)})
    children = ServerPlugin().dependencies(conn, SRV)
    extras = {c.id: c.extra for c in children if c.type ==
              "OS::Cinder::Volume"}
    assert extras == {"root": {"size": 1, "boot": True}, "data": {"size": 1}}


def test_boot_volume_is_the_root_device_when_nova_shows_it():
    srv = server(image="", root_device_name="/dev/vdb")
    conn = cloud(srv=srv, attachments=[attachment("a", "/dev/vda"),
                                       attachment("b", "/dev/vdb")],
                 volumes={"a": volume("a", True), "b": volume("b", True)})
    info = description.describe_server(conn, "srv-1")
    assert info["boot"] == {"source": "volume", "image_id": None,
                            "volume_id": "b"}


def test_attachments_ports_flavor_and_image_are_read_at_once():
    conn = cloud(attachments=[attachment("a", "/dev/vdb")],
                 volumes={"a": volume("a")})
    together = threading.Barrier(4, timeout=5)
    for getter in (conn.compute.volume_attachments,
                   conn.compute.server_interfaces,
                   conn.compute.find_flavor, conn.image.get_image):
        def meet(*args, _answer=getter.side_effect,
                 _value=getter.return_value, **kwargs):
            together.wait()     # breaks unless all four are asked at once
            return _answer(*args, **kwargs) if _answer else _value
        getter.side_effect = meet
    info = description.describe_server(conn, "srv-1")
    assert [a["volume_id"] for a in info["attachments"]] == ["a"]
    assert info["flavor"]["name"] and info["image"]["id"] == "img-1"


# -- delete and verify --------------------------------------------------------
def test_delete_flow_removes_root_disk_data_only_when_there_is_some(section):
    plugin = ServerPlugin()
    assert plugin.delete_flow(make_ctx(SRV, metadata=saved()), SRV) is None
    _, conn, _, root = saved_root_disk(section, b"abcdef")
    meta = dict(saved(), root_disk=root)
    task = plugin.delete_flow(make_ctx(SRV, metadata=meta), SRV)
    task.execute(make_ctx(SRV, conn, bank=section), section)
    assert section.list() == []


def test_verify_checks_metadata_and_root_disk_hashes(section):
    plugin = ServerPlugin()
    flow = plugin.verify_flow(make_ctx(SRV, metadata=saved()), SRV)
    assert [a.name for a, _ in flow.iter_nodes()] == [
        "plugins.server.protect.CheckServerMetadata"]
    protect.CheckServerMetadata().execute(SRV, saved())
    # The shape is the framework's check, against metadata_schema.
    assert schema_check.problems(plugin.metadata_schema, saved()) == []
    broken = saved()
    del broken["ports"]
    assert schema_check.problems(plugin.metadata_schema, broken) == [
        "(top level): 'ports' is a required property"]
    assert schema_check.problems(plugin.metadata_schema, {})

    _, conn, _, root = saved_root_disk(section, b"abcdef")
    meta = dict(saved(), root_disk=root)
    ctx = make_ctx(SRV, conn, bank=section, metadata=meta)
    protect.VerifyRootDisk().execute(ctx, section, meta)
    section.put("data/00000001", [b"XYZ"])
    with pytest.raises(exceptions.StackvaultError, match="damaged"):
        protect.VerifyRootDisk().execute(ctx, section, meta)


# -- the whole restore flow on a real engine ----------------------------------
class FakeCloud:
    """Just enough Nova/Neutron/Cinder state to run the restore flow."""

    def __init__(self, fail_attach_port=None):
        self.calls = []
        self.conn = conn = cloud()
        self.servers = {}
        self.ports = {}
        self.volumes = {"new-vol-a": "available", "new-vol-b": "available"}
        self.fail_attach_port = fail_attach_port
        conn.compute.find_flavor.side_effect = self._find_flavor
        conn.compute.get_flavor.side_effect = NOT_FOUND
        conn.compute.flavors.return_value = [
            flavor(id="f-tiny", extra_specs={"hw:cpu": "shared"})]
        conn.compute.find_keypair.return_value = obj(name="key")
        conn.compute.availability_zones.return_value = [obj(name="nova")]
        conn.compute.create_server.side_effect = self._create_server
        conn.compute.get_server.side_effect = self._get_server
        conn.compute.delete_server.side_effect = self._delete_server
        conn.compute.create_server_interface.side_effect = self._attach_port
        conn.compute.delete_server_interface.side_effect = self._detach_port
        conn.compute.create_volume_attachment.side_effect = \
            self._attach_volume
        conn.compute.delete_volume_attachment.side_effect = \
            self._detach_volume
        conn.block_storage.get_volume.side_effect = \
            lambda vid: obj(status=self.volumes[vid])
        conn.network.create_port.side_effect = self._create_port
        conn.network.get_port.side_effect = self._get_port
        conn.network.delete_port.side_effect = self._delete_port
        conn.network.ips.side_effect = lambda **q: [
            obj(id="fip-1", port_id=None)]

    def _find_flavor(self, name, ignore_missing):
        if name in ("m1.tiny", "f-tiny"):
            return flavor(id="f-tiny")
        raise NOT_FOUND

    def _create_server(self, **attrs):
        self.calls.append(("create_server", attrs["name"]))
        self.servers["new-srv"] = "ACTIVE"
        return obj(id="new-srv")

    def _get_server(self, server_id):
        if server_id not in self.servers:
            raise NOT_FOUND
        return obj(id=server_id, status=self.servers[server_id], fault=None)

    def _delete_server(self, server_id, ignore_missing):
        self.calls.append(("delete_server", server_id))
        self.servers.pop(server_id, None)

    def _create_port(self, **attrs):
        port_id = f"new-{attrs['name']}"
        self.calls.append(("create_port", port_id))
        self.ports[port_id] = ""
        return obj(id=port_id)

    def _get_port(self, port_id):
        return obj(id=port_id, device_id=self.ports[port_id],
                   status="ACTIVE", binding_vif_type="ovs",
                   binding_host_id="h", fixed_ips=[])

    def _delete_port(self, port_id, ignore_missing):
        self.calls.append(("delete_port", port_id))
        self.ports.pop(port_id, None)

    def _attach_port(self, server_id, port_id):
        self.calls.append(("attach_port", port_id))
        if port_id == self.fail_attach_port:
            raise sdk_exceptions.ConflictException("attach failed")
        self.ports[port_id] = server_id

    def _detach_port(self, port_id, server, ignore_missing):
        self.calls.append(("detach_port", port_id))
        self.ports[port_id] = ""

    def _attach_volume(self, srv, volume, **attrs):
        self.calls.append(("attach_volume", volume, attrs.get("device")))
        self.volumes[volume] = "in-use"

    def _detach_volume(self, srv, volume, ignore_missing):
        self.calls.append(("detach_volume", volume))
        self.volumes[volume] = "available"

    def names(self, call):
        return [c[1] for c in self.calls if c[0] == call]


def app_metadata():
    return saved(ports=[port(id="p1", name="p1"),
                        port(id="p2", name="p2", fixed_ips=[])],
                 fips=[fip(port_id="p1")],
                 attachments=[attachment("vol-b", "/dev/vdc"),
                              attachment("vol-a", "/dev/vdb")],
                 volumes={"vol-a": volume("vol-a"),
                          "vol-b": volume("vol-b")})


CHILDREN = {("OS::Glance::Image", "img-1"): "new-img",
            ("OS::Cinder::Volume", "vol-a"): "new-vol-a",
            ("OS::Cinder::Volume", "vol-b"): "new-vol-b",
            **RESTORED_NET}


def run_restore(fake, metadata, parameters=None, policy=engine.ROLLBACK):
    """The server's restore flow as the framework runs it, its children
    already restored."""
    graph = ResourceGraph.build([SRV], lambda r: [])
    registry = PluginRegistry([ServerPlugin()])
    ctx = restore_ctx(fake.conn, metadata, parameters=parameters,
                      restored=CHILDREN)
    built = builder.build("restore", graph, registry, lambda r: ctx)
    with mock.patch.object(mappings.sdk_utils, "supports_microversion",
                           return_value=True):
        outcome = engine.run(built, max_workers=4, policy=policy)
    return outcome, ctx


def test_restore_flow_creates_server_and_ports_then_attaches_in_order():
    fake = FakeCloud()
    meta = app_metadata()
    # p2 listed first by Nova: it is the guest's first NIC
    assert [p["id"] for p in meta["ports"]] == ["p2", "p1"]
    outcome, ctx = run_restore(fake, meta)
    assert outcome.succeeded, outcome.failures
    # the server and its ports are created side by side, attached after
    first_attach = min(i for i, c in enumerate(fake.calls)
                       if c[0].startswith("attach"))
    assert {c[0] for c in fake.calls[:first_attach]} == {
        "create_server", "create_port"}
    assert len(fake.calls[:first_attach]) == 3
    assert fake.names("attach_port") == ["new-p2", "new-p1"]
    assert [c[1:] for c in fake.calls if c[0] == "attach_volume"] == [
        ("new-vol-a", "/dev/vdb"), ("new-vol-b", "/dev/vdc")]
    assert fake.volumes == {"new-vol-a": "in-use", "new-vol-b": "in-use"}
    restored = ctx.restored.as_dict()
    assert restored[(common.RESOURCE_TYPE, "srv-1")] == "new-srv"
    assert restored[("OS::Neutron::Port", "p1")] == "new-p1"
    assert restored[("OS::Neutron::FloatingIP", "fip-1")] == "fip-1"


def test_unknown_flavor_mapping_fails_before_creating_anything():
    fake = FakeCloud()
    outcome, ctx = run_restore(fake, app_metadata(), {
        "flavor_mapping": {"m1.tiny": "no-such-flavor"}})
    assert not outcome.succeeded
    (failure,) = outcome.failures
    assert failure.step == "ResolveFlavor"
    assert "no-such-flavor" in failure.message
    assert fake.calls == []
    assert ctx.restored.as_dict() == CHILDREN


def test_a_port_attach_failure_reverts_the_ports_and_the_server():
    fake = FakeCloud(fail_attach_port="new-p1")
    outcome, ctx = run_restore(fake, app_metadata())
    assert not outcome.succeeded
    assert [f.step for f in outcome.failures] == ["AttachPort[p1]"]
    assert not outcome.revert_failures
    # the first port was attached: detached before deleted
    calls = fake.calls
    assert calls.index(("detach_port", "new-p2")) < \
        calls.index(("delete_port", "new-p2"))
    assert set(fake.names("delete_port")) == {"new-p1", "new-p2"}
    # volumes attached meanwhile are detached, not deleted
    for volume_id in fake.names("attach_volume"):
        assert ("detach_volume", volume_id) in calls
    assert fake.conn.block_storage.delete_volume.call_count == 0
    # the server last, once everything on it is undone
    assert calls[-1] == ("delete_server", "new-srv")
    assert fake.servers == {} and fake.ports == {}
    assert ctx.restored.as_dict() == CHILDREN


def test_keep_policy_leaves_what_was_created_listed():
    fake = FakeCloud(fail_attach_port="new-p1")
    outcome, ctx = run_restore(fake, app_metadata(), policy=engine.KEEP)
    assert not outcome.succeeded
    assert ctx.restored.get(common.RESOURCE_TYPE, "srv-1") == "new-srv"
    assert ctx.restored.get("OS::Neutron::Port", "p1") == "new-p1"
    assert "delete_server" not in [c[0] for c in fake.calls]


def test_restore_flow_with_a_root_disk_boots_from_the_new_image():
    meta = saved()
    meta["root_disk"] = {"snapshot_id": "snap-1", "format": 1}
    flow = ServerPlugin().restore_flow(
        make_ctx(SRV, operation="restore", metadata=meta), SRV)
    names = {a.name for a in builder.iter_atoms(flow)}
    assert "plugins.server.mappings.ResolveBootSource" not in names
    assert {"plugins.server.restore.CreateRootDiskImage",
            "plugins.server.restore.UploadRootDisk",
            "plugins.server.restore.WaitRootDiskImage"} <= names


def test_schemas_accept_the_documented_parameters():
    from protection.model import parameters as params
    plugin = ServerPlugin()
    params.validate(plugin.options_schema, {"snapshot_root_disk": "true"},
                    SRV)
    values = params.validate(plugin.restore_schema, {
        "restore_name": "x", "keep_fixed_ips": "false", "key_name": "",
        "flavor_mapping": '{"m1.tiny": "m1.small"}',
        "network_mapping": {"a": "b"}, "security_group_mapping": {},
        "image_mapping": {}, "availability_zone_mapping": {"nova": ""}},
        SRV)
    assert values["keep_fixed_ips"] is False
    with pytest.raises(exceptions.InvalidParameter, match="flavor_mapping"):
        params.validate(plugin.restore_schema,
                        {"flavor_mapping": {"m1.tiny": ""}}, SRV)
