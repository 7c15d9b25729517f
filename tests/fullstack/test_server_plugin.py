"""The server plugin against a real cloud: a whole application round trip.

Each scenario builds a small application (network, subnet, router with a
gateway on the external network, security group, ports, an image, volumes
holding known bytes), protects it by naming only the server
(``OS::Nova::Server=<id>``: the rest is its dependency tree), deletes it,
restores it, and checks the cloud's real state: the server ACTIVE, the
volumes ``in-use`` on it with the same bytes, the port on the restored
network with the same fixed IP and MAC, the same security group rules.

Byte checks need devcloud (tools/cloudkit/volume_bytes.py); on another
cloud those scenarios skip with that reason. Every resource, original or
restored, is registered for deletion before anything is asserted.
"""

import datetime
import ipaddress
import secrets

import pytest

from protection import exceptions
from tools.cloudkit import root_disk
from tools.cloudkit import volume_bytes as devcloud_volume
from tools.cloudkit import teardown
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit.waits import wait_for, wait_status
from tests.fullstack.service_fixtures import make_service

SERVER = "OS::Nova::Server"
VOLUME = "OS::Cinder::Volume"
IMAGE = "OS::Glance::Image"
NETWORK = "OS::Neutron::Network"
SUBNET = "OS::Neutron::Subnet"
ROUTER = "OS::Neutron::Router"
GROUP = "OS::Neutron::SecurityGroup"
PORT = "OS::Neutron::Port"
FLOATING_IP = "OS::Neutron::FloatingIP"
MiB = 1024 * 1024


@pytest.fixture
def events():
    return []


@pytest.fixture
def service(tmp_path, events):
    svc = make_service(tmp_path / "bank")
    svc.progress.add_listener(events.append)
    return svc


def _name(kind):
    return f"fullstack-srv-{kind}-{secrets.token_hex(3)}"


def _restore(service, conn, cleanup, checkpoint_id, parameters=None,
             **options):
    try:
        result = service.restore(checkpoint_id, conn, parameters, **options)
    except exceptions.OperationFailed as exc:
        if exc.result is not None:
            cleanup(teardown.delete_restored, conn, exc.result.restored)
        raise
    cleanup(teardown.delete_restored, conn, result.restored)
    return result


def _protect(service, conn, cleanup, server_ids, parameters=None):
    result = service.protect(conn, "app",
                             [(SERVER, sid) for sid in server_ids],
                             parameters)
    cleanup(service.delete, result.checkpoint_id, conn)
    return result.checkpoint_id


# -- building an application -------------------------------------------------
def _flavor(conn):
    return conn.compute.find_flavor("m1.tiny", ignore_missing=False)


def _public(conn):
    return conn.network.find_network("public", ignore_missing=False)


def _make_network(conn, cleanup):
    """A network with a subnet, a router (gateway on ``public``) and a
    security group with a few rules, one of them naming itself."""
    net = conn.network.create_network(name=_name("net"))
    cleanup(teardown.delete_network, conn, net.id)
    cidr = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}.0/24"
    subnet = conn.network.create_subnet(
        network_id=net.id, name=_name("subnet"), ip_version=4, cidr=cidr,
        dns_nameservers=["192.0.2.53"])
    router = conn.network.create_router(
        name=_name("router"),
        external_gateway_info={"network_id": _public(conn).id})
    cleanup(teardown.dismantle_router, conn, router.id)
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    group = conn.network.create_security_group(name=_name("sg"))
    cleanup(teardown.delete_security_group, conn, group.id)
    for rule in (dict(protocol="tcp", port_range_min=22, port_range_max=22,
                      remote_ip_prefix="192.0.2.0/24"),
                 dict(protocol="icmp", remote_ip_prefix="0.0.0.0/0"),
                 dict(protocol="tcp", port_range_min=5432,
                      port_range_max=5432, remote_group_id=group.id)):
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress",
            ethertype="IPv4", **rule)
    return net, subnet, router, group


def _make_port(conn, cleanup, net, subnet, group, host=10):
    address = str(ipaddress.ip_network(subnet.cidr)[host])
    port = conn.network.create_port(
        network_id=net.id, name=_name("port"),
        fixed_ips=[{"subnet_id": subnet.id, "ip_address": address}],
        security_group_ids=[group.id])
    cleanup(teardown.delete_port, conn, port.id)
    return port


