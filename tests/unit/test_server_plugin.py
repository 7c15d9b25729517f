"""Unit tests of the Nova server plugin's tasks (mocked openstacksdk).

Task tests call ``execute``/``revert`` directly; flow tests run the whole
restore flow on a real TaskFlow engine (flows.builder + flows.engine) over
a mocked cloud, to prove what is created, in which order, and what a
failure undoes.
"""

import hashlib
import json
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
from plugins.server import restore
from protection import exceptions
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import CheckpointStore
from protection.graph import ResourceGraph
from protection.registry import PluginRegistry
from protection.resource import Resource
from protection.restored_ids import RestoredIds
from tests.unit import fake_glance
from tests.unit.plugin_helpers import make_ctx, obj, statuses

SRV = Resource(common.RESOURCE_TYPE, "srv-1", "web")
NOT_FOUND = sdk_exceptions.NotFoundException("not found")
PROJECT = "project-1"
MAC = "fa:16:3e:00:00:01"


def forbidden(message="policy does not allow it"):
    return sdk_exceptions.ForbiddenException(message, details=message)


# -- a described cloud -------------------------------------------------------
def _flavor(**over):
    attrs = dict(id="fl-1", name="m1.tiny", vcpus=1, ram=512, disk=1,
                 ephemeral=0, swap=0, extra_specs={})
    attrs.update(over)
    return obj(**attrs)


def _embedded_flavor(**over):
    """A flavor as compute API 2.47+ embeds it in a server (no id)."""
    attrs = dict(original_name="m1.tiny", vcpus=1, ram=512, disk=1,
                 ephemeral=0, swap=0, extra_specs={"hw:cpu": "shared"})
    attrs.update(over)
    return obj(**attrs)


def _server(**over):
    attrs = dict(id="srv-1", name="web", description="front",
                 status="ACTIVE", availability_zone="nova", key_name="key",
                 metadata={"role": "web"}, tags=["b", "a"], config_drive="",
                 security_groups=[{"name": "web-sg"}],
                 image=obj(id="img-1"), flavor=_embedded_flavor(),
                 root_device_name=None, fault=None, task_state=None)
    attrs.update(over)
    return obj(**attrs)


