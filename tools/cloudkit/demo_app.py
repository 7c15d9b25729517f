"""The demo-sized application, shared by the demo, the fault tests and
the benchmarks: a network with a subnet, a router (gateway on the external
network) and a security group; an image; a server on a port with a fixed
IP, with two volumes holding known random bytes (written through
devcloud's volume files); and the checks of a restored copy.
"""

import ipaddress
import secrets
import time

from tools.cloudkit import teardown
from tools.cloudkit import volume_bytes

PREFIX = "stackvault-demo"
CIDR = "10.250.1.0/24"
FIXED_IP = "10.250.1.10"
MiB = 1024 * 1024
SERVER = "OS::Nova::Server"
VOLUME = "OS::Cinder::Volume"
TIMEOUT = 600


class AppCheckFailed(Exception):
    """The application (or its restored copy) is not what it should be."""


def wait(fetch, status, what):
    deadline = time.monotonic() + TIMEOUT
    while True:
        obj = fetch()
        if obj.status.lower() == status.lower():
            return obj
        if "error" in obj.status.lower():
            raise AppCheckFailed(f"{what} went to {obj.status}")
        if time.monotonic() > deadline:
            raise AppCheckFailed(f"{what} is still {obj.status} after "
                             f"{TIMEOUT}s")
        time.sleep(0.5)


def ours(items, prefix=PREFIX):
    return [i for i in items if (i.name or "").startswith(prefix)]


def create_application(conn, prefix=PREFIX, cidr=CIDR, fixed_ip=FIXED_IP,
                       say=print, volume_gib=1):
    """The demo-sized application; returns what the checks need.
    ``volume_gib``: the size of each of its two volumes."""
    app = {"fixed_ip": fixed_ip}
    public = conn.network.find_network("public", ignore_missing=False)
    net = conn.network.create_network(name=f"{prefix}-net")
    subnet = conn.network.create_subnet(
        network_id=net.id, name=f"{prefix}-subnet", ip_version=4,
        cidr=cidr, dns_nameservers=[str(ipaddress.ip_network(cidr)[2])])
    router = conn.network.create_router(
        name=f"{prefix}-router",
        external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    group = conn.network.create_security_group(name=f"{prefix}-web")
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4",
        protocol="tcp", port_range_min=80, port_range_max=80,
        remote_ip_prefix="0.0.0.0/0")
    port = conn.network.create_port(
        network_id=net.id, name=f"{prefix}-port",
        fixed_ips=[{"subnet_id": subnet.id, "ip_address": fixed_ip}],
        security_group_ids=[group.id])
    image_bytes = secrets.token_bytes(2 * MiB)
    image = conn.image.create_image(
        name=f"{prefix}-image", data=image_bytes, disk_format="raw",
        container_format="bare", allow_duplicates=True, wait=True,
        timeout=TIMEOUT)
    flavor = min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus))
    server = conn.compute.create_server(
        name=f"{prefix}-server", image_id=image.id, flavor_id=flavor.id,
        networks=[{"port": port.id}])
    wait(lambda: conn.compute.get_server(server.id), "ACTIVE",
         f"server {server.id}")
    app["volumes"] = {}
    for index in (1, 2):
        volume = conn.block_storage.create_volume(
            size=volume_gib, name=f"{prefix}-data{index}")
        wait(lambda v=volume: conn.block_storage.get_volume(v.id),
             "available", f"volume {volume.id}")
        conn.compute.create_volume_attachment(server, volume=volume)
        wait(lambda v=volume: conn.block_storage.get_volume(v.id), "in-use",
             f"volume {volume.id}")
        data = secrets.token_bytes(4 * MiB)
        volume_bytes.write_volume(volume.id, data, 0)
        app["volumes"][volume.id] = data
    app.update(server=server, port=conn.network.get_port(port.id),
               image=image, network=net, router=router, group=group)
    say(f"  server {server.id} on {fixed_ip} "
        f"({app['port'].mac_address}), image {image.id}")
    for volume_id in app["volumes"]:
        say(f"  volume {volume_id}: 4 MiB of random bytes, attached")
    say(f"  network {net.id} {cidr}, router {router.id} -> public, "
        f"security group {group.id}")
    return app


def delete_application(conn, app):
    teardown.delete_server(conn, app["server"].id)
    for volume_id in app["volumes"]:
        teardown.delete_volume(conn, volume_id)
    teardown.delete_port(conn, app["port"].id)
    teardown.dismantle_router(conn, app["router"].id)
    teardown.delete_network(conn, app["network"].id)
    teardown.delete_security_group(conn, app["group"].id)
    teardown.delete_image(conn, app["image"].id)


def check_restored(conn, app, restored, say=print):
    """Server ACTIVE, volumes attached with equal bytes, same IP and MAC."""
    fixed_ip = app["fixed_ip"]
    server_id = restored[f"{SERVER}#{app['server'].id}"]
    server = conn.compute.get_server(server_id)
    if server.status != "ACTIVE":
        raise AppCheckFailed(f"restored server {server_id} is {server.status}")
    say(f"  server {server_id}: ACTIVE")
    attached = {a.volume_id for a in
                conn.compute.volume_attachments(server_id)}
    for original, data in app["volumes"].items():
        new_id = restored[f"{VOLUME}#{original}"]
        volume = conn.block_storage.get_volume(new_id)
        if new_id not in attached or volume.status != "in-use":
            raise AppCheckFailed(f"restored volume {new_id} is not attached")
        if volume_bytes.read_volume(new_id, len(data), 0) != data:
            raise AppCheckFailed(f"restored volume {new_id} has other bytes")
        say(f"  volume {new_id}: in-use on the server, "
            f"{len(data) // MiB} MiB equal")
    ports = list(conn.network.ports(device_id=server_id))
    ips = {(ip["ip_address"], p.mac_address) for p in ports
           for ip in p.fixed_ips}
    if (fixed_ip, app["port"].mac_address) not in ips:
        raise AppCheckFailed(f"restored server has {sorted(ips)}, not "
                         f"{fixed_ip}/{app['port'].mac_address}")
    say(f"  port: {fixed_ip} {app['port'].mac_address}, as before")
    _check_unmarked(server, [conn.block_storage.get_volume(
        restored[f"{VOLUME}#{original}"]) for original in app["volumes"]],
        ports)
    say("  no stackvault mark left on the server, its volumes and ports")


MARK_KEYS = ("stackvault_operation", "stackvault_task")


def _check_unmarked(server, volumes, ports):
    """A restore's last stage took every mark off what it made."""
    for what, obj in [("server", server)] + [("volume", v) for v in volumes]:
        left = set(MARK_KEYS) & set(obj.metadata or {})
        if left:
            raise AppCheckFailed(f"restored {what} {obj.id} still carries "
                                 f"the marks {sorted(left)}")
    for port in ports:
        if (port.description or "").startswith("stackvault:"):
            raise AppCheckFailed(f"restored port {port.id} still carries "
                                 f"the mark {port.description}")
