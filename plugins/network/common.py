"""What every part of the network plugin shares: type names, the names of
values in the restore flow's store, and small Neutron helpers."""

import ipaddress

from openstack import exceptions as sdk_exceptions

from protection import exceptions

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


def own_network(conn, network_id, missing="not found"):
    """The project's own network ``network_id``. Raises ResourceNotFound
    (``"network <id> <missing>"``) when it does not exist, and a
    StackvaultError when it is only referenced."""
    try:
        network = conn.network.get_network(network_id)
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"network {network_id} {missing}") from None
    reason = referenced_only(conn, network)
    if reason:
        raise exceptions.StackvaultError(reason)
    return network


def named(parameters, name):
    """The name of a new object: ``name_prefix`` + the original name."""
    return parameters.get("name_prefix", "") + (name or "")


def in_cidr(address, cidr):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(
            cidr, strict=False)
    except ValueError:
        return False


def has_extension(conn, alias):
    try:
        conn.network.find_extension(alias, ignore_missing=False)
    except sdk_exceptions.NotFoundException:
        return False
    return True


# -- names of values in the restore flow's store ----------------------------
def subnet_key(subnet_id):
    return f"subnet:{subnet_id}"


def group_key(group_id):
    return f"security_group:{group_id}"


def group_clean_key(group_id):
    return f"security_group_clean:{group_id}"


def router_key(router_id):
    return f"router:{router_id}"


def interface_port_key(router_id, port_id):
    return f"interface_port:{router_id}:{port_id}"


def interface_key(router_id, port_id):
    return f"interface:{router_id}:{port_id}"
