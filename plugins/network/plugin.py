"""Neutron networks (``OS::Neutron::Network``) and what belongs to them.

What protect saves
    Nothing in the cloud. In the bank (``metadata.json``, ``format`` 1):
    the network (name, description, admin state, MTU, port security,
    DNS domain when the cloud has one); its subnets (CIDR, IP version,
    pools, gateway, DNS servers, host routes, DHCP, IPv6 modes); the
    routers with an interface on its subnets (admin state, the external
    gateway network as a reference and ``enable_snat``, static routes, and
    the interfaces on this network with their IPs); the security groups
    used by ports on the network, with their rules, plus every group those
    rules name as a remote group (transitively); and the network's server
    ports (``compute:*``), for the record: the server plugin recreates
    those itself. Only what the project owns is saved; anything else (an
    external network, another project's group) is kept as a reference to
    its original id.

What restore creates
    A new network, its subnets (same CIDRs, pools, gateway, DNS, routes),
    the security groups (the project's ``default`` group maps to the
    target project's own, never created; a new group loses the rules
    Neutron adds to it, then gets exactly the saved rules, with remote
    groups re-pointed to their restored copies), the routers (external
    gateway on the mapped external network), the router interfaces on the
    new subnets (with the original IP, through a port, when it is not the
    gateway IP), then the routes. The network, subnets, routers and
    interfaces form one chain (see ``restore_flow``); the groups run in
    parallel with it. A router or group that two protected networks share
    is created once (``RestoredIds.create_once``) and only its creator
    deletes it on revert. Every new id is recorded under its
    type and ORIGINAL id: ``OS::Neutron::Network``, ``OS::Neutron::Subnet``,
    ``OS::Neutron::SecurityGroup``, ``OS::Neutron::Router``.

How each creation is undone
    In reverse: routes removed, interfaces removed, interface ports
    deleted, routers dismantled (every route and interface, even another
    network's, then the gateway) and deleted, rules and groups deleted,
    subnets deleted, network deleted. Deletes that Neutron refuses while
    something is still settling (409) are retried for a bounded time.
"""

import ipaddress
import threading
import time

from openstack import exceptions as sdk_exceptions
from taskflow import task
from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow

from protection import exceptions
from protection.plugin import ProtectionPlugin
from protection.resource import Resource

RESOURCE_TYPE = "OS::Neutron::Network"
SUBNET = "OS::Neutron::Subnet"
SECURITY_GROUP = "OS::Neutron::SecurityGroup"
ROUTER = "OS::Neutron::Router"

METADATA_FORMAT = 1
ROUTER_INTERFACE_OWNERS = ("network:router_interface",
                           "network:router_interface_distributed",
                           "network:ha_router_replicated_interface")
SERVER_OWNER_PREFIX = "compute:"
DEFAULT_GROUP = "default"
# Routes on a router of a cloud without ``extraroute-atomic`` are replaced
# as a whole: two network flows adding routes to one shared router must not
# interleave their read-modify-write.
_ROUTES_LOCK = threading.Lock()


# -- shared helpers ---------------------------------------------------------
def referenced_only(conn, network):
    """Why ``network`` is referenced rather than restored (``None``: it is
    the project's own network, which this plugin protects)."""
    if network.is_router_external:
        return (f"network {network.id} is an external network "
                "(router:external): it is referenced, not restored; protect "
                "the routers and servers that use it instead")
    project = conn.current_project_id
    if network.project_id != project:
        return (f"network {network.id} belongs to project "
                f"{network.project_id}, not to this project ({project}): a "
                "shared network is referenced, not restored")
    return None


def _named(parameters, name):
    return parameters.get("name_prefix", "") + (name or "")


def _in_cidr(address, cidr):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(
            cidr, strict=False)
    except ValueError:
        return False


def _has_extension(conn, alias):
    try:
        conn.network.find_extension(alias, ignore_missing=False)
    except sdk_exceptions.NotFoundException:
        return False
    return True


def _delete_retrying(ctx, delete, what, clock=time.monotonic,
                     sleep=time.sleep):
    """Call ``delete()``; while Neutron answers 409 (an IP allocation or a
    port still going away), retry, bounded by ``[timeouts] status_wait``."""
    deadline = clock() + ctx.timeouts.status_wait
    interval = ctx.timeouts.poll_initial
    while True:
        try:
            delete()
            return
        except sdk_exceptions.NotFoundException:
            return
        except sdk_exceptions.ConflictException as exc:
            if clock() >= deadline:
                raise exceptions.StackvaultError(
                    f"{what} could not be deleted within "
                    f"{ctx.timeouts.status_wait:.0f}s: "
                    f"{exc.details or exc}") from None
            sleep(interval)
            interval = min(interval * 1.5, ctx.timeouts.poll_max)