def _port(**over):
    attrs = dict(id="port-1", name="eth0", description="", network_id="net-1",
                 fixed_ips=[{"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
                 mac_address=MAC, security_group_ids=["sg-1"],
                 allowed_address_pairs=[{"ip_address": "10.0.0.100",
                                         "mac_address": MAC}],
                 is_port_security_enabled=True, is_admin_state_up=True,
                 binding_vnic_type="normal")
    attrs.update(over)
    return obj(**attrs)


def _network(network_id, project=PROJECT, external=False):
    return obj(id=network_id, name=f"name-{network_id}", project_id=project,
               is_router_external=external, is_shared=external,
               subnet_ids=["sub-1"])


def _fip(**over):
    attrs = dict(id="fip-1", floating_ip_address="172.24.4.50",
                 floating_network_id="public", fixed_ip_address="10.0.0.5",
                 description="", port_id="port-1")
    attrs.update(over)
    return obj(**attrs)


def cloud(srv=None, ports=None, attachments=None, volumes=None,
          networks=None, fips=None, image_owner=PROJECT):
    """A mocked connection describing one server."""
    conn = mock.Mock()
    conn.current_project_id = PROJECT
    srv = srv or _server()
    conn.compute.get_server.return_value = srv
    conn.compute.find_flavor.return_value = _flavor()
    conn.compute.get_flavor.return_value = _flavor()
    ports = [_port()] if ports is None else ports
    conn.compute.server_interfaces.return_value = [
        obj(port_id=p.id) for p in reversed(ports)]
    conn.network.ports.return_value = ports
    attachments = [] if attachments is None else attachments
    conn.compute.volume_attachments.return_value = attachments
    volumes = volumes or {}
    conn.block_storage.get_volume.side_effect = lambda vid: volumes[vid]
    networks = networks or {"net-1": _network("net-1"),
                            "public": _network("public", "admin", True)}
    conn.network.get_network.side_effect = lambda nid: networks[nid]
    conn.network.get_security_group.side_effect = \
        lambda sg: obj(id=sg, name=f"name-{sg}")
    fips = [_fip()] if fips is None else fips
    conn.network.ips.side_effect = lambda **q: [
        f for f in fips if f.port_id == q.get("port_id")]
    conn.image.get_image.return_value = obj(
        id="img-1", name="cirros", owner=image_owner, status="active",
        size=1024, disk_format="raw", kernel_id=None, ramdisk_id=None)
    return conn


def _attachment(volume_id, device):
    return obj(volume_id=volume_id, device=device,
               delete_on_termination=False)


def _volume(volume_id, bootable=False, name=None):
    return obj(id=volume_id, name=name or volume_id, size=1,
               is_bootable="true" if bootable else "false")


def saved(**cloud_kwargs):
    """What protect saves for the server of ``cloud(**cloud_kwargs)``."""
    conn = cloud(**cloud_kwargs)
    info = description.describe_server(conn, "srv-1")
    # JSON-safe, as the bank stores it.
    return json.loads(json.dumps({"format": common.METADATA_FORMAT, **info,
                                  "root_disk": None}))


def two_volume_metadata():
    return saved(attachments=[_attachment("vol-b", "/dev/vdc"),
                              _attachment("vol-a", "/dev/vdb")],
                 volumes={"vol-a": _volume("vol-a"),
                          "vol-b": _volume("vol-b")})


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
    conn = cloud(attachments=[_attachment("vol-1", "/dev/vdb")],
                 volumes={"vol-1": _volume("vol-1", name="data")})
    children = ServerPlugin().dependencies(conn, SRV)
    assert {c.key: c.extra for c in children} == {
        ("OS::Cinder::Volume", "vol-1"): {"size": 1},
        ("OS::Glance::Image", "img-1"): {
            "status": "active", "size": 1024, "disk_format": "raw",
            "kernel_id": None, "ramdisk_id": None},
        ("OS::Neutron::Network", "net-1"): {"subnets": 1},
    }
    # the external network of the floating IP is a reference only
    json.dumps([c.to_dict() for c in children])


def test_an_image_of_another_project_is_a_reference_not_a_child():
    conn = cloud(image_owner="someone-else")
    kinds = {c.type for c in ServerPlugin().dependencies(conn, SRV)}
    assert "OS::Glance::Image" not in kinds


def test_a_shared_network_of_another_project_is_a_reference():
    conn = cloud(ports=[_port(network_id="public")], fips=[])
    assert ServerPlugin().dependencies(conn, SRV) == [
        Resource("OS::Glance::Image", "img-1")]


def test_boot_volume_is_marked():
    conn = cloud(srv=_server(image={}),
                 attachments=[_attachment("data", "/dev/vdb"),
                              _attachment("root", "/dev/vda")],
                 volumes={"data": _volume("data"),
                          "root": _volume("root", bootable=True)})
    children = ServerPlugin().dependencies(conn, SRV)
    extras = {c.id: c.extra for c in children if c.type ==
              "OS::Cinder::Volume"}
    assert extras == {"root": {"size": 1, "boot": True}, "data": {"size": 1}}


def test_boot_volume_is_the_root_device_when_nova_shows_it():
    srv = _server(image="", root_device_name="/dev/vdb")
    conn = cloud(srv=srv, attachments=[_attachment("a", "/dev/vda"),
                                       _attachment("b", "/dev/vdb")],
                 volumes={"a": _volume("a", True), "b": _volume("b", True)})
    info = description.describe_server(conn, "srv-1")
    assert info["boot"] == {"source": "volume", "image_id": None,
                            "volume_id": "b"}


# -- protect ------------------------------------------------------------------
def test_describe_saves_what_restore_needs():
    meta = saved(attachments=[_attachment("vol-1", "/dev/vdb")],
                 volumes={"vol-1": _volume("vol-1")})
    assert meta["server"]["tags"] == ["a", "b"]
    assert meta["server"]["key_name"] == "key"
    assert meta["server"]["security_groups"] == ["web-sg"]
    assert meta["flavor"] == {"id": None, "name": "m1.tiny", "vcpus": 1,
                              "ram": 512, "disk": 1, "ephemeral": 0,
                              "swap": 0, "extra_specs": {"hw:cpu": "shared"}}
    assert meta["boot"] == {"source": "image", "image_id": "img-1",
                            "volume_id": None}
    (port,) = meta["ports"]
    assert port["fixed_ips"] == [{"subnet_id": "sub-1",
                                  "ip_address": "10.0.0.5"}]
    assert port["mac_address"] == MAC
    assert port["security_groups"] == {"sg-1": "name-sg-1"}
    assert port["floating_ips"] == [{
        "id": "fip-1", "address": "172.24.4.50",
        "floating_network_id": "public", "fixed_ip_address": "10.0.0.5",
        "description": ""}]
    assert meta["attachments"][0]["device"] == "/dev/vdb"
    assert meta["attachments"][0]["boot"] is False
    assert meta["networks"]["public"]["external"] is True


def test_flavor_id_is_found_by_name_when_the_spec_matches():
    conn = cloud()
    conn.compute.find_flavor.return_value = _flavor(
        extra_specs={"hw:cpu": "shared"})
    assert description.describe_flavor(conn, _server())["id"] == "fl-1"


def test_flavor_before_2_47_is_read_by_id():
    conn = cloud()
    conn.compute.get_flavor.return_value = _flavor(ram=2048)
    flavor = description.describe_flavor(conn, _server(flavor=obj(id="fl-1")))
    assert flavor["id"] == "fl-1" and flavor["ram"] == 2048
    conn.compute.get_flavor.assert_called_with("fl-1", get_extra_specs=True)


def test_ports_follow_the_order_of_the_servers_interfaces():
    conn = cloud(ports=[_port(id="p-a"), _port(id="p-b")], fips=[])
    conn.compute.server_interfaces.return_value = [obj(port_id="p-b"),
                                                   obj(port_id="p-a")]
    ports = description.describe_ports(conn, _server())
    assert [p["id"] for p in ports] == ["p-b", "p-a"]


@pytest.mark.parametrize("status", ["ERROR", "BUILD", "DELETED"])
def test_describe_refuses_unstable_servers(status):
    conn = cloud(srv=_server(status=status))
    with pytest.raises(exceptions.StackvaultError, match=f"'{status}'"):
        protect.DescribeServer().execute(conn, SRV)


class TestRootDiskSnapshot:
    def info(self, **boot):
        return {"boot": {"source": "image", **boot},
                "server": {"status": "ACTIVE"}, "flavor": {"disk": 1}}

    def test_not_asked_for(self):
        conn = mock.Mock()
        assert protect.CreateRootDiskSnapshot().execute(
            make_ctx(SRV, conn), conn, SRV, {}, self.info()) is None
        conn.compute.create_server_image.assert_not_called()

    def test_a_volume_booted_server_has_no_root_disk_to_snapshot(self):
        conn, events = mock.Mock(), []
        info = {"boot": {"source": "volume"}}
        assert protect.CreateRootDiskSnapshot().execute(
            make_ctx(SRV, conn, events=events), conn, SRV,
            {"snapshot_root_disk": True}, info) is None
        assert "boots from a volume" in events[0].message

    def test_created_and_reverted(self):
        conn = mock.Mock()
        conn.compute.create_server_image.return_value = obj(id="snap-1")
        task = protect.CreateRootDiskSnapshot()
        assert task.execute(make_ctx(SRV, conn), conn, SRV,
                            {"snapshot_root_disk": True},
                            self.info()) == "snap-1"
        conn.compute.create_server_image.assert_called_once_with(
            "srv-1", name="stackvault-tmp-cp-1", wait=False)
        task.revert(conn, "snap-1")
        conn.image.delete_image.assert_called_once_with(
            "snap-1", ignore_missing=True)

    def test_refused_for_a_shelved_server(self):
        conn = mock.Mock()
        info = self.info()
        info["server"]["status"] = "SHELVED_OFFLOADED"
        with pytest.raises(exceptions.StackvaultError, match="snapshots"):
            protect.CreateRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV,
                {"snapshot_root_disk": True}, info)

    def test_wait_until_active(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = statuses("queued", "saving",
                                                    "active")
        conn.compute.get_server.return_value = obj(
            task_state="image_uploading")
        protect.WaitRootDiskSnapshot().execute(
            make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())

    def test_fails_at_once_when_nova_is_done_and_glance_got_nothing(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = statuses("queued")
        conn.compute.get_server.return_value = obj(task_state=None)
        with pytest.raises(exceptions.ResourceFailed,
                           match="received no data"):
            protect.WaitRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())
        assert conn.image.get_image.call_count == 2

    def test_snapshot_deleted_by_nova_reports_the_servers_fault(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = NOT_FOUND
        conn.compute.get_server.return_value = obj(
            fault={"message": "disk full"})
        with pytest.raises(exceptions.ResourceFailed, match="disk full"):
            protect.WaitRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())

    def test_deleted_after_the_data_is_saved(self):
        conn = mock.Mock()
        protect.DeleteRootDiskSnapshot().execute(conn, "snap-1")
        conn.image.delete_image.assert_called_once_with(
            "snap-1", ignore_missing=True)
        protect.DeleteRootDiskSnapshot().execute(conn, None)
        assert conn.image.delete_image.call_count == 1


@pytest.fixture
def section(tmp_path):
    store = CheckpointStore(FileSystemBank(str(tmp_path / "bank")))
    cp = store.create({"name": "t"},
                      ResourceGraph.build([SRV], lambda r: []))
    return cp.section(SRV)


def _saved_root_disk(section, payload):
    glance = fake_glance.FakeGlance()
    conn = fake_glance.connection(glance)
    snap = glance.add(payload, name="stackvault-tmp-cp-1",
                      image_type="snapshot")
    ctx = make_ctx(SRV, conn, bank=section)
    root = protect.SaveRootDiskData(object_size=3).execute(
        ctx, conn, section, snap)
    return glance, conn, snap, root


def test_root_disk_data_is_streamed_into_the_bank(section):
    payload = b"0123456789"
    _, _, snap, root = _saved_root_disk(section, payload)
    assert section.list() == ["data/00000000", "data/00000001",
                              "data/00000002", "data/00000003"]
    assert root["snapshot_id"] == snap
    assert root["data"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert root["image"]["properties"]["image_type"] == "snapshot"
    protect.SaveRootDiskData(object_size=3).revert(section)
    assert section.list() == []


def test_root_disk_not_asked_for_saves_nothing(section):
    conn = mock.Mock()
    assert protect.SaveRootDiskData(3).execute(
        make_ctx(SRV, conn), conn, section, None) is None
    assert section.list() == []


def test_metadata_saved_and_reverted(section):
    protect.SaveServerMetadata().execute(section, {"server": {}}, None)
    assert section.load_metadata() == {"format": 1, "server": {},
                                       "root_disk": None}
    protect.SaveServerMetadata().revert(section)
    assert section.load_metadata() == {}


# -- restore: resolving ------------------------------------------------------
def restore_ctx(conn, metadata=None, parameters=None, restored=None,
                events=None):
    ctx = make_ctx(SRV, conn, operation="restore", parameters=parameters,
                   metadata=metadata or saved(), events=events)
    ctx.restored = RestoredIds(restored or {})
    return ctx


def _run(task_, ctx, **provided):
    """Call ``execute`` with what the framework would inject."""
    import inspect
    injected = {"ctx": ctx, "conn": ctx.conn, "resource": ctx.resource,
                "metadata": ctx.metadata, "parameters": ctx.parameters,
                "restored": ctx.restored, "bank": ctx.bank, **provided}
    args = inspect.signature(task_.execute).parameters
    return task_.execute(**{k: injected[k] for k in args})


class TestResolveFlavor:
    def conn(self, flavors=None):
        conn = cloud()
        conn.compute.flavors.return_value = flavors or [
            _flavor(id="f-nano", name="m1.nano", ram=128),
            _flavor(id="f-tiny", name="m1.tiny",
                    extra_specs={"hw:cpu": "shared"})]
        conn.compute.find_flavor.side_effect = \
            sdk_exceptions.NotFoundException("no")
        conn.compute.get_flavor.side_effect = NOT_FOUND
        return conn

    def test_mapping_by_name(self):
        conn = self.conn()
        conn.compute.find_flavor.side_effect = None
        conn.compute.find_flavor.return_value = _flavor(id="f-big")
        ctx = restore_ctx(conn, parameters={
            "flavor_mapping": {"m1.tiny": "m1.big"}})
        assert _run(mappings.ResolveFlavor(), ctx) == "f-big"
        conn.compute.find_flavor.assert_called_once_with(
            "m1.big", ignore_missing=False)

    def test_unknown_mapping_target_lists_the_flavors(self):
        conn = self.conn()
        ctx = restore_ctx(conn, parameters={
            "flavor_mapping": {"m1.tiny": "no-such"}})
        with pytest.raises(exceptions.StackvaultError) as caught:
            _run(mappings.ResolveFlavor(), ctx)
        message = str(caught.value)
        assert "'m1.tiny' to 'no-such'" in message
        assert "m1.nano (1 vCPU, 128 MiB RAM, 1 GiB disk)" in message

    def test_same_id_when_it_exists(self):
        conn = self.conn()
        conn.compute.get_flavor.side_effect = None
        conn.compute.get_flavor.return_value = _flavor(id="fl-9")
        meta = saved()
        meta["flavor"]["id"] = "fl-9"
        assert _run(mappings.ResolveFlavor(), restore_ctx(conn, meta)) == \
            "fl-9"

    def test_same_spec_otherwise_the_same_name_first(self):
        conn = self.conn([
            _flavor(id="f-other", name="a-copy",
                    extra_specs={"hw:cpu": "shared"}),
            _flavor(id="f-tiny", name="m1.tiny",
                    extra_specs={"hw:cpu": "shared"}),
            _flavor(id="f-nospec", name="m1.tiny2")])
        events = []
        ctx = restore_ctx(conn, events=events)
        assert _run(mappings.ResolveFlavor(), ctx) == "f-tiny"
        assert "by its spec" in events[0].message

    def test_no_match_is_a_clear_error_with_candidates(self):
        conn = self.conn([_flavor(id="f-nano", name="m1.nano", ram=128)])
        with pytest.raises(exceptions.StackvaultError,
                           match=r"like 'm1.tiny' \(1 vCPU, 512 MiB RAM.*"
                                 r"flavor_mapping.*m1.nano"):
            _run(mappings.ResolveFlavor(), restore_ctx(conn))


class TestResolveServerAttributes:
    def run(self, conn, parameters=None, events=None, supports=True):
        ctx = restore_ctx(conn, parameters=parameters, events=events)
        with mock.patch.object(mappings.sdk_utils, "supports_microversion",
                               side_effect=lambda a, v: supports is True
                               or v in supports):
            return _run(mappings.ResolveServerAttributes(), ctx)

    def conn(self):
        conn = cloud()
        conn.compute.availability_zones.return_value = [obj(name="nova"),
                                                        obj(name="az2")]
        conn.compute.find_keypair.return_value = obj(name="key")
        return conn

    def test_everything_of_the_original(self):
        attrs = self.run(self.conn())
        assert attrs == {"name": "web", "description": "front",
                         "metadata": {"role": "web"},
                         "availability_zone": "nova", "key_name": "key",
                         "tags": ["a", "b"]}

    def test_parameters(self):
        attrs = self.run(self.conn(), {
            "restore_name": "copy", "key_name": "",
            "availability_zone_mapping": {"nova": "az2"}})
        assert attrs["name"] == "copy"
        assert attrs["availability_zone"] == "az2"
        assert "key_name" not in attrs

    def test_an_empty_zone_mapping_lets_nova_choose(self):
        attrs = self.run(self.conn(), {
            "availability_zone_mapping": {"nova": ""}})
        assert "availability_zone" not in attrs

    def test_unknown_zone(self):
        with pytest.raises(exceptions.StackvaultError,
                           match="'az9' does not exist.*nova"):
            self.run(self.conn(), {"availability_zone_mapping":
                                   {"nova": "az9"}})

    def test_missing_key_pair(self):
        conn = self.conn()
        conn.compute.find_keypair.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="key pair 'key' does not exist"):
            self.run(conn)

    def test_nova_without_2_37_is_refused(self):
        with pytest.raises(exceptions.StackvaultError, match="2.37"):
            self.run(self.conn(), supports=())

    def test_tags_need_2_52(self):
        events = []
        attrs = self.run(self.conn(), events=events, supports=("2.37",))
        assert "tags" not in attrs
        assert "2.52" in events[0].message


class TestResolveBootSource:
    def test_the_restored_image(self):
        ctx = restore_ctx(cloud(), restored={
            ("OS::Glance::Image", "img-1"): "new-img"})
        assert _run(mappings.ResolveBootSource(), ctx) == {
            "image_id": "new-img"}

    def test_image_mapping_wins(self):
        conn = cloud()
        conn.image.get_image.return_value = obj(id="other", status="active")
        ctx = restore_ctx(conn, parameters={"image_mapping": {
            "img-1": "other"}}, restored={
            ("OS::Glance::Image", "img-1"): "new-img"})
        assert _run(mappings.ResolveBootSource(), ctx) == {"image_id": "other"}

    def test_a_referenced_image_is_used_when_it_exists(self):
        conn = cloud(image_owner="admin")
        assert _run(mappings.ResolveBootSource(), restore_ctx(
            conn, saved(image_owner="admin"))) == {"image_id": "img-1"}

    def test_a_missing_referenced_image_is_a_clear_error(self):
        conn = cloud()
        meta = saved(image_owner="admin")
        conn.image.get_image.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="does not own it.*image_mapping.*"
                                 "snapshot_root_disk"):
            _run(mappings.ResolveBootSource(), restore_ctx(conn, meta))

    def test_the_restored_boot_volume(self):
        meta = saved(srv=_server(image=""),
                     attachments=[_attachment("root", "/dev/vda")],
                     volumes={"root": _volume("root", True)})
        ctx = restore_ctx(cloud(), meta, restored={
            ("OS::Cinder::Volume", "root"): "new-root"})
        assert _run(mappings.ResolveBootSource(), ctx) == {
            "volume_id": "new-root"}
        ctx.restored.forget("OS::Cinder::Volume", "root")
        with pytest.raises(exceptions.StackvaultError,
                           match="no restored counterpart"):
            _run(mappings.ResolveBootSource(), ctx)


def test_resolve_volumes_keeps_device_order_and_skips_the_boot_volume():
    meta = saved(srv=_server(image=""),
                 attachments=[_attachment("d2", "/dev/vdc"),
                              _attachment("root", "/dev/vda"),
                              _attachment("d1", "/dev/vdb")],
                 volumes={"root": _volume("root", True), "d1": _volume("d1"),
                          "d2": _volume("d2")})
    restored = {("OS::Cinder::Volume", v): f"new-{v}"
                for v in ("root", "d1", "d2")}
    plan = _run(mappings.ResolveVolumes(),
                restore_ctx(cloud(), meta, restored=restored))
    assert plan == [
        {"original": "d1", "device": "/dev/vdb", "new": "new-d1"},
        {"original": "d2", "device": "/dev/vdc", "new": "new-d2"}]


RESTORED_NET = {("OS::Neutron::Network", "net-1"): "new-net",
                ("OS::Neutron::Subnet", "sub-1"): "new-sub",
                ("OS::Neutron::SecurityGroup", "sg-1"): "new-sg"}


class TestResolvePorts:
    def plans(self, conn=None, meta=None, parameters=None, restored=None):
        conn = conn or cloud()
        ctx = restore_ctx(conn, meta, parameters=parameters,
                          restored=RESTORED_NET if restored is None
                          else restored)
        return _run(mappings.ResolvePorts(), ctx)

    def test_on_the_restored_network_with_the_same_ip_and_mac(self):
        plan = self.plans()["port-1"]
        assert plan["attrs"] == {
            "network_id": "new-net", "name": "eth0", "mac_address": MAC,
            "fixed_ips": [{"subnet_id": "new-sub",
                           "ip_address": "10.0.0.5"}],
            "security_group_ids": ["new-sg"],
            "allowed_address_pairs": [{"ip_address": "10.0.0.100",
                                       "mac_address": MAC}]}
        assert plan["fallback"] is None
        assert plan["floating_ips"] == [{
            "original_id": "fip-1", "address": "172.24.4.50",
            "network_id": "public", "fixed_ip_address": "10.0.0.5",
            "description": ""}]

    def test_keep_fixed_ips_false_keeps_the_subnet_only(self):
        plan = self.plans(parameters={"keep_fixed_ips": False})["port-1"]
        assert plan["attrs"]["fixed_ips"] == [{"subnet_id": "new-sub"}]

    def test_network_mapping_wins_and_keeps_the_address_only(self):
        conn = cloud()
        conn.network.find_network.return_value = obj(id="existing")
        plan = self.plans(conn, parameters={
            "network_mapping": {"net-1": "my-net"}})["port-1"]
        assert plan["attrs"]["network_id"] == "existing"
        assert plan["attrs"]["fixed_ips"] == [{"ip_address": "10.0.0.5"}]
        assert "mac_address" not in plan["fallback"]
        assert "fixed_ips" not in plan["fallback"]

    def test_unknown_network_mapping_target(self):
        conn = cloud()
        conn.network.find_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="maps network net-1.*'nowhere'"):
            self.plans(conn, parameters={"network_mapping":
                                         {"net-1": "nowhere"}})

    def test_a_referenced_network_keeps_its_id_and_subnets(self):
        meta = saved(ports=[_port(network_id="public")])
        plan = self.plans(meta=meta)["port-1"]
        assert plan["attrs"]["network_id"] == "public"
        assert plan["attrs"]["fixed_ips"] == [{"subnet_id": "sub-1",
                                               "ip_address": "10.0.0.5"}]
        assert plan["fallback"]["fixed_ips"] == [{"subnet_id": "sub-1"}]

    def test_a_referenced_network_missing_here_is_a_clear_error(self):
        meta = saved(ports=[_port(network_id="public")])
        conn = cloud()
        conn.network.get_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="external and was not restored.*"
                                 "network_mapping"):
            self.plans(conn, meta)

    def test_floating_network_is_mapped(self):
        conn = cloud()
        conn.network.find_network.return_value = obj(id="ext-2")
        plan = self.plans(conn, parameters={
            "network_mapping": {"public": "ext"}})["port-1"]
        assert plan["floating_ips"][0]["network_id"] == "ext-2"

    def test_security_group_same_id_mapping_and_default(self):
        restored = {k: v for k, v in RESTORED_NET.items()
                    if k[0] != "OS::Neutron::SecurityGroup"}
        # same id
        assert self.plans(restored=restored)["port-1"]["attrs"][
            "security_group_ids"] == ["sg-1"]
        # mapping
        conn = cloud()
        conn.network.find_security_group.return_value = obj(id="mine")
        assert self.plans(conn, parameters={
            "security_group_mapping": {"sg-1": "web"}}, restored=restored)[
            "port-1"]["attrs"]["security_group_ids"] == ["mine"]
        # gone: the project's own default group stands in for "default"
        conn = cloud()
        conn.network.get_security_group.side_effect = NOT_FOUND
        conn.network.security_groups.return_value = [obj(id="my-default")]
        meta = saved()
        meta["ports"][0]["security_groups"] = {"sg-1": "default"}
        assert self.plans(conn, meta, restored=restored)["port-1"]["attrs"][
            "security_group_ids"] == ["my-default"]
        # gone and not default: error
        meta["ports"][0]["security_groups"] = {"sg-1": "web"}
        with pytest.raises(exceptions.StackvaultError,
                           match="security_group_mapping"):
            self.plans(conn, meta, restored=restored)

    def test_port_security_disabled_has_no_groups(self):
        meta = saved(ports=[_port(is_port_security_enabled=False,
                                  security_group_ids=[])])
        attrs = self.plans(meta=meta)["port-1"]["attrs"]
        assert attrs["is_port_security_enabled"] is False
        assert "security_group_ids" not in attrs


