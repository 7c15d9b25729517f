"""Names and small helpers shared by the server plugin's modules."""

import types

from openstack import exceptions as sdk_exceptions
from openstack.compute.v2 import server as sdk_server


RESOURCE_TYPE = "OS::Nova::Server"
VOLUME_TYPE = "OS::Cinder::Volume"
IMAGE_TYPE = "OS::Glance::Image"
NETWORK_TYPE = "OS::Neutron::Network"
SUBNET_TYPE = "OS::Neutron::Subnet"
SECURITY_GROUP_TYPE = "OS::Neutron::SecurityGroup"
PORT_TYPE = "OS::Neutron::Port"
FLOATING_IP_TYPE = "OS::Neutron::FloatingIP"
KEYPAIR_TYPE = "OS::Nova::KeyPair"

METADATA_FORMAT = 1
# The root disk record keeps the image plugin's metadata format number.
ROOT_DISK_FORMAT = 1
# Compute API microversions the restore relies on.
NO_NETWORK_AT_BOOT = "2.37"
TAGS_AT_BOOT = "2.52"
# A server in one of these states has a stable description.
PROTECTABLE_STATUSES = ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED",
                        "SHELVED", "SHELVED_OFFLOADED")
# The states in which Nova accepts createImage.
SNAPSHOT_STATUSES = ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED")
FLAVOR_SPEC = ("vcpus", "ram", "disk", "ephemeral", "swap")
VOLUME_FAILURES = ("error", "error_deleting", "error_detaching")


def label(server_id):
    return f"server {server_id}"


def server_ref(server_id):
    """A typed server reference: the compute proxy's volume-attachment calls
    guess (with an extra GET) which argument is the server when given two
    bare ids."""
    return sdk_server.Server.existing(id=server_id)


def find(finder, name_or_id, **query):
    """A proxy's ``find_*`` by name or id; None when there is none."""
    try:
        return finder(name_or_id, ignore_missing=False, **query)
    except sdk_exceptions.NotFoundException:
        return None


def probe(status, fault=None):
    """What a custom fetch returns to ``ctx.wait_for_status``."""
    return types.SimpleNamespace(status=status, fault=fault)


def server_fault(conn, server_id):
    try:
        server = conn.compute.get_server(server_id)
    except sdk_exceptions.NotFoundException:
        return "the server is gone"
    fault = server.fault or {}
    return fault.get("message") or "Nova gave no reason"


def root_disk(metadata):
    return metadata.get("root_disk")


def root_snapshot_id(metadata):
    """The temporary snapshot the root disk was saved from: the original
    image id of the root disk in messages and restored ids."""
    return root_disk(metadata)["snapshot_id"]


def free_floating_ip(conn, address, network_id):
    """The floating IP ``address`` of external network ``network_id`` that
    this project holds and no port uses, or None: what restore
    re-associates instead of allocating (and pre-flight counts as no
    quota)."""
    for fip in conn.network.ips(floating_ip_address=address,
                                floating_network_id=network_id,
                                project_id=conn.current_project_id):
        if not fip.port_id:
            return fip
    return None