def _dismantle_router(ctx, conn, router_id):
    """Delete a router whatever is still on it: another network's flow may
    have added interfaces or routes that its own revert has not removed
    yet. Routes go first (Neutron keeps an interface a route needs), then
    every interface, then the gateway, then the router."""
    try:
        router = conn.network.get_router(router_id)
    except sdk_exceptions.NotFoundException:
        return
    if router.routes:
        conn.network.update_router(router_id, routes=[])
    for port in conn.network.ports(device_id=router_id):
        if port.device_owner not in ROUTER_INTERFACE_OWNERS:
            continue
        try:
            conn.network.remove_interface_from_router(router_id,
                                                      port=port.id)
        except sdk_exceptions.NotFoundException:
            pass
    if router.external_gateway_info:
        conn.network.update_router(router_id, external_gateway_info=None)
    _delete_retrying(
        ctx, lambda: conn.network.delete_router(router_id,
                                                ignore_missing=True),
        f"router {router_id}")


# -- protect -----------------------------------------------------------------
def _port_info(port):
    return {
        "id": port.id,
        "name": port.name or "",
        "description": port.description or "",
        "device_id": port.device_id or "",
        "device_owner": port.device_owner or "",
        "mac_address": port.mac_address,
        "fixed_ips": [{"subnet_id": ip["subnet_id"],
                       "ip_address": ip["ip_address"]}
                      for ip in port.fixed_ips or []],
        "security_groups": list(port.security_group_ids or []),
        "allowed_address_pairs": [
            {k: v for k, v in pair.items()
             if k in ("ip_address", "mac_address")}
            for pair in port.allowed_address_pairs or []],
        "admin_state_up": port.is_admin_state_up,
        "port_security_enabled": port.is_port_security_enabled,
    }


def _rule_info(rule):
    """A rule of ``security_group_rules`` (Neutron's own dict)."""
    return {
        "id": rule["id"],
        "direction": rule["direction"],
        "ethertype": rule["ethertype"],
        "protocol": rule.get("protocol"),
        "port_range_min": rule.get("port_range_min"),
        "port_range_max": rule.get("port_range_max"),
        "remote_ip_prefix": rule.get("remote_ip_prefix"),
        "remote_group_id": rule.get("remote_group_id"),
        "remote_address_group_id": rule.get("remote_address_group_id"),
        "description": rule.get("description") or "",
    }


class DescribeNetwork(task.Task):
    """The network itself; refuse one that is only referenced."""

    default_provides = "network_info"

    def execute(self, conn, resource):
        try:
            network = conn.network.get_network(resource.id)
        except sdk_exceptions.NotFoundException:
            raise exceptions.StackvaultError(
                f"network {resource.id} no longer exists") from None
        reason = referenced_only(conn, network)
        if reason:
            raise exceptions.StackvaultError(reason)
        info = {
            "id": network.id,
            "name": network.name or "",
            "description": network.description or "",
            "admin_state_up": network.is_admin_state_up,
            "mtu": network.mtu,
            "port_security_enabled": network.is_port_security_enabled,
            "project_id": network.project_id,
        }
        if network.dns_domain is not None:
            info["dns_domain"] = network.dns_domain
        return info


class DescribeSubnets(task.Task):
    default_provides = "subnets_info"

    def execute(self, conn, resource):
        subnets = conn.network.subnets(network_id=resource.id)
        return [{
            "id": s.id,
            "name": s.name or "",
            "description": s.description or "",
            "cidr": s.cidr,
            "ip_version": s.ip_version,
            "allocation_pools": [dict(p) for p in s.allocation_pools or []],
            "gateway_ip": s.gateway_ip,
            "dns_nameservers": list(s.dns_nameservers or []),
            "host_routes": [dict(r) for r in s.host_routes or []],
            "enable_dhcp": s.is_dhcp_enabled,
            "ipv6_ra_mode": s.ipv6_ra_mode,
            "ipv6_address_mode": s.ipv6_address_mode,
        } for s in sorted(subnets, key=lambda s: s.id)]


