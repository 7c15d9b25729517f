"""Protect: read the network and what belongs to it; save it in the bank.

Protect changes nothing in the cloud; its one side effect is the
``metadata.json`` that ``SaveNetworkMetadata`` writes (and its revert drops).
"""

from openstack import exceptions as sdk_exceptions
from taskflow import task

from plugins.network import common
from protection.plugin import tasks


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
        network = common.own_network(conn, resource.id,
                                     missing="no longer exists")
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
            if port["device_owner"] in common.ROUTER_INTERFACE_OWNERS:
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
                "is_default": group.name == common.DEFAULT_GROUP,
                "rules": rules,
            }
            if getattr(group, "stateful", None) is not None:
                info["stateful"] = group.stateful
            saved.append(info)
            todo.extend(sorted({r["remote_group_id"] for r in rules
                                if r["remote_group_id"]} - seen))
        return {"groups": sorted(saved, key=lambda g: g["id"]),
                "external": sorted(external)}


class SaveNetworkMetadata(tasks.SaveMetadata):
    def execute(self, bank, network_info, subnets_info, routers_info,
                security_groups_info, network_ports):
        bank.save_metadata({
            "format": common.METADATA_FORMAT,
            "network": network_info,
            "subnets": subnets_info,
            "routers": routers_info,
            "security_groups": security_groups_info["groups"],
            "external_security_groups": security_groups_info["external"],
            "ports": [p for p in network_ports
                      if p["device_owner"].startswith(
                          common.SERVER_OWNER_PREFIX)],
        })
