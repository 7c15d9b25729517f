"""What the network plugin saves in ``metadata.json``, and its checks.

``METADATA_SCHEMA`` is the shape (the framework checks it on verify and
before a restore creates anything, see ``protection.plugin.saved_metadata``);
``consistency_problems`` checks what a schema cannot: CIDRs and IPs parse
and fit their subnets, remote groups are saved or referenced.
"""

import ipaddress

from taskflow import task

from plugins.network import common
from protection import exceptions
from protection.plugin import saved_metadata

_ID = {"type": "string", "minLength": 1}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_FLAG = {"type": "boolean"}
_NULLABLE_FLAG = {"type": ["boolean", "null"]}
_NULLABLE_INTEGER = {"type": ["integer", "null"]}
_LIST = {"type": "array"}


def _objects(required, **properties):
    """An array of objects with these ``required`` keys."""
    return {"type": "array", "items": _object(required, **properties)}


def _object(required, **properties):
    return {"type": "object", "required": list(required),
            "properties": properties}


_FIXED_IPS = _objects(["subnet_id", "ip_address"], subnet_id=_ID,
                      ip_address=_TEXT)

METADATA_SCHEMA = _object(
    ["format", "network", "subnets", "routers", "security_groups",
     "external_security_groups", "ports"],
    format={"const": common.METADATA_FORMAT},
    network=_object(
        ["id", "name", "description", "admin_state_up"], id=_ID,
        name=_TEXT, description=_TEXT, admin_state_up=_FLAG,
        mtu=_NULLABLE_INTEGER, port_security_enabled=_NULLABLE_FLAG,
        dns_domain=_NULLABLE_TEXT),
    subnets=_objects(
        ["id", "name", "description", "cidr", "ip_version",
         "allocation_pools", "gateway_ip", "dns_nameservers", "host_routes",
         "enable_dhcp"], id=_ID, name=_TEXT, description=_TEXT, cidr=_TEXT,
        ip_version={"enum": [4, 6]},
        allocation_pools=_objects(["start", "end"], start=_TEXT, end=_TEXT),
        gateway_ip=_NULLABLE_TEXT, dns_nameservers=_LIST, host_routes=_LIST,
        enable_dhcp=_FLAG, ipv6_ra_mode=_NULLABLE_TEXT,
        ipv6_address_mode=_NULLABLE_TEXT),
    routers=_objects(
        ["id", "name", "description", "admin_state_up", "external_gateway",
         "routes", "interfaces"], id=_ID, name=_TEXT, description=_TEXT,
        admin_state_up=_FLAG,
        external_gateway={"oneOf": [
            {"type": "null"},
            _object(["network_id"], network_id=_ID, enable_snat=_FLAG)]},
        routes=_objects(["destination", "nexthop"], destination=_TEXT,
                        nexthop=_TEXT),
        interfaces=_objects(["port_id", "fixed_ips"], port_id=_ID,
                            fixed_ips=_FIXED_IPS)),
    security_groups=_objects(
        ["id", "name", "description", "is_default", "rules"], id=_ID,
        name=_TEXT, description=_TEXT, is_default=_FLAG, stateful=_FLAG,
        rules=_objects(["id", "direction", "ethertype"], id=_ID,
                       direction={"enum": ["ingress", "egress"]},
                       ethertype=_TEXT, remote_group_id=_NULLABLE_TEXT)),
    external_security_groups={"type": "array", "items": _ID},
    ports=_objects(["id"], id=_ID, fixed_ips=_FIXED_IPS,
                   security_groups={"type": "array", "items": _ID}),
)


def _subnet_problems(metadata):
    """Problems of the saved subnets, and the subnets whose CIDR parses."""
    problems, subnets = [], {}
    for subnet in metadata["subnets"]:
        try:
            cidr = ipaddress.ip_network(subnet["cidr"])
        except ValueError:
            problems.append(f"subnet {subnet['id']}: CIDR "
                            f"{subnet['cidr']!r} does not parse")
            continue
        subnets[subnet["id"]] = subnet
        if cidr.version != subnet["ip_version"]:
            problems.append(f"subnet {subnet['id']}: {cidr} is not IPv"
                            f"{subnet['ip_version']}")
        addresses = [subnet["gateway_ip"]] + [
            a for p in subnet["allocation_pools"]
            for a in (p["start"], p["end"])]
        for address in addresses:
            if address and not common.in_cidr(address, subnet["cidr"]):
                problems.append(f"subnet {subnet['id']}: {address} is "
                                f"outside {cidr}")
    return problems, subnets


def _ip_problems(owner, fixed_ips, subnets):
    problems = []
    for ip in fixed_ips:
        subnet = subnets.get(ip["subnet_id"])
        if subnet is None:
            problems.append(f"{owner}: IP {ip['ip_address']} is on subnet "
                            f"{ip['subnet_id']}, which was not saved")
        elif not common.in_cidr(ip["ip_address"], subnet["cidr"]):
            problems.append(f"{owner}: IP {ip['ip_address']} is outside "
                            f"{subnet['cidr']}")
    return problems


def _router_problems(router, subnets):
    problems = []
    for interface in router["interfaces"]:
        problems += _ip_problems(
            f"router {router['id']} interface {interface['port_id']}",
            interface["fixed_ips"], subnets)
    for route in router["routes"]:
        try:
            ipaddress.ip_network(route["destination"])
            ipaddress.ip_address(route["nexthop"])
        except ValueError:
            problems.append(f"router {router['id']}: route {route} does "
                            "not parse")
    return problems


def _group_problems(metadata, subnets):
    """Remote groups and port groups that are neither saved nor a
    reference; port IPs outside their subnets."""
    known = {g["id"] for g in metadata["security_groups"]} | set(
        metadata["external_security_groups"])
    problems = []
    for group in metadata["security_groups"]:
        for rule in group["rules"]:
            remote = rule.get("remote_group_id")
            if remote and remote not in known:
                problems.append(f"security group {group['id']} rule "
                                f"{rule['id']}: remote group {remote} is "
                                "neither saved nor a reference")
    for port in metadata["ports"]:
        problems += _ip_problems(f"port {port['id']}",
                                 port.get("fixed_ips", []), subnets)
        problems += [f"port {port['id']}: security group {group} is "
                     "neither saved nor a reference"
                     for group in port.get("security_groups", [])
                     if group not in known]
    return problems


def consistency_problems(metadata):
    """What makes metadata that meets ``METADATA_SCHEMA`` inconsistent."""
    problems, subnets = _subnet_problems(metadata)
    for router in metadata["routers"]:
        problems += _router_problems(router, subnets)
    return problems + _group_problems(metadata, subnets)


class CheckNetworkMetadata(task.Task):
    """Verify: the saved metadata is consistent.

    Metadata that breaks ``METADATA_SCHEMA`` is reported by the framework
    (``protection.plugin.saved_metadata``) beside this check; the consistency
    checks need the shape the schema guarantees, so they look only at
    metadata that meets it.
    """

    def execute(self, resource, metadata):
        if saved_metadata.problems(METADATA_SCHEMA, metadata):
            return
        problems = consistency_problems(metadata)
        if problems:
            raise exceptions.StackvaultError(
                f"saved metadata of network {resource.id} is not usable: "
                + "; ".join(problems))


class UnreadableMetadata(task.Task):
    """Stands in for the restore flow when the metadata is inconsistent."""

    def __init__(self, message):
        super().__init__(name="ReadMetadata")
        self.message = message

    def execute(self):
        raise exceptions.StackvaultError(self.message)