class ListNetworkPorts(task.Task):
    """Every port on the network: routers, groups and server ports are
    found through them."""

    default_provides = "network_ports"

    def execute(self, conn, resource):
        ports = conn.network.ports(network_id=resource.id)
        return [_port_info(p) for p in sorted(ports, key=lambda p: p.id)]


class DescribeRouters(task.Task):
    """The routers with an interface on the network, and those interfaces.

    A router of another project (an administrator may attach one) is
    referenced, not saved: it is reported and left out.
    """

    default_provides = "routers_info"

    def execute(self, ctx, conn, network_ports):
        interfaces = {}
        for port in network_ports:
            if port["device_owner"] in ROUTER_INTERFACE_OWNERS:
                interfaces.setdefault(port["device_id"], []).append(
                    {"port_id": port["id"], "fixed_ips": port["fixed_ips"]})
        routers = []
        for router_id in sorted(interfaces):
            try:
                router = conn.network.get_router(router_id)
            except sdk_exceptions.NotFoundException:
                router = None
            if router is None or \
                    router.project_id != conn.current_project_id:
                ctx.progress.step(
                    "routers", f"router {router_id} belongs to another "
                    "project: referenced, not saved")
                continue
            gateway = router.external_gateway_info or None
            if gateway:
                saved_gw = {"network_id": gateway["network_id"]}
                if gateway.get("enable_snat") is not None:
                    saved_gw["enable_snat"] = gateway["enable_snat"]
                gateway = saved_gw
            routers.append({
                "id": router.id,
                "name": router.name or "",
                "description": router.description or "",
                "admin_state_up": router.is_admin_state_up,
                "external_gateway": gateway,
                "routes": [{"destination": r["destination"],
                            "nexthop": r["nexthop"]}
                           for r in router.routes or []],
                "interfaces": interfaces[router_id],
            })
        return routers


class DescribeSecurityGroups(task.Task):
    """Groups of the network's ports, and their remote groups, transitively.

    A group this project does not own (or cannot see) is referenced by its
    original id, not saved.
    """

    default_provides = "security_groups_info"

    def execute(self, conn, network_ports):
        project = conn.current_project_id
        todo = sorted({g for p in network_ports
                       for g in p["security_groups"]})
        seen, saved, external = set(), [], []
        while todo:
            group_id = todo.pop(0)
            if group_id in seen:
                continue
            seen.add(group_id)
            try:
                group = conn.network.get_security_group(group_id)
            except sdk_exceptions.NotFoundException:
                group = None
            if group is None or group.project_id != project:
                external.append(group_id)
                continue
            rules = sorted((_rule_info(r) for r in
                            group.security_group_rules or []),
                           key=lambda r: r["id"])
            info = {
                "id": group.id,
                "name": group.name or "",
                "description": group.description or "",
                "is_default": group.name == DEFAULT_GROUP,
                "rules": rules,
            }
            if getattr(group, "stateful", None) is not None:
                info["stateful"] = group.stateful
            saved.append(info)
            todo.extend(sorted({r["remote_group_id"] for r in rules
                                if r["remote_group_id"]} - seen))
        return {"groups": sorted(saved, key=lambda g: g["id"]),
                "external": sorted(external)}


class SaveNetworkMetadata(task.Task):
    def execute(self, bank, network_info, subnets_info, routers_info,
                security_groups_info, network_ports):
        bank.save_metadata({
            "format": METADATA_FORMAT,
            "network": network_info,
            "subnets": subnets_info,
            "routers": routers_info,
            "security_groups": security_groups_info["groups"],
            "external_security_groups": security_groups_info["external"],
            "ports": [p for p in network_ports
                      if p["device_owner"].startswith(SERVER_OWNER_PREFIX)],
        })

    def revert(self, bank, **kwargs):
        bank.delete("metadata.json")


# -- restore -----------------------------------------------------------------
def _subnet_key(subnet_id):
    return f"subnet:{subnet_id}"


def _group_key(group_id):
    return f"security_group:{group_id}"


def _group_clean_key(group_id):
    return f"security_group_clean:{group_id}"


def _router_key(router_id):
    return f"router:{router_id}"


def _interface_port_key(router_id, port_id):
    return f"interface_port:{router_id}:{port_id}"


def _interface_key(router_id, port_id):
    return f"interface:{router_id}:{port_id}"