# -- restore: creating --------------------------------------------------------
class TestCreateServer:
    ATTRS = {"name": "web", "metadata": {}}

    def test_from_an_image_with_no_network(self):
        conn = mock.Mock()
        conn.compute.create_server.return_value = obj(id="new-srv")
        ctx = restore_ctx(conn)
        assert restore.CreateServer().execute(
            ctx, conn, "fl-1", self.ATTRS, {"image_id": "img"}) == "new-srv"
        conn.compute.create_server.assert_called_once_with(
            name="web", metadata={}, flavor_id="fl-1", networks="none",
            image_id="img")
        assert ctx.restored.get(common.RESOURCE_TYPE, "srv-1") == "new-srv"

    def test_from_a_volume(self):
        conn = mock.Mock()
        conn.compute.create_server.return_value = obj(id="new-srv")
        restore.CreateServer().execute(restore_ctx(conn), conn, "fl-1",
                                      self.ATTRS, {"volume_id": "vol"})
        kwargs = conn.compute.create_server.call_args.kwargs
        assert kwargs["block_device_mapping"] == [{
            "boot_index": 0, "uuid": "vol", "source_type": "volume",
            "destination_type": "volume", "delete_on_termination": False}]
        assert "image_id" not in kwargs

    def test_revert_deletes_waits_and_forgets(self):
        conn = mock.Mock()
        conn.compute.get_server.side_effect = [obj(status="ACTIVE"),
                                               NOT_FOUND]
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-srv")
        restore.CreateServer().revert(ctx, conn, "new-srv")
        conn.compute.delete_server.assert_called_once_with(
            "new-srv", ignore_missing=True)
        assert ctx.restored.get(common.RESOURCE_TYPE, "srv-1") is None

    def test_wait_ends_at_once_with_novas_fault(self):
        conn = mock.Mock()
        conn.compute.get_server.side_effect = statuses(
            "BUILD", "ERROR", fault={"message": "No valid host was found."})
        with pytest.raises(exceptions.ResourceFailed,
                           match="No valid host was found"):
            restore.WaitServerActive().execute(restore_ctx(conn), conn,
                                              "new-srv")


