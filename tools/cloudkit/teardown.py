"""Deleting what fullstack tests (and the demo) made, on a real cloud.

One place for teardown, so that every test cleans up the same careful
way: each function takes ids, treats "already gone" as done, waits (with
the bounded helpers of ``tools.cloudkit.waits``) until the thing is
really gone, and clears what would block the delete first (a volume's
attachments, a router's routes and interfaces, a network's ports).

These helpers deliberately do not call the plugins: a test must not rely
on the code it tests to clean up after it. ``delete_restored`` deletes
everything a restore result lists, in a safe order, attempting every one
and raising ``TeardownFailed`` at the end with what could not be deleted.

``admin_conn``, where taken, is used for what the project's member may not
delete: Neutron leaves ``compute:*`` ports to Nova and to admins.
"""

import ipaddress

from openstack import exceptions as sdk_exceptions

from tools.cloudkit.waits import DEFAULT_TIMEOUT, wait_for, wait_gone

SERVER = "OS::Nova::Server"
KEYPAIR = "OS::Nova::KeyPair"
VOLUME = "OS::Cinder::Volume"
IMAGE = "OS::Glance::Image"
NETWORK = "OS::Neutron::Network"
SUBNET = "OS::Neutron::Subnet"
GROUP = "OS::Neutron::SecurityGroup"
ROUTER = "OS::Neutron::Router"
PORT = "OS::Neutron::Port"
FLOATING_IP = "OS::Neutron::FloatingIP"
STACK = "OS::Heat::Stack"

ROUTER_INTERFACE_OWNERS = ("network:router_interface",
                           "network:router_interface_distributed",
                           "network:ha_router_replicated_interface")
# Neutron answers 409 while a port or an IP allocation is still going away.
CONFLICT_TIMEOUT = 60


class TeardownFailed(Exception):
    """Some resources could not be deleted; ``failures`` says which."""

    def __init__(self, failures):
        self.failures = list(failures)
        super().__init__("could not delete:\n  " + "\n  ".join(failures))


def _fetch(get, resource_id):
    """``get(resource_id)``, or None when it is gone."""
    try:
        return get(resource_id)
    except sdk_exceptions.NotFoundException:
        return None


def _until_no_conflict(delete, what):
    """Call ``delete()``; retry while Neutron says 409, bounded."""
    last = []

    def attempt():
        try:
            delete()
        except sdk_exceptions.ConflictException as exc:
            last[:] = [exc.details or str(exc)]
            return False
        return True

    try:
        wait_for(attempt, timeout=CONFLICT_TIMEOUT, interval=2.0,
                 what=f"{what} to be deletable")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: Neutron kept answering 409: "
                             f"{last[0]}") from None


# -- compute, block storage, images -----------------------------------------
def delete_server(conn, server_id):
    """Delete a server and wait until Nova no longer lists it."""
    conn.compute.delete_server(server_id, ignore_missing=True)
    wait_gone(lambda: conn.compute.get_server(server_id),
              what=f"server {server_id}")


def delete_volume(conn, volume_id):
    """Detach a volume from every server, wait until it is available (or
    in an error state, or already deleting), delete it and wait until it
    is gone."""
    volume = _fetch(conn.block_storage.get_volume, volume_id)
    if volume is None:
        return
    for attachment in volume.attachments or []:
        conn.compute.delete_volume_attachment(attachment["server_id"],
                                              volume_id)

    def settled():
        now = _fetch(conn.block_storage.get_volume, volume_id)
        status = "gone" if now is None else now.status
        deletable = status == "available" or status.startswith("error")
        return status if deletable or status in ("deleting", "gone") \
            else None

    status = wait_for(settled, what=f"volume {volume_id} to be available")
    if status not in ("deleting", "gone"):
        conn.block_storage.delete_volume(volume_id, ignore_missing=True)
    wait_gone(lambda: conn.block_storage.get_volume(volume_id),
              what=f"volume {volume_id}")