class UnreadableMetadata(task.Task):
    """Stands in for the restore flow when the metadata cannot be read."""

    def __init__(self, message):
        super().__init__(name="ReadMetadata")
        self.message = message

    def execute(self):
        raise exceptions.StackvaultError(self.message)


class CreateNetwork(task.Task):
    default_provides = "new_network_id"

    def execute(self, ctx, conn, metadata, parameters):
        saved = metadata["network"]
        attrs = {"name": _named(parameters, saved["name"]),
                 "description": saved["description"],
                 "is_admin_state_up": saved["admin_state_up"]}
        if saved.get("port_security_enabled") is not None:
            attrs["is_port_security_enabled"] = \
                saved["port_security_enabled"]
        if saved.get("dns_domain"):
            attrs["dns_domain"] = saved["dns_domain"]
        if saved.get("mtu") and _has_extension(conn, "net-mtu-writable"):
            attrs["mtu"] = saved["mtu"]
        network = conn.network.create_network(**attrs)
        ctx.record_new_id(network.id)
        return network.id

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, str):
            return
        _delete_retrying(
            ctx, lambda: conn.network.delete_network(result,
                                                     ignore_missing=True),
            f"network {result}")
        ctx.forget_new_id()


class CreateSubnet(task.Task):
    """One saved subnet on the new network."""

    def __init__(self, subnet):
        super().__init__(name=f"CreateSubnet-{subnet['id']}",
                         provides=_subnet_key(subnet["id"]))
        self.subnet = subnet

    def execute(self, ctx, conn, parameters, new_network_id):
        saved = self.subnet
        attrs = {
            "network_id": new_network_id,
            "name": _named(parameters, saved["name"]),
            "description": saved["description"],
            "cidr": saved["cidr"],
            "ip_version": saved["ip_version"],
            "allocation_pools": saved["allocation_pools"],
            # None is meaningful: a subnet without a gateway.
            "gateway_ip": saved["gateway_ip"],
            "dns_nameservers": saved["dns_nameservers"],
            "host_routes": saved["host_routes"],
            "is_dhcp_enabled": saved["enable_dhcp"],
        }
        for mode in ("ipv6_ra_mode", "ipv6_address_mode"):
            if saved.get(mode):
                attrs[mode] = saved[mode]
        subnet = conn.network.create_subnet(**attrs)
        ctx.record_new_id(subnet.id, SUBNET, saved["id"])
        return subnet.id

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, str):
            return
        _delete_retrying(
            ctx, lambda: conn.network.delete_subnet(result,
                                                    ignore_missing=True),
            f"subnet {result}")
        ctx.forget_new_id(SUBNET, self.subnet["id"])


def _default_group_id(conn):
    project = conn.current_project_id
    groups = list(conn.network.security_groups(name=DEFAULT_GROUP,
                                               project_id=project))
    if not groups:
        raise exceptions.StackvaultError(
            f"project {project} has no {DEFAULT_GROUP!r} security group to "
            "map the original default group to")
    return groups[0].id


class EnsureSecurityGroup(task.Task):
    """Create a saved group once per restore, or map the default group.

    Provides ``{"id": new id, "created": whether this task created it,
    "recorded": whether this task recorded the id}``; only the creator
    deletes the group on revert, and only the recorder forgets the id (a
    default group is recorded, never created, so it is never deleted).
    """

    def __init__(self, group):
        super().__init__(name=f"EnsureSecurityGroup-{group['id']}",
                         provides=_group_key(group["id"]))
        self.group = group

    def execute(self, ctx, conn, parameters):
        saved = self.group
        if saved["is_default"]:
            new_id, recorded = ctx.restored.create_once(
                SECURITY_GROUP, saved["id"], lambda: _default_group_id(conn))
            return {"id": new_id, "created": False, "recorded": recorded}

        def create():
            attrs = {"name": _named(parameters, saved["name"]),
                     "description": saved["description"]}
            if saved.get("stateful") is False:
                attrs["stateful"] = False
            return conn.network.create_security_group(**attrs).id
        new_id, created = ctx.restored.create_once(SECURITY_GROUP,
                                                   saved["id"], create)
        return {"id": new_id, "created": created, "recorded": created}

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, dict):
            return
        if result["created"]:
            group_id = result["id"]
            _delete_retrying(
                ctx, lambda: conn.network.delete_security_group(
                    group_id, ignore_missing=True),
                f"security group {group_id}")
        if result["recorded"]:
            ctx.forget_new_id(SECURITY_GROUP, self.group["id"])


