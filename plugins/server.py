"""Nova servers (``OS::Nova::Server``): saved as a description of the VM.

Dependencies (children, restored before the server)
    Its attached volumes (the boot volume of a volume-booted server has
    ``extra["boot"] = True``), its boot image when the project owns it, and
    the networks of its ports that the project owns (not external). An
    image or network the project does not own (a public image, the shared
    ``public`` network) is a *reference*: saved by id and name, never
    restored; at restore it is mapped with ``image_mapping`` /
    ``network_mapping``, else the same id is used if it exists.

What protect saves (``metadata.json``, no data unless asked)
    The flavor (id when known, name and full spec: vCPUs, RAM, disk,
    ephemeral, swap, extra specs if visible), availability zone, key pair
    name, metadata, tags, description, security group names, the boot
    source (image id or boot volume id), every port in the order Nova lists
    the server's interfaces (network, fixed IPs with subnet ids, MAC,
    security groups, allowed address pairs, port security, floating IPs
    with address and external network) and every volume attachment (volume,
    device, whether it is the boot volume), in device order.
    With ``snapshot_root_disk=true`` an image-booted server's root disk is
    also saved: Nova ``createImage`` makes a temporary Glance snapshot, its
    data is streamed into the bank exactly as the image plugin stores an
    image (``data/00000000`` ... with sha256 per object), and the temporary
    snapshot is deleted.

What restore creates (one TaskFlow graph, after the children's flows)
    1. Nothing before every mapping is resolved: flavor (``flavor_mapping``,
       same id, else the one flavor with the same spec), availability zone,
       key pair, boot source, the restored volumes, and for every port its
       network, subnets and security groups, and the external network of
       its floating IPs. A mapping that names nothing fails here, with the
       candidates listed, before anything exists.
    2. The root-disk image, when the checkpoint holds one.
    3. The server, from the restored (or mapped) image or the restored boot
       volume (block device mapping, boot index 0, delete_on_termination
       false), with no network at boot (compute API 2.37, ``networks:
       none``). Its id is recorded at once; then a bounded wait for ACTIVE
       that ends at once on ERROR with Nova's fault message.
    4. Two branches in parallel: ports and volumes. Ports are created in
       parallel (original MAC and, with ``keep_fixed_ips``, fixed IPs),
       then attached one after the other in the original order so the
       guest sees its NICs in the same order, each waited for until
       Neutron reports it bound to the server. Volumes are attached one
       after the other at their original devices (Nova assigns devices in
       request order), each waited for ``in-use``. After its port is
       attached, each floating IP is re-associated: the same address if it
       is free in the project on the (mapped) external network, else a new
       address from that network; the outcome is a progress step, and the
       floating IP is recorded under ``OS::Neutron::FloatingIP``.

    New ids are recorded for the server, each port (``OS::Neutron::Port``),
    each floating IP and the root-disk image (``OS::Glance::Image`` keyed by
    the temporary snapshot's id); they appear in the restore result.

How each creation is undone (reverse order)
    Floating IPs created are released, reused ones disassociated; ports
    are detached (waited for) and deleted; volumes are detached and waited
    ``available``, never deleted (they belong to the volume plugin, whose
    own revert deletes them); the server is deleted and waited gone; the
    root-disk image is deleted. Protect: the temporary snapshot is deleted
    and the root-disk objects are removed from the bank.
"""

import logging
import types

from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils
from openstack.compute.v2 import server as sdk_server
from taskflow import task
from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow

from protection import exceptions
from protection import image_data
from protection.plugin import ProtectionPlugin
from protection.resource import Resource

LOG = logging.getLogger(__name__)

RESOURCE_TYPE = "OS::Nova::Server"
VOLUME_TYPE = "OS::Cinder::Volume"
IMAGE_TYPE = "OS::Glance::Image"
NETWORK_TYPE = "OS::Neutron::Network"
SUBNET_TYPE = "OS::Neutron::Subnet"
SECURITY_GROUP_TYPE = "OS::Neutron::SecurityGroup"
PORT_TYPE = "OS::Neutron::Port"
FLOATING_IP_TYPE = "OS::Neutron::FloatingIP"

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


def _label(server_id):
    return f"server {server_id}"


def _server_ref(server_id):
    """A typed server reference: the compute proxy's volume-attachment calls
    guess (with an extra GET) which argument is the server when given two
    bare ids."""
    return sdk_server.Server.existing(id=server_id)


def _device_key(device):
    """Sort ``/dev/vdb`` before ``/dev/vdaa``."""
    device = device or ""
    return (len(device), device)


def _find(finder, name_or_id, **query):
    """A proxy's ``find_*`` by name or id; None when there is none."""
    try:
        return finder(name_or_id, ignore_missing=False, **query)
    except sdk_exceptions.NotFoundException:
        return None


def _probe(status, fault=None):
    """What a custom fetch returns to ``ctx.wait_for_status``."""
    return types.SimpleNamespace(status=status, fault=fault)


# -- reading a server ---------------------------------------------------------
def _image_id(server):
    """The image a server booted from; None for a volume-booted server
    (Nova shows ``image: ""`` for those)."""
    image = server.image
    if isinstance(image, dict):
        return image.get("id") or None
    return getattr(image, "id", None) or None


def _flavor_spec(flavor):
    spec = {key: int(getattr(flavor, key, 0) or 0) for key in FLAVOR_SPEC}
    spec["extra_specs"] = dict(getattr(flavor, "extra_specs", None) or {})
    return spec


def _same_spec(flavor, saved):
    """Same numbers, and the same extra specs when the saved flavor had any
    visible."""
    spec = _flavor_spec(flavor)
    if any(spec[key] != saved.get(key, 0) for key in FLAVOR_SPEC):
        return False
    wanted = saved.get("extra_specs") or {}
    return not wanted or spec["extra_specs"] == wanted