def delete_image(conn, image_id):
    """Delete an image and wait until Glance no longer shows it."""
    conn.image.delete_image(image_id, ignore_missing=True)
    wait_gone(lambda: conn.image.get_image(image_id),
              what=f"image {image_id}")


def delete_keypair(conn, name):
    """Delete a key pair (Nova names them) and wait until it is gone."""
    conn.compute.delete_keypair(name, ignore_missing=True)
    wait_gone(lambda: conn.compute.get_keypair(name),
              what=f"key pair {name}")


def delete_stack(conn, stack_id):
    """Delete a Heat stack and wait for DELETE_COMPLETE (or gone)."""
    stack = _fetch(conn.orchestration.get_stack, stack_id)
    if stack is None or stack.status == "DELETE_COMPLETE":
        return
    conn.orchestration.delete_stack(stack, ignore_missing=True)

    def deleted():
        now = _fetch(conn.orchestration.get_stack, stack_id)
        if now is not None and now.status == "DELETE_FAILED":
            raise AssertionError(f"stack {stack_id} went to DELETE_FAILED: "
                                 f"{now.status_reason}")
        return now is None or now.status == "DELETE_COMPLETE"

    wait_for(deleted, timeout=DEFAULT_TIMEOUT, what=f"stack {stack_id} "
             "to be deleted")


# -- networking ---------------------------------------------------------------
def delete_floating_ip(conn, fip_id):
    """Release a floating IP."""
    conn.network.delete_ip(fip_id, ignore_missing=True)
    wait_gone(lambda: conn.network.get_ip(fip_id),
              what=f"floating IP {fip_id}")


def _remove_interface(conn, port):
    """Take a router interface port off its router. Routes whose next hop
    is on the port's subnets go first: Neutron keeps an interface that a
    route needs."""
    router = _fetch(conn.network.get_router, port.device_id)
    if router is None:
        return
    subnets = [_fetch(conn.network.get_subnet, ip["subnet_id"])
               for ip in port.fixed_ips or []]
    cidrs = [ipaddress.ip_network(s.cidr) for s in subnets if s is not None]
    routes = list(router.routes or [])
    kept = [r for r in routes
            if not any(ipaddress.ip_address(r["nexthop"]) in cidr
                       for cidr in cidrs)]
    if kept != routes:
        conn.network.update_router(router.id, routes=kept)
    try:
        conn.network.remove_interface_from_router(router.id, port=port.id)
    except sdk_exceptions.NotFoundException:
        pass


def delete_port(conn, port_id, admin_conn=None):
    """Delete a port. A router interface is removed from its router
    instead (which deletes it); a ``compute:*`` port is deleted through
    ``admin_conn`` when given, as Neutron's policy wants."""
    port = _fetch(conn.network.get_port, port_id)
    if port is None:
        return
    owner = port.device_owner or ""
    if owner in ROUTER_INTERFACE_OWNERS:
        _remove_interface(conn, port)
    else:
        deleter = admin_conn if owner.startswith("compute:") and \
            admin_conn is not None else conn
        _until_no_conflict(
            lambda: deleter.network.delete_port(port_id, ignore_missing=True),
            f"port {port_id}")
    wait_gone(lambda: conn.network.get_port(port_id), what=f"port {port_id}")


def dismantle_router(conn, router_id):
    """Delete a router whatever is still on it: its routes are cleared,
    every interface removed and its gateway cleared first."""
    router = _fetch(conn.network.get_router, router_id)
    if router is None:
        return
    if router.routes:
        conn.network.update_router(router_id, routes=[])
    interfaces = [p for p in conn.network.ports(device_id=router_id)
                  if p.device_owner in ROUTER_INTERFACE_OWNERS]
    for port in interfaces:
        _remove_interface(conn, port)
    if router.external_gateway_info:
        conn.network.update_router(router_id, external_gateway_info=None)
    _until_no_conflict(
        lambda: conn.network.delete_router(router_id, ignore_missing=True),
        f"router {router_id}")
    wait_gone(lambda: conn.network.get_router(router_id),
              what=f"router {router_id}")