class RemoveAutoAddedRules(task.Task):
    """Neutron gives a new group rules of its own (egress to anywhere);
    remove them so that the group's rules are exactly the saved ones.

    Nothing to revert: deleting the group (its creator's revert) is what
    undoes the group and every change to it.
    """

    def __init__(self, group):
        group_key = _group_key(group["id"])
        super().__init__(name=f"RemoveAutoAddedRules-{group['id']}",
                         provides=_group_clean_key(group["id"]),
                         rebind={"group": group_key})

    def execute(self, conn, group):
        if not group["created"]:
            return False
        for rule in list(conn.network.security_group_rules(
                security_group_id=group["id"])):
            conn.network.delete_security_group_rule(rule.id,
                                                    ignore_missing=True)
        return True


class CreateSecurityGroupRules(task.Task):
    """The saved rules of a group this restore created, in one (atomic)
    bulk request; a remote group that was restored is re-pointed to its
    new id, any other keeps its original id as a reference."""

    def __init__(self, group, restored_remotes):
        requires = [_group_clean_key(group["id"])]
        requires += [_group_key(g) for g in sorted(restored_remotes)]
        super().__init__(name=f"CreateSecurityGroupRules-{group['id']}",
                         rebind={"group": _group_key(group["id"])},
                         requires=requires)
        self.group = group

    def execute(self, ctx, conn, group, **ready):
        if not group["created"] or not self.group["rules"]:
            return []
        rules = []
        for saved in self.group["rules"]:
            rule = {"security_group_id": group["id"],
                    "direction": saved["direction"],
                    "ether_type": saved["ethertype"]}
            for key in ("protocol", "port_range_min", "port_range_max",
                        "remote_ip_prefix", "remote_address_group_id",
                        "description"):
                if saved.get(key) not in (None, ""):
                    rule[key] = saved[key]
            remote = saved.get("remote_group_id")
            if remote:
                rule["remote_group_id"] = ctx.restored.get(
                    SECURITY_GROUP, remote, remote)
            rules.append(rule)
        created = conn.network.create_security_group_rules(rules)
        return [r.id for r in created]

    def revert(self, conn, result, **kwargs):
        if not isinstance(result, list):
            return
        for rule_id in result:
            conn.network.delete_security_group_rule(rule_id,
                                                    ignore_missing=True)


def _gateway_info(conn, parameters, router):
    """The external gateway of the new router: on the mapped network, or
    on the original one when it exists in the target cloud."""
    saved = router["external_gateway"]
    original = saved["network_id"]
    mapping = parameters.get("external_network_mapping") or {}
    target = mapping.get(original, original)
    try:
        network = conn.network.find_network(target, ignore_missing=False)
    except sdk_exceptions.NotFoundException:
        network = None
    if network is None:
        if original in mapping:
            raise exceptions.StackvaultError(
                f"external_network_mapping maps {original} to {target}, "
                f"which does not exist in the target cloud (gateway of "
                f"router {router['id']})")
        raise exceptions.StackvaultError(
            f"the external gateway network {original} of router "
            f"{router['id']} does not exist in the target cloud: map it "
            f"with external_network_mapping "
            f"{{\"{original}\": \"<network id>\"}}")
    info = {"network_id": network.id}
    if saved.get("enable_snat") is False:
        # Neutron's policy lets only admins set it: pass it only when the
        # original differed from the default.
        info["enable_snat"] = False
    return info


class EnsureRouter(task.Task):
    """Create a saved router (with its gateway) once per restore.

    It waits for the new subnets it will connect to: a restore whose
    subnets cannot be made takes no address on the external network, and
    the order is the documented one (network, subnets, routers).
    Provides ``{"id": new id, "created": ...}``; only the creator deletes
    it on revert, after removing whatever is still on it.
    """

    def __init__(self, router):
        subnet_ids = sorted({ip["subnet_id"] for i in router["interfaces"]
                             for ip in i["fixed_ips"]})
        super().__init__(name=f"EnsureRouter-{router['id']}",
                         provides=_router_key(router["id"]),
                         requires=[_subnet_key(s) for s in subnet_ids])
        self.router = router

    def execute(self, ctx, conn, parameters, **ready):
        saved = self.router

        def create():
            attrs = {"name": _named(parameters, saved["name"]),
                     "description": saved["description"],
                     "is_admin_state_up": saved["admin_state_up"]}
            if saved.get("external_gateway"):
                attrs["external_gateway_info"] = _gateway_info(
                    conn, parameters, saved)
            return conn.network.create_router(**attrs).id
        new_id, created = ctx.restored.create_once(ROUTER, saved["id"],
                                                   create)
        return {"id": new_id, "created": created}

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, dict) or not result["created"]:
            return
        _dismantle_router(ctx, conn, result["id"])
        ctx.forget_new_id(ROUTER, self.router["id"])