PLANS = {"port-1": {
    "original": "port-1",
    "attrs": {"network_id": "net", "mac_address": MAC},
    "fallback": {"network_id": "net"},
    "floating_ips": [{"original_id": "fip-1", "address": "172.24.4.50",
                      "network_id": "public", "fixed_ip_address": "10.0.0.5",
                      "description": ""}]}}


class TestPorts:
    def test_created_with_the_plan_and_recorded(self):
        conn = mock.Mock()
        conn.network.create_port.return_value = obj(id="new-port")
        ctx = restore_ctx(conn)
        result = restore.CreatePort("port-1").execute(ctx, conn, PLANS)
        assert result == {"id": "new-port", "created": True}
        conn.network.create_port.assert_called_once_with(
            network_id="net", mac_address=MAC)
        assert ctx.restored.get("OS::Neutron::Port", "port-1") == "new-port"

    def test_refused_mac_on_a_foreign_network_falls_back_and_says_so(self):
        conn, events = mock.Mock(), []
        conn.network.create_port.side_effect = [forbidden(),
                                                obj(id="new-port")]
        ctx = restore_ctx(conn, events=events)
        assert restore.CreatePort("port-1").execute(ctx, conn, PLANS)[
            "id"] == "new-port"
        assert conn.network.create_port.call_args.kwargs == {
            "network_id": "net"}
        assert "refused the original MAC" in events[0].message

    def test_refused_on_a_restored_network_is_an_error(self):
        conn = mock.Mock()
        conn.network.create_port.side_effect = forbidden()
        plans = {"port-1": dict(PLANS["port-1"], fallback=None)}
        with pytest.raises(sdk_exceptions.ForbiddenException):
            restore.CreatePort("port-1").execute(restore_ctx(conn), conn,
                                                plans)

    def test_a_port_another_plugin_restored_is_reused_not_deleted(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn, restored={
            ("OS::Neutron::Port", "port-1"): "theirs"})
        task = restore.CreatePort("port-1")
        result = task.execute(ctx, conn, PLANS)
        assert result == {"id": "theirs", "created": False}
        task.revert(ctx, conn, result)
        conn.network.create_port.assert_not_called()
        conn.network.delete_port.assert_not_called()

    def test_revert_deletes_the_port(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn, restored={
            ("OS::Neutron::Port", "port-1"): "new-port"})
        restore.CreatePort("port-1").revert(
            ctx, conn, {"id": "new-port", "created": True})
        conn.network.delete_port.assert_called_once_with(
            "new-port", ignore_missing=True)
        assert ctx.restored.get("OS::Neutron::Port", "port-1") is None

    def test_attach_and_its_revert_waits_for_the_detach(self):
        conn = mock.Mock()
        task = restore.AttachPort("port-1")
        assert task.execute(conn, "new-srv", {"id": "new-port"}) == \
            "new-port"
        conn.compute.create_server_interface.assert_called_once_with(
            "new-srv", port_id="new-port")
        conn.network.get_port.side_effect = [obj(device_id="new-srv"),
                                             obj(device_id="")]
        task.revert(restore_ctx(conn), conn, "new-srv", "new-port")
        conn.compute.delete_server_interface.assert_called_once_with(
            "new-port", server="new-srv", ignore_missing=True)
        assert conn.network.get_port.call_count == 2

    def test_wait_attached_until_bound_on_the_server(self):
        conn = mock.Mock()
        conn.network.get_port.side_effect = [
            obj(device_id="", status="DOWN", binding_vif_type="unbound",
                binding_host_id=""),
            obj(device_id="new-srv", status="DOWN", binding_vif_type="ovs",
                binding_host_id="h")]
        assert restore.WaitPortAttached("port-1").execute(
            restore_ctx(conn), conn, "new-srv", "new-port") == "new-port"

    def test_wait_attached_fails_at_once_on_a_failed_binding(self):
        conn = mock.Mock()
        conn.network.get_port.return_value = obj(
            device_id="new-srv", status="DOWN",
            binding_vif_type="binding_failed", binding_host_id="h1")
        with pytest.raises(exceptions.ResourceFailed,
                           match="could not bind it"):
            restore.WaitPortAttached("port-1").execute(
                restore_ctx(conn), conn, "new-srv", "new-port")
        assert conn.network.get_port.call_count == 1