def describe_flavor(conn, server):
    """The server's flavor: id when known, name and full spec.

    From compute API 2.47 a server embeds its flavor's spec and name but
    not its id; the id is the flavor of that name when its spec still
    matches (a flavor deleted or redefined since keeps only the spec).
    """
    embedded = server.flavor
    if getattr(embedded, "original_name", None):
        spec = _flavor_spec(embedded)
        name = embedded.original_name
        found = _find(conn.compute.find_flavor, name)
        flavor_id = found.id if found is not None and \
            _same_spec(found, spec) else None
        return {"id": flavor_id, "name": name, **spec}
    flavor_id = embedded.id
    try:
        try:
            flavor = conn.compute.get_flavor(flavor_id, get_extra_specs=True)
        except sdk_exceptions.ForbiddenException:
            flavor = conn.compute.get_flavor(flavor_id)
    except sdk_exceptions.NotFoundException:
        raise exceptions.StackvaultError(
            f"flavor {flavor_id} of server {server.id} no longer exists and "
            "this cloud's compute API (before 2.47) does not say what it "
            "was: its spec cannot be saved") from None
    return {"id": flavor.id, "name": flavor.name, **_flavor_spec(flavor)}


def describe_attachments(conn, server, image_id):
    """Every volume attachment in device order, the boot volume marked.

    A volume-booted server's boot volume is the one at its root device
    (``OS-EXT-SRV-ATTR:root_device_name``, visible to admins); otherwise
    the bootable volume at the first device, else the first device.
    """
    found = []
    for attachment in conn.compute.volume_attachments(server.id):
        volume = conn.block_storage.get_volume(attachment.volume_id)
        found.append({
            "volume_id": attachment.volume_id,
            "device": attachment.device,
            "name": volume.name or "",
            "size": volume.size,
            "bootable": str(volume.is_bootable).lower() == "true",
            "delete_on_termination": bool(
                getattr(attachment, "delete_on_termination", False)),
            "boot": False,
        })
    found.sort(key=lambda a: _device_key(a["device"]))
    if image_id is None and found:
        root = getattr(server, "root_device_name", None)
        at_root = [a for a in found if root and a["device"] == root]
        bootable = [a for a in found if a["bootable"]]
        (at_root or bootable or found)[0]["boot"] = True
    return found


def describe_image(conn, image_id):
    try:
        image = conn.image.get_image(image_id)
    except sdk_exceptions.NotFoundException:
        return {"id": image_id, "name": "", "owned": False, "missing": True}
    return {"id": image.id, "name": image.name or "",
            "owned": image.owner == conn.current_project_id,
            "missing": False, "status": image.status, "size": image.size,
            "disk_format": image.disk_format,
            "kernel_id": image.kernel_id, "ramdisk_id": image.ramdisk_id}


def describe_network(conn, network_id):
    try:
        network = conn.network.get_network(network_id)
    except sdk_exceptions.NotFoundException:
        return {"id": network_id, "name": "", "owned": False,
                "external": False, "shared": False, "missing": True,
                "subnets": 0}
    return {"id": network.id, "name": network.name or "",
            "owned": network.project_id == conn.current_project_id,
            "external": bool(network.is_router_external),
            "shared": bool(network.is_shared), "missing": False,
            "subnets": len(network.subnet_ids or [])}


def is_child_network(info):
    """The network plugin restores the project's own internal networks;
    external and other projects' networks are references."""
    return info["owned"] and not info["external"] and not info["missing"]


def describe_ports(conn, server):
    """Every port of the server, in the order Nova lists its interfaces."""
    order = [i.port_id for i in conn.compute.server_interfaces(server.id)]
    ports = list(conn.network.ports(device_id=server.id))
    ports.sort(key=lambda p: order.index(p.id) if p.id in order
               else len(order))
    group_names = {}

    def group_name(sg_id):
        if sg_id not in group_names:
            try:
                group_names[sg_id] = \
                    conn.network.get_security_group(sg_id).name
            except sdk_exceptions.NotFoundException:
                group_names[sg_id] = None
        return group_names[sg_id]

    described = []
    for port in ports:
        groups = list(port.security_group_ids or [])
        described.append({
            "id": port.id,
            "name": port.name or "",
            "description": port.description or "",
            "network_id": port.network_id,
            "fixed_ips": [{"subnet_id": ip.get("subnet_id"),
                           "ip_address": ip.get("ip_address")}
                          for ip in port.fixed_ips or []],
            "mac_address": port.mac_address,
            "security_group_ids": groups,
            "security_groups": {sg: group_name(sg) for sg in groups},
            "allowed_address_pairs": [
                {k: v for k, v in pair.items()
                 if k in ("ip_address", "mac_address")}
                for pair in port.allowed_address_pairs or []],
            "port_security_enabled": port.is_port_security_enabled,
            "admin_state_up": port.is_admin_state_up,
            "vnic_type": port.binding_vnic_type or "normal",
            "floating_ips": [{
                "id": fip.id,
                "address": fip.floating_ip_address,
                "floating_network_id": fip.floating_network_id,
                "fixed_ip_address": fip.fixed_ip_address,
                "description": fip.description or "",
            } for fip in conn.network.ips(port_id=port.id)],
        })
    return described


def describe_server(conn, server_id):
    """Everything restore needs to know about the server (JSON-safe)."""
    server = conn.compute.get_server(server_id)
    image_id = _image_id(server)
    attachments = describe_attachments(conn, server, image_id)
    boot_volume = next((a["volume_id"] for a in attachments if a["boot"]),
                       None)
    if image_id is None and boot_volume is None:
        raise exceptions.StackvaultError(
            f"server {server.id} has neither an image nor a volume to boot "
            "from")
    ports = describe_ports(conn, server)
    network_ids = []
    for port in ports:
        network_ids.append(port["network_id"])
        network_ids += [f["floating_network_id"]
                        for f in port["floating_ips"]]
    networks = {}
    for network_id in network_ids:
        if network_id not in networks:
            networks[network_id] = describe_network(conn, network_id)
    return {
        "server": {
            "id": server.id,
            "name": server.name or "",
            "description": server.description,
            "status": server.status,
            "availability_zone": server.availability_zone,
            "key_name": server.key_name,
            "metadata": dict(server.metadata or {}),
            "tags": sorted(server.tags or []),
            "config_drive": str(server.config_drive or "").lower() in (
                "true", "1", "yes"),
            "security_groups": sorted({g.get("name") for g in
                                       server.security_groups or []
                                       if g.get("name")}),
        },
        "flavor": describe_flavor(conn, server),
        "boot": {"source": "image" if image_id else "volume",
                 "image_id": image_id, "volume_id": boot_volume},
        "image": describe_image(conn, image_id) if image_id else None,
        "networks": networks,
        "ports": ports,
        "attachments": attachments,
    }