def _interface_by_port(interface, subnets):
    """An interface needs a port of its own unless it holds exactly the
    gateway IP of its one subnet (then ``subnet_id`` does the same)."""
    ips = interface["fixed_ips"]
    if len(ips) != 1:
        return True
    subnet = subnets.get(ips[0]["subnet_id"])
    return subnet is None or subnet["gateway_ip"] != ips[0]["ip_address"]


class CreateInterfacePort(task.Task):
    """A port with the interface's original IPs on the new subnets."""

    def __init__(self, router_id, interface):
        subnet_ids = sorted({ip["subnet_id"]
                             for ip in interface["fixed_ips"]})
        super().__init__(
            name=f"CreateInterfacePort-{router_id}-{interface['port_id']}",
            provides=_interface_port_key(router_id, interface["port_id"]),
            requires=[_subnet_key(s) for s in subnet_ids])
        self.interface = interface

    def execute(self, conn, new_network_id, **ready):
        fixed_ips = [{"subnet_id": ready[_subnet_key(ip["subnet_id"])],
                      "ip_address": ip["ip_address"]}
                     for ip in self.interface["fixed_ips"]]
        port = conn.network.create_port(network_id=new_network_id,
                                        fixed_ips=fixed_ips)
        return port.id

    def revert(self, ctx, conn, result, **kwargs):
        if isinstance(result, str):
            _delete_retrying(
                ctx, lambda: conn.network.delete_port(result,
                                                      ignore_missing=True),
                f"port {result}")


class AddRouterInterface(task.Task):
    """Attach the router to a new subnet (by port or by subnet)."""

    def __init__(self, router_id, interface, by_port):
        port_id = interface["port_id"]
        rebind = {"router": _router_key(router_id)}
        if by_port:
            rebind["port_id"] = _interface_port_key(router_id, port_id)
        else:
            rebind["subnet_id"] = _subnet_key(
                interface["fixed_ips"][0]["subnet_id"])
        super().__init__(name=f"AddRouterInterface-{router_id}-{port_id}",
                         provides=_interface_key(router_id, port_id),
                         rebind=rebind)
        self.by_port = by_port

    def execute(self, conn, router, port_id=None, subnet_id=None):
        if self.by_port:
            reply = conn.network.add_interface_to_router(router["id"],
                                                         port=port_id)
        else:
            reply = conn.network.add_interface_to_router(router["id"],
                                                         subnet=subnet_id)
        return reply["port_id"]

    def revert(self, conn, result, router, **kwargs):
        if not isinstance(result, str):
            return
        try:
            conn.network.remove_interface_from_router(router["id"],
                                                      port=result)
        except sdk_exceptions.NotFoundException:
            pass        # the router (or the interface) is already gone


def _gateway_cidrs(conn, router_id):
    router = conn.network.get_router(router_id)
    gateway = router.external_gateway_info or {}
    cidrs = []
    for ip in gateway.get("external_fixed_ips") or []:
        try:
            cidrs.append(conn.network.get_subnet(ip["subnet_id"]).cidr)
        except sdk_exceptions.NotFoundException:
            continue
    return cidrs


def _add_routes(conn, router_id, routes):
    if _has_extension(conn, "extraroute-atomic"):
        conn.network.add_extra_routes_to_router(
            router_id, {"router": {"routes": routes}})
        return
    with _ROUTES_LOCK:
        current = conn.network.get_router(router_id).routes or []
        merged = list(current) + [r for r in routes if r not in current]
        conn.network.update_router(router_id, routes=merged)


def _remove_routes(conn, router_id, routes):
    if _has_extension(conn, "extraroute-atomic"):
        conn.network.remove_extra_routes_from_router(
            router_id, {"router": {"routes": routes}})
        return
    with _ROUTES_LOCK:
        current = conn.network.get_router(router_id).routes or []
        conn.network.update_router(
            router_id, routes=[r for r in current if r not in routes])