def _boot(conn, cleanup, **attrs):
    server = conn.compute.create_server(
        name=attrs.pop("name", None) or _name("vm"),
        flavor_id=_flavor(conn).id, **attrs)
    cleanup(teardown.delete_server, conn, server.id)
    return wait_status(lambda: conn.compute.get_server(server.id), "ACTIVE",
                       failures=("ERROR",), what=f"server {server.id}")


def _new_volume(conn, cleanup, **attrs):
    volume = conn.block_storage.create_volume(
        size=attrs.pop("size", 1), name=attrs.pop("name", None)
        or _name("vol"), **attrs)
    cleanup(teardown.delete_volume, conn, volume.id)
    return wait_status(lambda: conn.block_storage.get_volume(volume.id),
                       "available", what=f"volume {volume.id}")


def _attach(conn, server, volume):
    conn.compute.create_volume_attachment(server, volume=volume)
    wait_status(lambda: conn.block_storage.get_volume(volume.id), "in-use",
                what=f"volume {volume.id}")


def _write_pattern(volume_id, offset=0):
    data = {offset: secrets.token_bytes(2 * MiB),
            offset + 64 * MiB: secrets.token_bytes(MiB)}
    for at, chunk in data.items():
        devcloud_volume.write_volume(volume_id, chunk, at)
    return data


def _assert_bytes(volume_id, pattern):
    for offset, data in pattern.items():
        assert devcloud_volume.read_volume(volume_id, len(data), offset) \
            == data, f"bytes at {offset} differ in volume {volume_id}"


def _rules(conn, group_id, self_id):
    """A group's rules, comparable across copies (itself as ``self``)."""
    found = set()
    for rule in conn.network.security_group_rules(
            security_group_id=group_id):
        remote = rule.remote_group_id
        found.add((rule.direction, rule.ether_type, rule.protocol,
                   rule.port_range_min, rule.port_range_max,
                   rule.remote_ip_prefix,
                   "self" if remote == self_id else remote))
    return found


def _attached_volume_ids(conn, server_id):
    return {a.volume_id for a in conn.compute.volume_attachments(server_id)}


def _assert_root_disk_overlapped_the_backups(conn, checkpoint_id, stamped,
                                             volumes):
    """Only the volumes' temporary snapshots are ordered around the
    server's protect (contract.BEFORE_PARENT / AFTER_PARENT): its root-disk
    snapshot began while Cinder was still taking both backups, and Nova
    accepted it and the deletion of the snapshots afterwards."""
    (snapshot_at,) = [at for at, e in stamped
                      if e.resource is not None
                      and e.resource.type == SERVER and e.step == "root-disk"]
    backups = [b for b in conn.block_storage.backups()
               if checkpoint_id in (b.description or "")]
    assert sorted(b.volume_id for b in backups) == \
        sorted(v.id for v in volumes)
    for backup in backups:
        available_at = datetime.datetime.fromisoformat(
            backup.updated_at).replace(tzinfo=datetime.UTC)
        assert snapshot_at < available_at, (
            f"root-disk snapshot at {snapshot_at}, after backup "
            f"{backup.id} was available ({available_at})")
    for volume in volumes:
        assert list(conn.block_storage.snapshots(volume_id=volume.id)) == []