def delete_security_group(conn, group_id):
    """Delete a security group, never a project's ``default`` group (a
    restore maps that one to the existing default instead of copying)."""
    group = _fetch(conn.network.get_security_group, group_id)
    if group is None or group.name == "default":
        return
    _until_no_conflict(
        lambda: conn.network.delete_security_group(group_id,
                                                   ignore_missing=True),
        f"security group {group_id}")


def delete_subnet(conn, subnet_id):
    """Delete a subnet (its network is usually deleted with it)."""
    _until_no_conflict(
        lambda: conn.network.delete_subnet(subnet_id, ignore_missing=True),
        f"subnet {subnet_id}")


def delete_network(conn, network_id, admin_conn=None):
    """Delete a network with its ports (router interfaces are taken off
    their routers; DHCP and other ``network:*`` ports are Neutron's), its
    subnets, then the network itself."""
    if _fetch(conn.network.get_network, network_id) is None:
        return
    for port in list(conn.network.ports(network_id=network_id)):
        owner = port.device_owner or ""
        if owner in ROUTER_INTERFACE_OWNERS or \
                not owner.startswith("network:"):
            delete_port(conn, port.id, admin_conn)
    for subnet in list(conn.network.subnets(network_id=network_id)):
        delete_subnet(conn, subnet.id)
    _until_no_conflict(
        lambda: conn.network.delete_network(network_id, ignore_missing=True),
        f"network {network_id}")
    wait_gone(lambda: conn.network.get_network(network_id),
              what=f"network {network_id}")


# -- many at once -------------------------------------------------------------
# What depends on what goes first: servers hold ports and volumes, floating
# IPs hold router interfaces, routers hold subnets. Subnets normally go
# with their network; a stack goes last, after the resources it may list.
DELETE_ORDER = (
    (SERVER, delete_server),
    (FLOATING_IP, delete_floating_ip),
    (PORT, delete_port),
    (VOLUME, delete_volume),
    (IMAGE, delete_image),
    (KEYPAIR, delete_keypair),
    (ROUTER, dismantle_router),
    (NETWORK, delete_network),
    (SUBNET, delete_subnet),
    (GROUP, delete_security_group),
    (STACK, delete_stack),
)
_TAKE_ADMIN_CONN = (delete_port, delete_network)


def delete_resources(conn, resources, admin_conn=None):
    """Delete ``{type: ids}`` (the types of ``DELETE_ORDER``) in a safe
    order. Every one is attempted; raises ``TeardownFailed`` at the end,
    listing each that failed and why."""
    unknown = set(resources) - {rtype for rtype, _ in DELETE_ORDER}
    failures = [f"{rtype}: no teardown for this type"
                for rtype in sorted(unknown)]
    for rtype, delete in DELETE_ORDER:
        for resource_id in dict.fromkeys(resources.get(rtype, ())):
            try:
                if delete in _TAKE_ADMIN_CONN:
                    delete(conn, resource_id, admin_conn)
                else:
                    delete(conn, resource_id)
            except Exception as exc:     # attempt all, report at the end
                failures.append(f"{rtype} {resource_id}: "
                                f"{type(exc).__name__}: {exc}")
    if failures:
        raise TeardownFailed(failures)


def delete_restored(conn, restored, admin_conn=None):
    """Delete everything a restore created: ``restored`` is a restore
    result's ``restored`` map, ``{"TYPE#ORIGINAL_ID": new_id}``. Safe order
    and error reporting as in ``delete_resources``."""
    by_type = {}
    for key, new_id in sorted(restored.items()):
        by_type.setdefault(key.partition("#")[0], []).append(new_id)
    delete_resources(conn, by_type, admin_conn)