class AddRouterRoutes(task.Task):
    """The router's static routes, once its interfaces exist.

    This network's flow adds the routes whose next hop is on one of this
    network's subnets; the router's creator also adds those whose next
    hop is on the gateway's subnets. Another protected network's flow adds
    the routes through that network; a route through a network that is
    not restored is reported and skipped.
    """

    def __init__(self, router, subnets):
        interfaces = [_interface_key(router["id"], i["port_id"])
                      for i in router["interfaces"]]
        super().__init__(name=f"AddRouterRoutes-{router['id']}",
                         rebind={"router": _router_key(router["id"])},
                         requires=interfaces)
        self.saved = router
        self.cidrs = [s["cidr"] for s in subnets]

    def execute(self, ctx, conn, router, **ready):
        mine, others = [], []
        for route in self.saved["routes"]:
            if any(_in_cidr(route["nexthop"], c) for c in self.cidrs):
                mine.append(route)
            else:
                others.append(route)
        if others and router["created"]:
            gateway = _gateway_cidrs(conn, router["id"])
            via_gateway = [r for r in others if any(
                _in_cidr(r["nexthop"], c) for c in gateway)]
            others = [r for r in others if r not in via_gateway]
            mine += via_gateway
        for route in others:
            ctx.progress.step(
                "routes", f"route {route['destination']} via "
                f"{route['nexthop']} of router {self.saved['id']} is not "
                "through this network: left to the flow of its network")
        if not mine:
            return []
        _add_routes(conn, router["id"], mine)
        return mine

    def revert(self, conn, result, router, **kwargs):
        if not isinstance(result, list) or not result:
            return
        try:
            _remove_routes(conn, router["id"], result)
        except sdk_exceptions.NotFoundException:
            pass        # the router is already gone


# -- verify -------------------------------------------------------------------
def metadata_problems(metadata):
    """What makes saved network metadata unusable or inconsistent."""
    if not metadata:
        return ["no metadata was saved"]
    if metadata.get("format") != METADATA_FORMAT:
        return [f"metadata format {metadata.get('format')!r} is not "
                f"{METADATA_FORMAT}"]
    missing = [k for k in ("network", "subnets", "routers",
                           "security_groups", "external_security_groups",
                           "ports") if k not in metadata]
    if missing:
        return [f"metadata lacks {', '.join(missing)}"]
    problems = []
    subnets = {}
    for subnet in metadata["subnets"]:
        try:
            cidr = ipaddress.ip_network(subnet["cidr"])
        except (ValueError, TypeError, KeyError):
            problems.append(f"subnet {subnet.get('id')}: CIDR "
                            f"{subnet.get('cidr')!r} does not parse")
            continue
        subnets[subnet["id"]] = subnet
        if cidr.version != subnet.get("ip_version"):
            problems.append(f"subnet {subnet['id']}: {cidr} is not IPv"
                            f"{subnet.get('ip_version')}")
        addresses = [subnet.get("gateway_ip")] + [
            a for p in subnet.get("allocation_pools") or []
            for a in (p.get("start"), p.get("end"))]
        for address in addresses:
            if address and not _in_cidr(address, subnet["cidr"]):
                problems.append(f"subnet {subnet['id']}: {address} is "
                                f"outside {cidr}")

    def check_ips(owner, fixed_ips):
        for ip in fixed_ips:
            subnet = subnets.get(ip.get("subnet_id"))
            if subnet is None:
                problems.append(f"{owner}: IP {ip.get('ip_address')} is on "
                                f"subnet {ip.get('subnet_id')}, which was "
                                "not saved")
            elif not _in_cidr(ip.get("ip_address"), subnet["cidr"]):
                problems.append(f"{owner}: IP {ip.get('ip_address')} is "
                                f"outside {subnet['cidr']}")

    for router in metadata["routers"]:
        for interface in router.get("interfaces", []):
            check_ips(f"router {router['id']} interface "
                      f"{interface.get('port_id')}",
                      interface.get("fixed_ips", []))
        for route in router.get("routes", []):
            try:
                ipaddress.ip_network(route["destination"])
                ipaddress.ip_address(route["nexthop"])
            except (ValueError, KeyError):
                problems.append(f"router {router['id']}: route {route} "
                                "does not parse")
    groups = {g["id"] for g in metadata["security_groups"]}
    known = groups | set(metadata["external_security_groups"])
    for group in metadata["security_groups"]:
        for rule in group.get("rules", []):
            remote = rule.get("remote_group_id")
            if remote and remote not in known:
                problems.append(f"security group {group['id']} rule "
                                f"{rule.get('id')}: remote group {remote} "
                                "is neither saved nor a reference")
    for port in metadata["ports"]:
        check_ips(f"port {port['id']}", port.get("fixed_ips", []))
        for group in port.get("security_groups", []):
            if group not in known:
                problems.append(f"port {port['id']}: security group "
                                f"{group} is neither saved nor a reference")
    return problems