# -- protect ------------------------------------------------------------------
class DescribeServer(task.Task):
    """Read the server, its flavor, ports and attachments; refuse unstable
    states."""

    default_provides = "server_info"

    def execute(self, conn, resource):
        info = describe_server(conn, resource.id)
        status = info["server"]["status"]
        if status not in PROTECTABLE_STATUSES:
            raise exceptions.StackvaultError(
                f"server {resource.id} is {status!r}; only servers that are "
                f"{', '.join(PROTECTABLE_STATUSES)} can be protected")
        return info


class CreateRootDiskSnapshot(task.Task):
    """Nova createImage of an image-booted server (``snapshot_root_disk``).

    Returns the temporary Glance image's id, or None when not asked or when
    the root disk is a volume (the volume plugin protects that).
    """

    default_provides = "root_snapshot_id"

    def execute(self, ctx, conn, resource, parameters, server_info):
        if not parameters.get("snapshot_root_disk"):
            return None
        if server_info["boot"]["source"] != "image":
            ctx.progress.step("root-disk", "the server boots from a volume: "
                              "its root disk is that volume's backup")
            return None
        status = server_info["server"]["status"]
        if status not in SNAPSHOT_STATUSES:
            raise exceptions.StackvaultError(
                f"server {resource.id} is {status!r}: Nova snapshots only "
                f"{', '.join(SNAPSHOT_STATUSES)} servers")
        image = conn.compute.create_server_image(
            resource.id, name=f"stackvault-tmp-{ctx.checkpoint_id}",
            wait=False)
        return image.id

    def revert(self, conn, result, **kwargs):
        if isinstance(result, str):
            conn.image.delete_image(result, ignore_missing=True)


class WaitRootDiskSnapshot(task.Task):
    """Bounded wait for the snapshot to be ``active``.

    Fails at once when Glance kills or Nova deletes the snapshot, or when
    Nova has finished (the server's task state is back to none) and the
    image still has no data: the compute driver uploaded nothing.
    """

    def execute(self, ctx, conn, resource, root_snapshot_id, server_info):
        if root_snapshot_id is None:
            return
        what = f"root-disk snapshot {root_snapshot_id} of {resource.id}"

        def fetch():
            try:
                image = conn.image.get_image(root_snapshot_id)
            except sdk_exceptions.NotFoundException:
                return _probe("deleted", "Nova deleted it: the snapshot "
                              f"failed ({_server_fault(conn, resource.id)})")
            if image.status != "queued":
                return image
            if conn.compute.get_server(resource.id).task_state:
                return image
            image = conn.image.get_image(root_snapshot_id)
            if image.status == "queued":
                return _probe("failed", "Nova finished the snapshot but "
                              "Glance received no data (the compute driver "
                              "uploaded nothing)")
            return image

        ctx.progress.step("root-disk", f"waiting for {what}")
        ctx.wait_for_status(fetch, "active", what=what,
                            failures=("failed",) + image_data.IMAGE_FAILURES,
                            size_gib=server_info["flavor"]["disk"])


def _server_fault(conn, server_id):
    try:
        server = conn.compute.get_server(server_id)
    except sdk_exceptions.NotFoundException:
        return "the server is gone"
    fault = server.fault or {}
    return fault.get("message") or "Nova gave no reason"


class SaveRootDiskData(task.Task):
    """Stream the snapshot into the bank as the image plugin stores an
    image (protection.image_data)."""

    default_provides = "root_disk"

    def __init__(self, object_size, **kwargs):
        super().__init__(**kwargs)
        self.object_size = object_size

    def execute(self, ctx, conn, bank, root_snapshot_id):
        if root_snapshot_id is None:
            return None
        info = image_data.describe_image(conn, root_snapshot_id)
        data = image_data.save_image_data(ctx, conn, bank, info,
                                          self.object_size)
        return {"format": ROOT_DISK_FORMAT,
                "image": image_data.saved_image(info),
                "data": data, "snapshot_id": root_snapshot_id}

    def revert(self, bank, **kwargs):
        # Whatever this task wrote, even when it failed half way.
        image_data.delete_image_data(bank)


class DeleteRootDiskSnapshot(task.Task):
    """The data is in the bank: the temporary snapshot has served.

    Nothing to revert: a deleted temporary snapshot is what every outcome
    wants.
    """

    def execute(self, conn, root_snapshot_id):
        if root_snapshot_id is not None:
            conn.image.delete_image(root_snapshot_id, ignore_missing=True)


class SaveServerMetadata(task.Task):
    def execute(self, bank, server_info, root_disk):
        bank.save_metadata({"format": METADATA_FORMAT, **server_info,
                            "root_disk": root_disk})

    def revert(self, bank, **kwargs):
        bank.delete("metadata.json")


# -- restore: resolving (no side effects) -------------------------------------
def _saved(metadata, resource):
    if metadata.get("format") != METADATA_FORMAT or "flavor" not in metadata:
        raise exceptions.StackvaultError(
            f"server {resource.id}: the checkpoint holds no server metadata "
            f"this plugin reads (format {metadata.get('format')!r})")
    return metadata