class TestFloatingIP:
    def run(self, conn, events=None):
        conn.current_project_id = PROJECT
        conn.network.get_port.return_value = obj(
            fixed_ips=[{"ip_address": "10.0.0.5"}])
        ctx = restore_ctx(conn, events=events)
        task = restore.AssociateFloatingIP("port-1", "fip-1")
        return ctx, task, task.execute(ctx, conn, PLANS, "new-port")

    def test_the_same_free_address_is_reassociated(self):
        conn, events = mock.Mock(), []
        conn.network.ips.return_value = [obj(id="fip-1", port_id=None)]
        ctx, task, result = self.run(conn, events)
        assert result == {"id": "fip-1", "address": "172.24.4.50",
                          "created": False}
        conn.network.ips.assert_called_once_with(
            floating_ip_address="172.24.4.50", floating_network_id="public",
            project_id=PROJECT)
        (fip,), kwargs = conn.network.update_ip.call_args
        assert kwargs == {"port_id": "new-port",
                          "fixed_ip_address": "10.0.0.5"}
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") == \
            "fip-1"
        assert "re-associated" in events[0].message
        task.revert(ctx, conn, result)
        conn.network.update_ip.assert_called_with("fip-1", port_id=None)
        conn.network.delete_ip.assert_not_called()

    def test_the_same_address_is_allocated_again_when_allowed(self):
        conn = mock.Mock()
        conn.network.ips.return_value = []
        conn.network.create_ip.return_value = obj(id="fip-9")
        _, _, result = self.run(conn)
        assert result["created"] and result["address"] == "172.24.4.50"
        assert conn.network.create_ip.call_args.kwargs[
            "floating_ip_address"] == "172.24.4.50"

    def test_falls_back_to_a_new_address_and_reports_it(self):
        conn, events = mock.Mock(), []
        conn.network.ips.return_value = [obj(id="x", port_id="someone")]
        conn.network.create_ip.side_effect = [
            forbidden("create_floatingip:floating_ip_address is disallowed"),
            obj(id="fip-9", floating_ip_address="172.24.4.77")]
        ctx, task, result = self.run(conn, events)
        assert result == {"id": "fip-9", "address": "172.24.4.77",
                          "created": True}
        assert conn.network.create_ip.call_args.kwargs == {
            "floating_network_id": "public", "description": "",
            "port_id": "new-port", "fixed_ip_address": "10.0.0.5"}
        assert "172.24.4.50 could not be taken again" in events[0].message
        assert "new address 172.24.4.77" in events[0].message
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") == \
            "fip-9"
        task.revert(ctx, conn, result)
        conn.network.delete_ip.assert_called_once_with(
            "fip-9", ignore_missing=True)
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") is None


