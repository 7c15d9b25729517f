#!/usr/bin/env python3
"""stackvault's main job, end to end, on a real cloud (devcloud by default).

1. create a small application: a network with a subnet, a router (gateway
   on the external network) and a security group; an image; a server on a
   port with a fixed IP, with two volumes holding known random bytes;
2. protect it into the default filesystem bank (``stackvault protect`` of
   the server: its volumes, image and network come with it);
3. delete the whole application;
4. restore it (``stackvault restore``);
5. check it: server ACTIVE, both volumes attached with the same bytes, the
   same fixed IP and MAC; then print the time of each phase.

Every stackvault step runs the real CLI, printed before it runs, so the
output shows what to type. What an earlier run left (the application, the
restored copy, demo checkpoints and their backups) is removed first, so the
demo can run again and again. The restored application is kept for you to
look at.

Run it through ``make demo`` (which installs stackvault and brings devcloud
up first), or directly with OS_CLOUD/OS_CLIENT_CONFIG_FILE set.
"""

import json
import os
import pathlib
import secrets
import subprocess
import sys
import time

import openstack

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.cloudkit import volume_bytes as devcloud_volume  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402

PREFIX = "stackvault-demo"
CIDR = "10.250.1.0/24"
FIXED_IP = "10.250.1.10"
MiB = 1024 * 1024
SERVER = "OS::Nova::Server"
VOLUME = "OS::Cinder::Volume"
TIMEOUT = 600


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def stackvault(*args, quiet=False):
    """Run the stackvault CLI (progress on stderr, JSON on stdout)."""
    command = ["stackvault", *([] if quiet else ["--progress"]), *args,
               "-f", "json"]
    if not quiet:
        say("$ " + " ".join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        say(done.stdout)
        raise DemoFailed(f"stackvault {' '.join(args[:2])} failed "
                         f"(exit {done.returncode})")
    return json.loads(done.stdout) if done.stdout.strip() else None


def wait(fetch, status, what):
    deadline = time.monotonic() + TIMEOUT
    while True:
        obj = fetch()
        if obj.status.lower() == status.lower():
            return obj
        if "error" in obj.status.lower():
            raise DemoFailed(f"{what} went to {obj.status}")
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what} is still {obj.status} after "
                             f"{TIMEOUT}s")
        time.sleep(0.5)


def ours(items):
    return [i for i in items if (i.name or "").startswith(PREFIX)]


# -- phases -------------------------------------------------------------------
def remove_leftovers(conn):
    """Earlier runs: checkpoints (with their backups), applications."""
    for checkpoint in stackvault("checkpoint", "list", quiet=True) or []:
        if checkpoint["Name"] == PREFIX and \
                checkpoint["Status"] != "protecting":
            stackvault("checkpoint", "delete", checkpoint["ID"], quiet=True)
    for server in ours(conn.compute.servers()):
        teardown.delete_server(conn, server.id)
    for volume in ours(conn.block_storage.volumes()):
        teardown.delete_volume(conn, volume.id)
    for router in ours(conn.network.routers()):
        teardown.dismantle_router(conn, router.id)
    for network in ours(conn.network.networks()):
        teardown.delete_network(conn, network.id)
    for group in ours(conn.network.security_groups()):
        teardown.delete_security_group(conn, group.id)
    for image in ours(conn.image.images()):
        teardown.delete_image(conn, image.id)