class CheckNetworkMetadata(task.Task):
    def execute(self, resource, metadata):
        problems = metadata_problems(metadata)
        if problems:
            raise exceptions.StackvaultError(
                f"saved metadata of network {resource.id} is not usable: "
                + "; ".join(problems))


# -- the plugin ---------------------------------------------------------------
class NetworkPlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE

    restore_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name_prefix": {
                "type": "string", "maxLength": 64,
                "description": "put before the name of every network, "
                               "subnet, router and security group created"},
            "external_network_mapping": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "original external network id -> external "
                               "network (id or name) of the target cloud "
                               "for router gateways"},
        },
    }

    @staticmethod
    def _resource(network):
        return Resource(RESOURCE_TYPE, network.id, network.name or "",
                        {"subnets": len(network.subnet_ids or [])})

    def list_resources(self, conn):
        networks = conn.network.networks(project_id=conn.current_project_id)
        return [self._resource(n) for n in networks
                if referenced_only(conn, n) is None]

    def show_resource(self, conn, resource_id):
        try:
            network = conn.network.get_network(resource_id)
        except sdk_exceptions.NotFoundException:
            raise exceptions.ResourceNotFound(
                f"network {resource_id} not found") from None
        reason = referenced_only(conn, network)
        if reason:
            raise exceptions.StackvaultError(reason)
        return self._resource(network)

    def dependencies(self, conn, resource):
        return []       # subnets, routers and groups are part of it

    def protect_flow(self, ctx, resource):
        return graph_flow.Flow("protect-network").add(
            DescribeNetwork(),
            DescribeSubnets(),
            ListNetworkPorts(),
            DescribeRouters(),
            DescribeSecurityGroups(),
            SaveNetworkMetadata(),
        )

    def restore_flow(self, ctx, resource):
        metadata = ctx.metadata
        problems = metadata_problems(metadata)
        if problems:
            return UnreadableMetadata(
                f"network {resource.id}: cannot restore from this "
                f"checkpoint: {'; '.join(problems)}")
        # The network's own objects form one chain. TaskFlow may revert a
        # task while another task that does not follow it still runs, and
        # Neutron refuses (409) to allocate an address on a network one of
        # whose subnets is being deleted: in a chain, whatever still runs
        # follows everything a rollback could delete underneath it.
        chain = linear_flow.Flow("network-subnets-routers")
        chain.add(CreateNetwork())
        subnets = {s["id"]: s for s in metadata["subnets"]}
        for subnet in metadata["subnets"]:
            chain.add(CreateSubnet(subnet))
        for router in metadata["routers"]:
            chain.add(EnsureRouter(router))
            for interface in router["interfaces"]:
                by_port = _interface_by_port(interface, subnets)
                if by_port:
                    chain.add(CreateInterfacePort(router["id"], interface))
                chain.add(AddRouterInterface(router["id"], interface,
                                             by_port))
            chain.add(AddRouterRoutes(router, metadata["subnets"]))
        # Security groups touch nothing of the network: in parallel.
        flow = graph_flow.Flow("restore-network").add(chain)
        saved_groups = {g["id"] for g in metadata["security_groups"]}
        for group in metadata["security_groups"]:
            remotes = {r["remote_group_id"] for r in group["rules"]
                       if r.get("remote_group_id") in saved_groups}
            remotes.discard(group["id"])
            flow.add(EnsureSecurityGroup(group), RemoveAutoAddedRules(group),
                     CreateSecurityGroupRules(group, remotes))
        return flow

    def delete_flow(self, ctx, resource):
        return None     # nothing was stored outside the bank

    def verify_flow(self, ctx, resource):
        return linear_flow.Flow("verify-network").add(CheckNetworkMetadata())