class TestVolumes:
    PLAN = [{"original": "vol-1", "device": "/dev/vdb", "new": "new-vol"}]

    def test_attached_at_the_original_device(self):
        conn = mock.Mock()
        assert restore.AttachVolume("vol-1").execute(
            conn, "new-srv", self.PLAN) == "new-vol"
        (srv,), kwargs = conn.compute.create_volume_attachment.call_args
        assert srv.id == "new-srv"
        assert kwargs == {"volume": "new-vol", "device": "/dev/vdb"}

    def test_revert_detaches_and_waits_available_without_deleting(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "detaching", "available")
        restore.AttachVolume("vol-1").revert(restore_ctx(conn), conn,
                                            "new-srv", "new-vol")
        (srv, volume), kwargs = \
            conn.compute.delete_volume_attachment.call_args
        assert (srv.id, volume) == ("new-srv", "new-vol")
        assert conn.block_storage.get_volume.call_count == 2
        conn.block_storage.delete_volume.assert_not_called()

    def test_wait_in_use(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "reserved", "attaching", "in-use")
        restore.WaitVolumeInUse("vol-1").execute(restore_ctx(conn), conn,
                                                "new-srv", "new-vol")

    def test_an_attach_nova_rolled_back_fails_at_once(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "attaching", "available")
        conn.compute.get_server.return_value = obj(
            fault={"message": "device /dev/vdb is busy"})
        with pytest.raises(exceptions.ResourceFailed,
                           match="rolled back.*vdb is busy"):
            restore.WaitVolumeInUse("vol-1").execute(
                restore_ctx(conn), conn, "new-srv", "new-vol")