def create_application(conn):
    app = {}
    public = conn.network.find_network("public", ignore_missing=False)
    net = conn.network.create_network(name=f"{PREFIX}-net")
    subnet = conn.network.create_subnet(
        network_id=net.id, name=f"{PREFIX}-subnet", ip_version=4,
        cidr=CIDR, dns_nameservers=["10.250.1.2"])
    router = conn.network.create_router(
        name=f"{PREFIX}-router",
        external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    group = conn.network.create_security_group(name=f"{PREFIX}-web")
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4",
        protocol="tcp", port_range_min=80, port_range_max=80,
        remote_ip_prefix="0.0.0.0/0")
    port = conn.network.create_port(
        network_id=net.id, name=f"{PREFIX}-port",
        fixed_ips=[{"subnet_id": subnet.id, "ip_address": FIXED_IP}],
        security_group_ids=[group.id])
    image_bytes = secrets.token_bytes(2 * MiB)
    image = conn.image.create_image(
        name=f"{PREFIX}-image", data=image_bytes, disk_format="raw",
        container_format="bare", allow_duplicates=True, wait=True,
        timeout=TIMEOUT)
    flavor = min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus))
    server = conn.compute.create_server(
        name=f"{PREFIX}-server", image_id=image.id, flavor_id=flavor.id,
        networks=[{"port": port.id}])
    wait(lambda: conn.compute.get_server(server.id), "ACTIVE",
         f"server {server.id}")
    app["volumes"] = {}
    for index in (1, 2):
        volume = conn.block_storage.create_volume(
            size=1, name=f"{PREFIX}-data{index}")
        wait(lambda v=volume: conn.block_storage.get_volume(v.id),
             "available", f"volume {volume.id}")
        conn.compute.create_volume_attachment(server, volume=volume)
        wait(lambda v=volume: conn.block_storage.get_volume(v.id), "in-use",
             f"volume {volume.id}")
        data = secrets.token_bytes(4 * MiB)
        devcloud_volume.write_volume(volume.id, data, 0)
        app["volumes"][volume.id] = data
    app.update(server=server, port=conn.network.get_port(port.id),
               image=image, network=net, router=router, group=group)
    say(f"  server {server.id} on {FIXED_IP} "
        f"({app['port'].mac_address}), image {image.id}")
    for volume_id in app["volumes"]:
        say(f"  volume {volume_id}: 4 MiB of random bytes, attached")
    say(f"  network {net.id} {CIDR}, router {router.id} -> public, "
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


def check_restored(conn, app, restored):
    server_id = restored[f"{SERVER}#{app['server'].id}"]
    server = conn.compute.get_server(server_id)
    if server.status != "ACTIVE":
        raise DemoFailed(f"restored server {server_id} is {server.status}")
    say(f"  server {server_id}: ACTIVE")
    attached = {a.volume_id for a in
                conn.compute.volume_attachments(server_id)}
    for original, data in app["volumes"].items():
        new_id = restored[f"{VOLUME}#{original}"]
        volume = conn.block_storage.get_volume(new_id)
        if new_id not in attached or volume.status != "in-use":
            raise DemoFailed(f"restored volume {new_id} is not attached")
        if devcloud_volume.read_volume(new_id, len(data), 0) != data:
            raise DemoFailed(f"restored volume {new_id} has other bytes")
        say(f"  volume {new_id}: in-use on the server, "
            f"{len(data) // MiB} MiB equal")
    ports = list(conn.network.ports(device_id=server_id))
    ips = {(ip["ip_address"], p.mac_address) for p in ports
           for ip in p.fixed_ips}
    if (FIXED_IP, app["port"].mac_address) not in ips:
        raise DemoFailed(f"restored server has {sorted(ips)}, not "
                         f"{FIXED_IP}/{app['port'].mac_address}")
    say(f"  port: {FIXED_IP} {app['port'].mac_address}, as before")


def main():
    if not os.environ.get("OS_CLOUD"):
        say("demo: set OS_CLOUD (for devcloud: eval \"$(tools/devcloud "
            "env)\"), or run 'make demo'")
        return 2
    conn = openstack.connect()
    phases = []

    def phase(name, call, *args):
        say(f"\n== {name}")
        started = time.monotonic()
        result = call(*args)
        phases.append((name, time.monotonic() - started))
        return result

    try:
        phase("clean up earlier demo runs", remove_leftovers, conn)
        app = phase("create the application", create_application, conn)
        protected = phase("protect", stackvault, "protect", "--name",
                          PREFIX, f"{SERVER}={app['server'].id}")
        checkpoint = protected["checkpoint_id"]
        say(f"  checkpoint {checkpoint}: {protected['status']}, "
            f"{len(protected['resources'])} resources")
        phase("delete the application", delete_application, conn, app)
        result = phase("restore", stackvault, "restore", checkpoint)
        phase("check the restored application", check_restored, conn, app,
              result["restored"])
    except DemoFailed as exc:
        say(f"\ndemo FAILED: {exc}")
        return 1

    say("\n== report")
    for name, seconds in phases:
        say(f"  {name:<32} {seconds:7.1f} s")
    say(f"  {'total':<32} {sum(s for _, s in phases):7.1f} s")
    say("\nThe restored application is kept; see 'stackvault resource "
        f"list' and 'stackvault checkpoint show {checkpoint}'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