def _flavor_text(flavor):
    text = (f"{flavor.get('vcpus')} vCPU, {flavor.get('ram')} MiB RAM, "
            f"{flavor.get('disk')} GiB disk")
    if flavor.get("ephemeral"):
        text += f", {flavor['ephemeral']} GiB ephemeral"
    if flavor.get("swap"):
        text += f", {flavor['swap']} MiB swap"
    return text


def _flavor_candidates(conn, limit=12):
    flavors = sorted(conn.compute.flavors(),
                     key=lambda f: (f.vcpus, f.ram, f.disk, f.name))
    text = "; ".join(f"{f.name} ({_flavor_text(_flavor_spec(f))})"
                     for f in flavors[:limit])
    if len(flavors) > limit:
        text += f"; and {len(flavors) - limit} more"
    return text or "none"


class ResolveFlavor(task.Task):
    """``flavor_mapping`` (by original id or name), else the same id, else
    the flavor with the same spec (the same name first)."""

    default_provides = "flavor_id"

    def execute(self, ctx, conn, resource, metadata, parameters):
        saved = _saved(metadata, resource)["flavor"]
        mapping = parameters.get("flavor_mapping") or {}
        for key in (saved.get("id"), saved.get("name")):
            if key and key in mapping:
                target = mapping[key]
                found = _find(conn.compute.find_flavor, target)
                if found is None:
                    raise exceptions.StackvaultError(
                        f"flavor_mapping maps {key!r} to {target!r}, which "
                        "is no flavor in this cloud (flavors: "
                        f"{_flavor_candidates(conn)})")
                return found.id
        if saved.get("id"):
            try:
                return conn.compute.get_flavor(saved["id"]).id
            except sdk_exceptions.NotFoundException:
                pass
        matches = [f for f in conn.compute.flavors() if _same_spec(f, saved)]
        if not matches:
            raise exceptions.StackvaultError(
                f"no flavor in this cloud is like {saved.get('name')!r} "
                f"({_flavor_text(saved)}); map it with flavor_mapping "
                f"(flavors: {_flavor_candidates(conn)})")
        matches.sort(key=lambda f: (f.name != saved.get("name"), f.name))
        chosen = matches[0]
        ctx.progress.step("flavor", f"flavor {saved.get('name')!r} is "
                          f"{chosen.name!r} ({chosen.id}) here, by its spec")
        return chosen.id


class ResolveServerAttributes(task.Task):
    """Name, zone, key pair, metadata, tags; checks the compute API."""

    default_provides = "server_attrs"

    def execute(self, ctx, conn, resource, metadata, parameters):
        saved = _saved(metadata, resource)["server"]
        if not sdk_utils.supports_microversion(conn.compute,
                                               NO_NETWORK_AT_BOOT):
            raise exceptions.StackvaultError(
                "this cloud's Nova cannot create a server without a network "
                f"(needs compute API {NO_NETWORK_AT_BOOT})")
        attrs = {"name": parameters.get("restore_name") or saved["name"],
                 "metadata": dict(saved.get("metadata") or {})}
        if saved.get("description"):
            attrs["description"] = saved["description"]
        if saved.get("config_drive"):
            attrs["config_drive"] = True
        zone = saved.get("availability_zone")
        zone = (parameters.get("availability_zone_mapping") or {}).get(
            zone, zone)
        if zone:
            _check_zone(conn, zone)
            attrs["availability_zone"] = zone
        key_name = parameters.get("key_name", saved.get("key_name"))
        if key_name:
            if _find(conn.compute.find_keypair, key_name) is None:
                raise exceptions.StackvaultError(
                    f"key pair {key_name!r} does not exist for this user: "
                    "import it, or set key_name (\"\" for none)")
            attrs["key_name"] = key_name
        tags = list(saved.get("tags") or [])
        if tags:
            if sdk_utils.supports_microversion(conn.compute, TAGS_AT_BOOT):
                attrs["tags"] = tags
            else:
                ctx.progress.step("tags", "tags not restored: this cloud's "
                                  f"Nova needs compute API {TAGS_AT_BOOT}")
        return attrs


def _check_zone(conn, zone):
    try:
        zones = sorted(z.name for z in conn.compute.availability_zones())
    except sdk_exceptions.ForbiddenException:
        return          # not allowed to list: let Nova judge
    if zones and zone not in zones:
        raise exceptions.StackvaultError(
            f"availability zone {zone!r} does not exist here (zones: "
            f"{', '.join(zones)}); map it with availability_zone_mapping")


class ResolveBootSource(task.Task):
    """The restored boot volume, or the image: ``image_mapping``, else the
    restored image, else the same id if it exists here."""

    default_provides = "boot_source"

    def execute(self, conn, resource, metadata, parameters, restored):
        saved = _saved(metadata, resource)
        boot = saved["boot"]
        if boot["source"] == "volume":
            return {"volume_id": restored.require(VOLUME_TYPE,
                                                  boot["volume_id"])}
        image_id = boot["image_id"]
        image = saved.get("image") or {"id": image_id, "name": ""}
        mapped = (parameters.get("image_mapping") or {}).get(image_id)
        if mapped:
            return {"image_id": _existing_image(conn, mapped,
                                                "image_mapping maps "
                                                f"{image_id!r} to")}
        new_id = restored.get(IMAGE_TYPE, image_id)
        if new_id:
            return {"image_id": new_id}
        why = ("it was missing at protect time" if image.get("missing")
               else "the project does not own it, so it was not protected")
        return {"image_id": _existing_image(
            conn, image_id, f"the server's image {image['name']!r} ({why})",
            hint="; map it with image_mapping or protect the server with "
                 "snapshot_root_disk=true")}


def _existing_image(conn, image_id, what, hint=""):
    try:
        image = conn.image.get_image(image_id)
    except sdk_exceptions.NotFoundException:
        raise exceptions.StackvaultError(
            f"{what} {image_id} does not exist here{hint}") from None
    if image.status != "active":
        raise exceptions.StackvaultError(
            f"{what} {image_id} is {image.status!r}, not 'active'{hint}")
    return image.id