# -- restore: the root disk ---------------------------------------------------
def test_root_disk_restore_uploads_a_new_image_and_boots_from_it(section):
    payload = b"0123456789"
    glance, conn, snap, root = _saved_root_disk(section, payload)
    glance.records.pop(snap)            # the temporary snapshot was deleted
    meta = saved()
    meta["root_disk"] = json.loads(json.dumps(root))
    ctx = make_ctx(SRV, conn, operation="restore", metadata=meta,
                   bank=section)
    new_id = restore.CreateRootDiskImage().execute(ctx, conn, meta,
                                                  {"name": "web"})
    assert ctx.restored.get("OS::Glance::Image", snap) == new_id
    restore.UploadRootDisk().execute(ctx, conn, section, meta, new_id)
    assert restore.WaitRootDiskImage().execute(ctx, conn, meta, new_id) == \
        {"image_id": new_id}
    image = glance.records[new_id]
    assert image["name"] == "web-root-disk"
    assert image["visibility"] == "private"
    assert glance.data[new_id] == payload
    restore.CreateRootDiskImage().revert(ctx, conn, meta, new_id)
    assert new_id not in glance.records
    assert ctx.restored.get("OS::Glance::Image", snap) is None


# -- delete and verify --------------------------------------------------------
def test_delete_flow_removes_root_disk_data_only_when_there_is_some(section):
    plugin = ServerPlugin()
    assert plugin.delete_flow(make_ctx(SRV, metadata=saved()), SRV) is None
    _, conn, _, root = _saved_root_disk(section, b"abcdef")
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
    with pytest.raises(exceptions.StackvaultError, match="missing"):
        protect.CheckServerMetadata().execute(SRV, {})
    broken = saved()
    del broken["ports"]
    with pytest.raises(exceptions.StackvaultError, match="lacks ports"):
        protect.CheckServerMetadata().execute(SRV, broken)

    _, conn, _, root = _saved_root_disk(section, b"abcdef")
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
            _flavor(id="f-tiny", extra_specs={"hw:cpu": "shared"})]
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
            return _flavor(id="f-tiny")
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
    return saved(ports=[_port(id="p1", name="p1"),
                        _port(id="p2", name="p2", fixed_ips=[])],
                 fips=[_fip(port_id="p1")],
                 attachments=[_attachment("vol-b", "/dev/vdc"),
                              _attachment("vol-a", "/dev/vdb")],
                 volumes={"vol-a": _volume("vol-a"),
                          "vol-b": _volume("vol-b")})


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


def test_restore_flow_creates_server_then_ports_and_volumes_in_order():
    fake = FakeCloud()
    meta = app_metadata()
    # p2 listed first by Nova: it is the guest's first NIC
    assert [p["id"] for p in meta["ports"]] == ["p2", "p1"]
    outcome, ctx = run_restore(fake, meta)
    assert outcome.succeeded, outcome.failures
    assert fake.calls[0] == ("create_server", "web")
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
    for volume in fake.names("attach_volume"):
        assert ("detach_volume", volume) in calls
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
    from protection import parameters as params
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