# -- (a) the whole application -----------------------------------------------
def test_image_booted_server_with_network_volumes_and_floating_ip(
        service, conn, cleanup, random_image, events):
    require_devcloud()
    image, _ = random_image(size=MiB)
    net, subnet, router, group = _make_network(conn, cleanup)
    port = _make_port(conn, cleanup, net, subnet, group)
    fip = conn.network.create_ip(floating_network_id=_public(conn).id)
    cleanup(teardown.delete_floating_ip, conn, fip.id)
    server = _boot(conn, cleanup, image_id=image.id,
                   networks=[{"port": port.id}], metadata={"role": "db"},
                   tags=["fullstack"])
    conn.network.update_ip(fip, port_id=port.id)
    # What the guest wrote to its root disk (saved by default).
    root_bytes = secrets.token_bytes(64 * 1024)
    root_disk.write_root_disk(server.id, root_bytes, offset=MiB // 2)
    volumes = [_new_volume(conn, cleanup) for _ in range(2)]
    patterns = {}
    for volume in volumes:
        _attach(conn, server, volume)
        patterns[volume.id] = _write_pattern(volume.id)
    original_rules = _rules(conn, group.id, group.id)
    port = conn.network.get_port(port.id)

    stamped = []
    service.progress.add_listener(
        lambda e: stamped.append((datetime.datetime.now(datetime.UTC), e)))
    checkpoint_id = _protect(service, conn, cleanup, [server.id])
    graph = service.show_checkpoint(checkpoint_id).graph
    assert {r.key for r in graph} == {
        (SERVER, server.id), (IMAGE, image.id), (NETWORK, net.id),
        *((VOLUME, v.id) for v in volumes)}
    assert service.verify(checkpoint_id, conn).ok
    _assert_root_disk_overlapped_the_backups(conn, checkpoint_id, stamped,
                                             volumes)

    # The floating IP stays allocated: restore must get the same address.
    teardown.delete_resources(conn, {
        SERVER: [server.id], VOLUME: [v.id for v in volumes],
        PORT: [port.id], ROUTER: [router.id], GROUP: [group.id],
        NETWORK: [net.id], IMAGE: [image.id]})

    result = _restore(service, conn, cleanup, checkpoint_id)
    restored = result.restored
    new_server = conn.compute.get_server(restored[f"{SERVER}#{server.id}"])
    assert new_server.status == "ACTIVE"
    assert new_server.name == server.name
    assert new_server.metadata == {"role": "db"}
    assert new_server.tags == ["fullstack"]
    # It boots from its restored root disk, not from the restored image.
    (root_image,) = [new for key, new in restored.items()
                     if key.startswith(IMAGE)
                     and key != f"{IMAGE}#{image.id}"]
    assert new_server.image.id == root_image
    assert root_disk.read_root_disk(new_server.id, len(root_bytes),
                                    offset=MiB // 2) == root_bytes
    new_volumes = {v.id: restored[f"{VOLUME}#{v.id}"] for v in volumes}
    assert _attached_volume_ids(conn, new_server.id) == \
        set(new_volumes.values())
    for original_id, new_id in new_volumes.items():
        new = conn.block_storage.get_volume(new_id)
        assert new.status == "in-use"
        assert [a["server_id"] for a in new.attachments] == [new_server.id]
        _assert_bytes(new_id, patterns[original_id])

    new_port = conn.network.get_port(restored[f"{PORT}#{port.id}"])
    assert new_port.device_id == new_server.id
    assert new_port.network_id == restored[f"{NETWORK}#{net.id}"]
    assert new_port.mac_address == port.mac_address
    assert [ip["ip_address"] for ip in new_port.fixed_ips] == \
        [ip["ip_address"] for ip in port.fixed_ips]
    assert new_port.fixed_ips[0]["subnet_id"] == \
        restored[f"{SUBNET}#{subnet.id}"]
    new_group = restored[f"{GROUP}#{group.id}"]
    assert new_port.security_group_ids == [new_group]
    assert _rules(conn, new_group, new_group) == original_rules
    assert [i.port_id for i in conn.compute.server_interfaces(
        new_server.id)] == [new_port.id]

    # The restore's last stage took every mark off what it made.
    assert new_port.description == (port.description or "")
    for new_image in (root_image, restored[f"{IMAGE}#{image.id}"]):
        properties = conn.image.get_image(new_image).properties or {}
        assert not {"stackvault_operation", "stackvault_task"} & \
            set(properties), new_image
    for new_id in new_volumes.values():
        assert not {"stackvault_operation", "stackvault_task"} & set(
            conn.block_storage.get_volume(new_id).metadata or {})
    assert not conn.network.get_network(
        restored[f"{NETWORK}#{net.id}"]).description.startswith(
            "stackvault:")
    assert result.still_marked == {}

    new_fip = conn.network.get_ip(restored[f"{FLOATING_IP}#{fip.id}"])
    assert new_fip.id == fip.id          # the same, still allocated one
    assert new_fip.floating_ip_address == fip.floating_ip_address
    assert new_fip.port_id == new_port.id
    assert any(e.step == "floating-ip" and "re-associated" in e.message
               for e in events)


# -- (b) boot from volume, with a data volume and a fixed-IP port ------------
def test_volume_booted_server_with_a_data_volume(
        service, conn, cleanup, random_image, events):
    require_devcloud()
    image, image_data = random_image(size=MiB)
    boot = _new_volume(conn, cleanup, image_id=image.id)
    data_volume = _new_volume(conn, cleanup)
    net, subnet, router, group = _make_network(conn, cleanup)
    port = _make_port(conn, cleanup, net, subnet, group)
    server = _boot(conn, cleanup, networks=[{"port": port.id}],
                   block_device_mapping=[{
                       "boot_index": 0, "uuid": boot.id,
                       "source_type": "volume",
                       "destination_type": "volume",
                       "delete_on_termination": False}])
    _attach(conn, server, data_volume)
    boot_pattern = _write_pattern(boot.id, offset=8 * MiB)
    data_pattern = _write_pattern(data_volume.id)
    old_port = conn.network.get_port(port.id)

    checkpoint_id = _protect(service, conn, cleanup, [server.id])
    graph = service.show_checkpoint(checkpoint_id).graph
    # No image: the root disk is the boot volume.
    assert {r.key for r in graph} == {(SERVER, server.id), (VOLUME, boot.id),
                                      (VOLUME, data_volume.id),
                                      (NETWORK, net.id)}
    assert graph.resource((VOLUME, boot.id)).extra.get("boot") is True
    teardown.delete_resources(conn, {
        SERVER: [server.id], VOLUME: [boot.id, data_volume.id],
        PORT: [port.id], ROUTER: [router.id], GROUP: [group.id],
        NETWORK: [net.id]})

    result = _restore(service, conn, cleanup, checkpoint_id)
    restored = result.restored
    new_server = conn.compute.get_server(restored[f"{SERVER}#{server.id}"])
    new_boot = restored[f"{VOLUME}#{boot.id}"]
    new_data = restored[f"{VOLUME}#{data_volume.id}"]
    assert new_server.status == "ACTIVE"
    image_ref = new_server.image          # "" for a volume-booted server
    assert not (image_ref.get("id") if isinstance(image_ref, dict)
                else getattr(image_ref, "id", None))
    assert _attached_volume_ids(conn, new_server.id) == {new_boot, new_data}
    for volume_id in (new_boot, new_data):
        assert conn.block_storage.get_volume(volume_id).status == "in-use"
    assert devcloud_volume.read_volume(new_boot, len(image_data)) == \
        image_data
    _assert_bytes(new_boot, boot_pattern)
    _assert_bytes(new_data, data_pattern)
    (new_port,) = list(conn.network.ports(device_id=new_server.id))
    assert new_port.network_id == restored[f"{NETWORK}#{net.id}"]
    assert new_port.id == restored[f"{PORT}#{old_port.id}"]
    assert new_port.mac_address == old_port.mac_address
    assert [ip["ip_address"] for ip in new_port.fixed_ips] == \
        [ip["ip_address"] for ip in old_port.fixed_ips]


# -- (c) two servers on one network -------------------------------------------
def test_two_servers_sharing_a_network_restore_it_once(
        service, conn, cleanup, random_image, events):
    image, _ = random_image(size=MiB)
    net, subnet, router, group = _make_network(conn, cleanup)
    ports = [_make_port(conn, cleanup, net, subnet, group, host=h)
             for h in (11, 12)]
    servers = [_boot(conn, cleanup, image_id=image.id,
                     networks=[{"port": p.id}]) for p in ports]
    fip = conn.network.create_ip(floating_network_id=_public(conn).id,
                                 port_id=ports[0].id)
    cleanup(teardown.delete_floating_ip, conn, fip.id)

    checkpoint_id = _protect(service, conn, cleanup,
                             [s.id for s in servers])
    graph = service.show_checkpoint(checkpoint_id).graph
    assert [r.id for r in graph if r.type == NETWORK] == [net.id]
    # This time the floating IP is released too.
    teardown.delete_resources(conn, {
        SERVER: [s.id for s in servers], PORT: [p.id for p in ports],
        ROUTER: [router.id], GROUP: [group.id], NETWORK: [net.id]})
    teardown.delete_floating_ip(conn, fip.id)

    result = _restore(service, conn, cleanup, checkpoint_id)
    restored = result.restored
    assert [k for k in restored if k.startswith(NETWORK)] == \
        [f"{NETWORK}#{net.id}"]
    # demo may not choose a floating address (Neutron's default policy):
    # a new one from the same network, and the progress says so.
    new_fip = conn.network.get_ip(restored[f"{FLOATING_IP}#{fip.id}"])
    assert new_fip.floating_network_id == fip.floating_network_id
    assert new_fip.port_id == restored[f"{PORT}#{ports[0].id}"]
    (message,) = [e.message for e in events if e.step == "floating-ip"]
    if new_fip.floating_ip_address != fip.floating_ip_address:
        assert f"{fip.floating_ip_address} could not be taken again" in \
            message
        assert new_fip.floating_ip_address in message
    new_net = restored[f"{NETWORK}#{net.id}"]
    assert len(list(conn.network.networks(name=net.name))) == 1
    for server, port in zip(servers, ports):
        new_server = restored[f"{SERVER}#{server.id}"]
        assert conn.compute.get_server(new_server).status == "ACTIVE"
        (new_port,) = list(conn.network.ports(device_id=new_server))
        assert new_port.network_id == new_net
        assert new_port.fixed_ips[0]["ip_address"] == \
            port.fixed_ips[0]["ip_address"]
        assert new_port.mac_address == port.mac_address


# -- (d) a failed restore leaves nothing --------------------------------------
def test_failed_server_step_rolls_the_whole_restore_back(
        service, conn, cleanup, random_image):
    image, _ = random_image(size=MiB)
    net, subnet, router, group = _make_network(conn, cleanup)
    port = _make_port(conn, cleanup, net, subnet, group)
    server = _boot(conn, cleanup, image_id=image.id,
                   networks=[{"port": port.id}])
    volume = _new_volume(conn, cleanup)
    _attach(conn, server, volume)
    checkpoint_id = _protect(service, conn, cleanup, [server.id])
    teardown.delete_resources(conn, {
        SERVER: [server.id], VOLUME: [volume.id], PORT: [port.id],
        ROUTER: [router.id], GROUP: [group.id], NETWORK: [net.id],
        IMAGE: [image.id]})

    no_flavor = {SERVER: {"flavor_mapping": {"m1.tiny": "no-such-flavor"}}}
    with pytest.raises(exceptions.PreflightFailed,
                       match="flavor exists: .*no-such-flavor"):
        _restore(service, conn, cleanup, checkpoint_id, no_flavor)
    with pytest.raises(exceptions.OperationFailed) as caught:
        _restore(service, conn, cleanup, checkpoint_id, no_flavor,
                 skip_preflight=True)

    failure = caught.value.failures[0]
    assert failure.resource.key == (SERVER, server.id)
    assert failure.step == "ResolveFlavor"
    assert "no-such-flavor" in failure.message and "m1.tiny" in \
        failure.message
    assert caught.value.result.restored == {}
    assert not caught.value.result.rollback_failures
    assert not list(conn.compute.servers(name=server.name))
    assert not [v for v in conn.block_storage.volumes()
                if v.name == volume.name]
    assert not list(conn.network.networks(name=net.name))
    assert not list(conn.network.ports(name=port.name))
    assert not list(conn.network.routers(name=router.name))
    assert not list(conn.network.security_groups(name=group.name))
    assert not list(conn.image.images(name=image.name))


# -- the root disk: a compute driver that uploads nothing ---------------------
def test_root_disk_snapshot_that_never_gets_data_fails_fast_and_cleans_up(
        service, conn, cleanup, random_image):
    """A compute driver that finishes createImage without uploading (the
    stock fake driver; devcloud's without the root disk file): the
    protect must say so at once (not wait out the timeout) and leave
    neither the temporary snapshot nor an available checkpoint."""
    image, _ = random_image(size=MiB)
    server = _boot(conn, cleanup, image_id=image.id, networks="none")
    # Without its root disk file devcloud's driver uploads nothing, as the
    # stock fake driver does.
    root_disk.disk_file(server.id).unlink()
    name = "stackvault-tmp-"
    before = {i.id for i in conn.image.images() if i.name.startswith(name)}

    with pytest.raises(exceptions.OperationFailed) as caught:
        try:
            service.protect(conn, "root", [(SERVER, server.id)],
                            {SERVER: {"snapshot_root_disk": True}})
        except exceptions.OperationFailed as exc:
            cleanup(service.delete, exc.result.checkpoint_id, conn)
            raise

    failure = caught.value.failures[0]
    assert failure.step == "WaitRootDiskSnapshot"
    assert "received no data" in failure.message
    assert caught.value.result.seconds < 120
    left = wait_for(lambda: {i.id for i in conn.image.images()
                             if i.name.startswith(name)} - before == set()
                    or None, timeout=60, what="temporary snapshot deleted")
    assert left