class ResolveVolumes(task.Task):
    """The restored id of every non-boot volume, in device order."""

    default_provides = "volume_plan"

    def execute(self, resource, metadata, restored):
        saved = _saved(metadata, resource)
        return [{"original": a["volume_id"], "device": a["device"],
                 "new": restored.require(VOLUME_TYPE, a["volume_id"])}
                for a in saved["attachments"] if not a["boot"]]


class _Targets:
    """Where the original networks and security groups are now."""

    def __init__(self, conn, parameters, restored, networks):
        self.conn = conn
        self.restored = restored
        self.network_mapping = parameters.get("network_mapping") or {}
        self.group_mapping = parameters.get("security_group_mapping") or {}
        self.networks = networks
        self._found = {}

    def network(self, network_id):
        """``(target id, how)``: how is mapped, restored or same."""
        key = ("network", network_id)
        if key not in self._found:
            self._found[key] = self._network(network_id)
        return self._found[key]

    def _network(self, network_id):
        info = self.networks.get(network_id) or {"name": ""}
        label = f"network {network_id}" + (
            f" ({info['name']})" if info.get("name") else "")
        if network_id in self.network_mapping:
            target = self.network_mapping[network_id]
            found = _find(self.conn.network.find_network, target)
            if found is None:
                raise exceptions.StackvaultError(
                    f"network_mapping maps {label} to {target!r}, which is "
                    "no network here")
            return found.id, "mapped"
        new_id = self.restored.get(NETWORK_TYPE, network_id)
        if new_id:
            return new_id, "restored"
        try:
            return self.conn.network.get_network(network_id).id, "same"
        except sdk_exceptions.NotFoundException:
            kind = "external" if info.get("external") else \
                "another project's" if not info.get("owned") else "restored"
            raise exceptions.StackvaultError(
                f"{label} is {kind} and was not restored, and does not "
                f"exist here: map it with network_mapping "
                f"{{\"{network_id}\": \"<network>\"}}") from None

    def security_group(self, group_id, name):
        key = ("group", group_id)
        if key not in self._found:
            self._found[key] = self._security_group(group_id, name)
        return self._found[key]

    def _security_group(self, group_id, name):
        label = f"security group {group_id}" + (f" ({name})" if name
                                                 else "")
        if group_id in self.group_mapping:
            target = self.group_mapping[group_id]
            found = _find(self.conn.network.find_security_group, target,
                          project_id=self.conn.current_project_id)
            if found is None:
                raise exceptions.StackvaultError(
                    f"security_group_mapping maps {label} to {target!r}, "
                    "which is no security group here")
            return found.id
        new_id = self.restored.get(SECURITY_GROUP_TYPE, group_id)
        if new_id:
            return new_id
        try:
            return self.conn.network.get_security_group(group_id).id
        except sdk_exceptions.NotFoundException:
            pass
        if name == "default":
            # Every project has its own: the natural counterpart.
            for group in self.conn.network.security_groups(
                    name="default",
                    project_id=self.conn.current_project_id):
                return group.id
        raise exceptions.StackvaultError(
            f"{label} was not restored and does not exist here: map it "
            f"with security_group_mapping {{\"{group_id}\": \"<group>\"}}")


def plan_port(port, targets, keep_fixed_ips, restored):
    """The create_port attributes for one saved port.

    ``fallback``: the same without MAC and fixed IP addresses, used when a
    network that is not the project's own refuses them (Neutron lets only
    a network's owner choose them).
    """
    network_id, how = targets.network(port["network_id"])
    fixed_ips = []
    for fixed in port["fixed_ips"]:
        entry = {}
        subnet_id = None
        if how == "restored" and fixed.get("subnet_id"):
            subnet_id = restored.get(SUBNET_TYPE, fixed["subnet_id"])
        elif how == "same":
            subnet_id = fixed.get("subnet_id")
        if subnet_id:
            entry["subnet_id"] = subnet_id
        if keep_fixed_ips and fixed.get("ip_address"):
            entry["ip_address"] = fixed["ip_address"]
        if entry:
            fixed_ips.append(entry)
    attrs = {"network_id": network_id, "name": port["name"],
             "mac_address": port["mac_address"]}
    if port.get("description"):
        attrs["description"] = port["description"]
    if fixed_ips:
        attrs["fixed_ips"] = fixed_ips
    if port.get("admin_state_up") is False:
        attrs["is_admin_state_up"] = False
    if port.get("vnic_type") not in (None, "normal"):
        attrs["binding_vnic_type"] = port["vnic_type"]
    if port.get("port_security_enabled") is False:
        attrs["is_port_security_enabled"] = False
    else:
        attrs["security_group_ids"] = [
            targets.security_group(sg, port["security_groups"].get(sg))
            for sg in port["security_group_ids"]]
        if port.get("allowed_address_pairs"):
            attrs["allowed_address_pairs"] = [
                dict(pair) for pair in port["allowed_address_pairs"]]
    fallback = None
    if how != "restored":
        fallback = {k: v for k, v in attrs.items() if k != "mac_address"}
        subnets = [{"subnet_id": f["subnet_id"]} for f in fixed_ips
                   if f.get("subnet_id")]
        fallback.pop("fixed_ips", None)
        if subnets:
            fallback["fixed_ips"] = subnets
    floating = [{
        "original_id": fip["id"],
        "address": fip["address"],
        "network_id": targets.network(fip["floating_network_id"])[0],
        "fixed_ip_address": fip.get("fixed_ip_address"),
        "description": fip.get("description") or "",
    } for fip in port["floating_ips"]]
    return {"original": port["id"], "attrs": attrs, "fallback": fallback,
            "floating_ips": floating}


class ResolvePorts(task.Task):
    """Every port's network, subnets and security groups here, and its
    floating IPs' external network."""

    default_provides = "port_plans"

    def execute(self, conn, resource, metadata, parameters, restored):
        saved = _saved(metadata, resource)
        targets = _Targets(conn, parameters, restored, saved["networks"])
        keep = parameters.get("keep_fixed_ips", True)
        return {port["id"]: plan_port(port, targets, keep, restored)
                for port in saved["ports"]}


# -- restore: the root disk ---------------------------------------------------
def _root_disk(metadata):
    return metadata.get("root_disk")


def _root_snapshot_id(metadata):
    """The temporary snapshot the root disk was saved from: the original
    image id of the root disk in messages and restored ids."""
    return _root_disk(metadata)["snapshot_id"]


class CreateRootDiskImage(task.Task):
    """A new private image for the saved root disk (queued, no data yet).

    Recorded as the restore of the temporary snapshot it was taken as.
    """

    default_provides = "root_image_id"

    def execute(self, ctx, conn, metadata, server_attrs):
        root = _root_disk(metadata)
        new_id = image_data.create_image(
            conn, root["image"], name=f"{server_attrs['name']}-root-disk",
            visibility="private")
        ctx.record_new_id(new_id, IMAGE_TYPE, root["snapshot_id"])
        return new_id

    def revert(self, ctx, conn, metadata, result, **kwargs):
        if isinstance(result, str):
            conn.image.delete_image(result, ignore_missing=True)
            ctx.forget_new_id(IMAGE_TYPE, _root_disk(metadata)["snapshot_id"])


class UploadRootDisk(task.Task):
    """Stream the bank objects into the new image, each checked against its
    saved sha256 (as the image plugin uploads). Undone with the image."""

    def execute(self, ctx, conn, bank, metadata, root_image_id):
        image_data.upload_image_data(ctx, conn, bank,
                                     _root_disk(metadata)["data"],
                                     root_image_id,
                                     _root_snapshot_id(metadata))


class WaitRootDiskImage(task.Task):
    """Bounded wait for ``active``, then Glance's hash must be the saved
    one; the image is then what the server boots from."""

    default_provides = "boot_source"

    def execute(self, ctx, conn, metadata, root_image_id):
        data = _root_disk(metadata)["data"]
        image_data.wait_image_active(ctx, conn, root_image_id, data)
        image_data.check_restored_image(conn, data, root_image_id,
                                        _root_snapshot_id(metadata))
        return {"image_id": root_image_id}


# -- restore: the server -----------------------------------------------------
class CreateServer(task.Task):
    """Boot the server with no network; record its id at once."""

    default_provides = "new_server_id"

    def execute(self, ctx, conn, flavor_id, server_attrs, boot_source):
        attrs = dict(server_attrs, flavor_id=flavor_id, networks="none")
        if "volume_id" in boot_source:
            attrs["block_device_mapping"] = [{
                "boot_index": 0, "uuid": boot_source["volume_id"],
                "source_type": "volume", "destination_type": "volume",
                "delete_on_termination": False}]
        else:
            attrs["image_id"] = boot_source["image_id"]
        server = conn.compute.create_server(**attrs)
        ctx.record_new_id(server.id)
        return server.id

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, str):
            return
        conn.compute.delete_server(result, ignore_missing=True)
        ctx.wait_for_delete(lambda: conn.compute.get_server(result),
                            what=_label(result), failures=())
        ctx.forget_new_id()


class WaitServerActive(task.Task):
    """Bounded; ends at once on ERROR with Nova's fault message."""

    default_provides = "active_server_id"

    def execute(self, ctx, conn, new_server_id):
        ctx.progress.step("boot", f"waiting for {_label(new_server_id)}")
        ctx.wait_for_status(lambda: conn.compute.get_server(new_server_id),
                            "ACTIVE", what=_label(new_server_id),
                            failures=("ERROR",))
        return new_server_id


# -- restore: ports and floating IPs ------------------------------------------
class CreatePort(task.Task):
    """One port, created once per restore (a port some other plugin already
    restored is reused, and left to that plugin's revert)."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"CreatePort[{original_id}]",
                         provides=f"port:{original_id}", **kwargs)
        self.original_id = original_id

    def execute(self, ctx, conn, port_plans):
        plan = port_plans[self.original_id]

        def create():
            try:
                return conn.network.create_port(**plan["attrs"]).id
            except sdk_exceptions.ForbiddenException:
                if plan["fallback"] is None:
                    raise
            ctx.progress.step(
                "port", f"network {plan['attrs']['network_id']} refused the "
                f"original MAC and fixed IPs of port {self.original_id} "
                "(only its owner may choose them): new ones are allocated")
            return conn.network.create_port(**plan["fallback"]).id

        new_id, created = ctx.restored.create_once(PORT_TYPE,
                                                   self.original_id, create)
        return {"id": new_id, "created": created}

    def revert(self, ctx, conn, result, **kwargs):
        if isinstance(result, dict) and result["created"]:
            conn.network.delete_port(result["id"], ignore_missing=True)
            ctx.forget_new_id(PORT_TYPE, self.original_id)


class AttachPort(task.Task):
    """Compute interface attach of the new port."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"AttachPort[{original_id}]",
                         provides=f"interface:{original_id}",
                         rebind={"port": f"port:{original_id}"}, **kwargs)

    def execute(self, conn, active_server_id, port):
        conn.compute.create_server_interface(active_server_id,
                                             port_id=port["id"])
        return port["id"]

    def revert(self, ctx, conn, active_server_id, result, **kwargs):
        if not isinstance(result, str):
            return
        conn.compute.delete_server_interface(result, server=active_server_id,
                                             ignore_missing=True)

        def fetch():
            try:
                port = conn.network.get_port(result)
            except sdk_exceptions.NotFoundException:
                return _probe("detached")
            return _probe("attached" if port.device_id == active_server_id
                          else "detached")
        ctx.wait_for_status(fetch, "detached", what=f"port {result} detach",
                            failures=())


class WaitPortAttached(task.Task):
    """Until Neutron shows the port on the server, bound (ACTIVE, or a VIF
    type other than unbound); a failed binding ends the wait at once."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"WaitPortAttached[{original_id}]",
                         provides=f"attached_port:{original_id}",
                         rebind={"port_id": f"interface:{original_id}"},
                         **kwargs)

    def execute(self, ctx, conn, active_server_id, port_id):
        def fetch():
            port = conn.network.get_port(port_id)
            vif = port.binding_vif_type or "unbound"
            if vif == "binding_failed":
                return _probe("failed", "Neutron could not bind it "
                              f"(host {port.binding_host_id})")
            if port.device_id == active_server_id and (
                    port.status == "ACTIVE" or vif != "unbound"):
                return _probe("attached")
            return _probe("waiting")
        what = f"port {port_id} on {_label(active_server_id)}"
        ctx.wait_for_status(fetch, "attached", what=what,
                            failures=("failed",))
        return port_id


class AssociateFloatingIP(task.Task):
    """The same address if it is free in the project, else (trying to
    allocate the same address first) a new one from the same network."""

    def __init__(self, original_port_id, original_id, **kwargs):
        super().__init__(
            name=f"AssociateFloatingIP[{original_id}]",
            rebind={"port_id": f"attached_port:{original_port_id}"},
            **kwargs)
        self.original_id = original_id

    def execute(self, ctx, conn, port_plans, port_id):
        plan = next(f for p in port_plans.values()
                    for f in p["floating_ips"]
                    if f["original_id"] == self.original_id)
        address, network_id = plan["address"], plan["network_id"]
        fixed = self._fixed_address(conn, port_id, plan)
        target = {"port_id": port_id}
        if fixed:
            target["fixed_ip_address"] = fixed
        for fip in conn.network.ips(floating_ip_address=address,
                                    floating_network_id=network_id,
                                    project_id=conn.current_project_id):
            if not fip.port_id:
                conn.network.update_ip(fip, **target)
                return self._done(ctx, fip.id, address, False,
                                  f"floating IP {address} re-associated")
        try:
            fip = conn.network.create_ip(
                floating_network_id=network_id, floating_ip_address=address,
                description=plan["description"], **target)
            return self._done(ctx, fip.id, address, True,
                              f"floating IP {address} allocated again")
        except (sdk_exceptions.ForbiddenException,
                sdk_exceptions.ConflictException,
                sdk_exceptions.BadRequestException) as exc:
            reason = exc.details or str(exc)
        fip = conn.network.create_ip(floating_network_id=network_id,
                                     description=plan["description"],
                                     **target)
        return self._done(
            ctx, fip.id, fip.floating_ip_address, True,
            f"floating IP {address} could not be taken again ({reason}): "
            f"new address {fip.floating_ip_address}")

    @staticmethod
    def _fixed_address(conn, port_id, plan):
        """The original fixed address when the new port has it."""
        wanted = plan.get("fixed_ip_address")
        if not wanted:
            return None
        port = conn.network.get_port(port_id)
        addresses = {ip.get("ip_address") for ip in port.fixed_ips or []}
        return wanted if wanted in addresses else None

    def _done(self, ctx, fip_id, address, created, message):
        ctx.record_new_id(fip_id, FLOATING_IP_TYPE, self.original_id)
        ctx.progress.step("floating-ip", message)
        return {"id": fip_id, "address": address, "created": created}

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, dict):
            return
        if result["created"]:
            conn.network.delete_ip(result["id"], ignore_missing=True)
        else:
            try:
                conn.network.update_ip(result["id"], port_id=None)
            except sdk_exceptions.NotFoundException:
                pass
        ctx.forget_new_id(FLOATING_IP_TYPE, self.original_id)


# -- restore: volumes ---------------------------------------------------------
class AttachVolume(task.Task):
    """Attach one restored non-boot volume at its original device."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"AttachVolume[{original_id}]",
                         provides=f"attached_volume:{original_id}", **kwargs)
        self.original_id = original_id

    def execute(self, conn, active_server_id, volume_plan):
        plan = next(v for v in volume_plan
                    if v["original"] == self.original_id)
        attrs = {"device": plan["device"]} if plan["device"] else {}
        conn.compute.create_volume_attachment(
            _server_ref(active_server_id), volume=plan["new"], **attrs)
        return plan["new"]

    def revert(self, ctx, conn, active_server_id, result, **kwargs):
        """Detach and wait ``available``; the volume plugin's own revert
        deletes the volume."""
        if not isinstance(result, str):
            return
        try:
            conn.compute.delete_volume_attachment(
                _server_ref(active_server_id), result, ignore_missing=False)
        except sdk_exceptions.NotFoundException:
            pass
        ctx.wait_for_status(lambda: conn.block_storage.get_volume(result),
                            "available", what=f"volume {result} detach",
                            failures=VOLUME_FAILURES)


class WaitVolumeInUse(task.Task):
    """Bounded wait for ``in-use``; a volume back to ``available`` after
    the attach began means Nova gave up (its fault is reported)."""

    def __init__(self, original_id, **kwargs):
        super().__init__(
            name=f"WaitVolumeInUse[{original_id}]",
            rebind={"volume_id": f"attached_volume:{original_id}"}, **kwargs)

    def execute(self, ctx, conn, active_server_id, volume_id):
        began = [False]

        def fetch():
            volume = conn.block_storage.get_volume(volume_id)
            if volume.status != "available":
                began[0] = True
                return volume
            if began[0]:
                return _probe("failed", "the attach was rolled back: "
                              f"{_server_fault(conn, active_server_id)}")
            return volume
        ctx.wait_for_status(fetch, "in-use", what=f"volume {volume_id}",
                            failures=("failed",) + VOLUME_FAILURES)


# -- delete and verify --------------------------------------------------------
class DeleteRootDiskData(task.Task):
    """Delete the root-disk objects (checkpoint delete removes the rest)."""

    def execute(self, ctx, bank):
        count = image_data.delete_image_data(bank)
        ctx.progress.step("delete", f"{count} data objects deleted")


class CheckServerMetadata(task.Task):
    REQUIRED = ("server", "flavor", "boot", "ports", "attachments",
                "networks")

    def execute(self, resource, metadata):
        if not metadata:
            raise exceptions.StackvaultError(
                f"server {resource.id}: metadata.json is missing")
        _saved(metadata, resource)
        missing = [k for k in self.REQUIRED if k not in metadata]
        if missing:
            raise exceptions.StackvaultError(
                f"server {resource.id}: metadata.json lacks "
                f"{', '.join(missing)}")
        boot = metadata["boot"]
        if boot.get("source") == "volume" and not any(
                a["volume_id"] == boot.get("volume_id") and a["boot"]
                for a in metadata["attachments"]):
            raise exceptions.StackvaultError(
                f"server {resource.id}: the boot volume "
                f"{boot.get('volume_id')} is not among its attachments")


class VerifyRootDisk(task.Task):
    """Recompute every root-disk object's sha256 and the whole disk's."""

    def execute(self, ctx, bank, metadata):
        image_data.verify_image_data(ctx, bank, _root_disk(metadata)["data"],
                                     _root_snapshot_id(metadata))


# -- the plugin ---------------------------------------------------------------
class ServerPlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "snapshot_root_disk": {
                "type": "boolean",
                "description": "also save the root disk of an image-booted "
                               "server (Nova createImage, streamed into "
                               "the bank); restore boots from it"},
        },
    }
    _id_map = {"type": "object",
               "additionalProperties": {"type": "string", "minLength": 1}}
    restore_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "restore_name": {"type": "string", "minLength": 1,
                             "maxLength": 255},
            "flavor_mapping": _id_map,
            "availability_zone_mapping": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "original AZ -> AZ here (\"\": let Nova "
                               "choose)"},
            "network_mapping": _id_map,
            "security_group_mapping": _id_map,
            "image_mapping": _id_map,
            "keep_fixed_ips": {"type": "boolean"},
            "key_name": {"type": "string", "maxLength": 255,
                         "description": "key pair of the new server "
                                        "(\"\": none); default: the "
                                        "original's"},
        },
    }

    def _object_size(self):
        """``[image_data] object_size_mib`` (framework option)."""
        return image_data.object_size(self.conf)

    # -- discovery ------------------------------------------------------------
    @staticmethod
    def _resource(server):
        return Resource(RESOURCE_TYPE, server.id, server.name or "",
                        {"status": server.status})

    def list_resources(self, conn):
        return [self._resource(s) for s in conn.compute.servers()]

    def show_resource(self, conn, resource_id):
        try:
            return self._resource(conn.compute.get_server(resource_id))
        except sdk_exceptions.NotFoundException:
            raise exceptions.ResourceNotFound(
                f"{RESOURCE_TYPE} {resource_id} not found") from None

    def dependencies(self, conn, resource):
        """Volumes, the project's own boot image, the project's own
        (internal) networks; built as those types' plugins show them."""
        info = describe_server(conn, resource.id)
        children = []
        for attachment in info["attachments"]:
            extra = {"size": attachment["size"]}
            if attachment["boot"]:
                extra["boot"] = True
            children.append(Resource(VOLUME_TYPE, attachment["volume_id"],
                                     attachment["name"], extra))
        image = info["image"]
        if image and image["owned"]:
            children.append(Resource(IMAGE_TYPE, image["id"], image["name"], {
                key: image[key] for key in ("status", "size", "disk_format",
                                            "kernel_id", "ramdisk_id")}))
        for network in info["networks"].values():
            if is_child_network(network):
                children.append(Resource(NETWORK_TYPE, network["id"],
                                         network["name"],
                                         {"subnets": network["subnets"]}))
        return children

    # -- flows ----------------------------------------------------------------
    def protect_flow(self, ctx, resource):
        return linear_flow.Flow("protect").add(
            DescribeServer(),
            CreateRootDiskSnapshot(),
            WaitRootDiskSnapshot(),
            SaveRootDiskData(self._object_size()),
            DeleteRootDiskSnapshot(),
            SaveServerMetadata(),
        )

    def restore_flow(self, ctx, resource):
        """One graph; the edges come from the data each task needs, plus
        explicit links where only the order matters (noted below)."""
        metadata = ctx.metadata
        flow = graph_flow.Flow("restore")
        resolve = [ResolveFlavor(), ResolveServerAttributes(),
                   ResolveVolumes(), ResolvePorts()]
        create = CreateServer()
        wait = WaitServerActive()
        flow.add(*resolve, create, wait)
        if _root_disk(metadata):
            root = [CreateRootDiskImage(), UploadRootDisk(),
                    WaitRootDiskImage()]
            flow.add(*root)
            flow.link(root[0], root[1])
            flow.link(root[1], root[2])
            starts = [root[0], create]
        else:
            boot = ResolveBootSource()
            flow.add(boot)
            resolve.append(boot)
            starts = [create]
        # Nothing is created before every mapping is resolved.
        for first in starts:
            for task_ in resolve:
                flow.link(task_, first)

        previous = wait
        for port in metadata.get("ports", []):
            original = port["id"]
            create_port = CreatePort(original)
            attach = AttachPort(original)
            attached = WaitPortAttached(original)
            flow.add(create_port, attach, attached)
            flow.link(wait, create_port)      # ports after ACTIVE
            flow.link(previous, attach)       # NICs in the original order
            previous = attached
            for floating in port.get("floating_ips", []):
                flow.add(AssociateFloatingIP(original, floating["id"]))

        previous = wait
        for attachment in metadata.get("attachments", []):
            if attachment["boot"]:
                continue
            attach = AttachVolume(attachment["volume_id"])
            in_use = WaitVolumeInUse(attachment["volume_id"])
            flow.add(attach, in_use)
            flow.link(previous, attach)       # devices in the original order
            previous = in_use
        return flow

    def delete_flow(self, ctx, resource):
        if _root_disk(ctx.metadata):
            return DeleteRootDiskData()
        return None

    def verify_flow(self, ctx, resource):
        flow = linear_flow.Flow("verify").add(CheckServerMetadata())
        if _root_disk(ctx.metadata):
            flow.add(VerifyRootDisk())
        return flow
