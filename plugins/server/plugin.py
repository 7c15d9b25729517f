"""The server plugin class: discovery, dependencies and the flows."""

from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow

from plugins.server import common
from plugins.server import description
from plugins.server import mappings
from plugins.server import preflight
from plugins.server import protect
from plugins.server import restore
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import fetch_or_not_found
from protection.plugin import image_data


class ServerPlugin(ProtectionPlugin):
    resource_type = common.RESOURCE_TYPE
    # After its volumes' protect, or only after the tasks they tag
    # before_parent (their temporary snapshots) and before those tagged
    # after_parent (their deletion): while it snapshots the root disk,
    # Nova refuses the assisted snapshots (NFS-like Cinder backends) of
    # the server's in-use volumes.
    protect_after_children = True
    # What restore_preflight demands (a root disk saved in the bank goes
    # back through a new image).
    quota_demands = {"compute.instances": "instances",
                     "compute.cores": "cores", "compute.ram": "RAM (MiB)",
                     "network.ports": "ports",
                     "network.floating_ips": "floating IPs",
                     **image_data.QUOTA_NAMES}

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "snapshot_root_disk": {
                "type": "boolean",
                "description": "save the root disk of an image-booted "
                               "server (Nova createImage, streamed into "
                               "the bank; restore boots from it). "
                               "Default true; false saves only the "
                               "description and boots from the image"},
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
            "volume_mapping": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "original volume id -> an existing "
                               "available volume (id or name) to attach "
                               "instead (for a volume left out with "
                               "--exclude)"},
            "keep_fixed_ips": {"type": "boolean"},
            "key_name": {"type": "string", "maxLength": 255,
                         "description": "key pair of the new server "
                                        "(\"\": none); default: the "
                                        "original's"},
        },
    }

    _obj = {"type": "object"}
    metadata_schema = {
        "type": "object",
        "required": ["format", "server", "flavor", "boot", "networks",
                     "ports", "attachments"],
        "properties": {
            "format": {"const": common.METADATA_FORMAT},
            "server": {"type": "object",
                       "required": ["name", "metadata"],
                       "properties": {
                           "name": {"type": "string"},
                           "key_name": {"type": ["string", "null"]},
                           "metadata": _obj,
                           "tags": {"type": "array"}}},
            "flavor": {"type": "object", "required": ["id"]},
            "boot": {"type": "object", "required": ["source"],
                     "properties": {"source": {"enum": ["image",
                                                        "volume"]}}},
            "image": {"type": ["object", "null"]},
            "networks": _obj,
            "ports": {"type": "array", "items": {
                "type": "object", "required": ["id", "network_id"]}},
            "attachments": {"type": "array", "items": {
                "type": "object", "required": ["volume_id", "boot"]}},
            "root_disk": {"oneOf": [
                {"type": "null"},
                {"type": "object",
                 "required": ["format", "image", "data", "snapshot_id"],
                 "properties": {
                     "format": {"const": common.ROOT_DISK_FORMAT},
                     "image": image_data.IMAGE_SCHEMA,
                     "data": image_data.DATA_SCHEMA,
                     "snapshot_id": {"type": "string"}}}]},
        },
    }

    def _object_size(self):
        """``[image_data] object_size_mib`` (framework option)."""
        return image_data.object_size(self.conf)

    # -- discovery ------------------------------------------------------------
    @staticmethod
    def _resource(server):
        return Resource(common.RESOURCE_TYPE, server.id, server.name or "",
                        {"status": server.status})

    def list_resources(self, conn):
        return [self._resource(s) for s in conn.compute.servers()]

    def show_resource(self, conn, resource_id):
        return self._resource(fetch_or_not_found(
            conn.compute.get_server, resource_id, common.RESOURCE_TYPE))

    def dependencies(self, conn, resource):
        """Volumes, the project's own boot image, the project's own
        (internal) networks and the server's key pair; built as those
        types' plugins show them."""
        info = description.describe_server(conn, resource.id)
        children = []
        for attachment in info["attachments"]:
            extra = {"size": attachment["size"]}
            if attachment["boot"]:
                extra["boot"] = True
            children.append(Resource(common.VOLUME_TYPE,
                                     attachment["volume_id"],
                                     attachment["name"], extra))
        image = info["image"]
        if image and image["owned"]:
            children.append(Resource(
                common.IMAGE_TYPE, image["id"], image["name"], {
                    key: image[key] for key in (
                        "status", "size", "disk_format", "kernel_id",
                        "ramdisk_id")}))
        for network in info["networks"].values():
            if description.is_child_network(network):
                children.append(Resource(common.NETWORK_TYPE, network["id"],
                                         network["name"],
                                         {"subnets": network["subnets"]}))
        key_name = info["server"].get("key_name")
        # Key pairs belong to a user: one the protecting user cannot see
        # (another user's server) is left to the restore's key_name.
        if key_name and common.find(conn.compute.find_keypair,
                                    key_name) is not None:
            children.append(Resource(common.KEYPAIR_TYPE, key_name,
                                     key_name))
        return children

    # -- flows ----------------------------------------------------------------
    def protect_flow(self, ctx, resource):
        return linear_flow.Flow("protect").add(
            protect.DescribeServer(),
            protect.CreateRootDiskSnapshot(),
            protect.WaitRootDiskSnapshot(),
            protect.SaveRootDiskData(self._object_size()),
            protect.DeleteRootDiskSnapshot(),
            protect.SaveServerMetadata(),
        )

    def restore_flow(self, ctx, resource):
        """One graph; the edges come from the data each task needs, plus
        explicit links where only the order matters (noted below).

        Pipelined: each task names the children it needs
        (``restored_child``), so the server is created once its boot
        source, key pair and its ports' networks are restored, while its
        data volumes still are; each attachment waits for its own volume.
        """
        metadata = ctx.metadata
        flow = graph_flow.Flow("restore")
        resolve = [mappings.ResolveFlavor(),
                   mappings.ResolveServerAttributes(
                       metadata["server"].get("key_name")),
                   mappings.ResolvePorts(
                       p["network_id"] for p in metadata.get("ports", []))]
        create = restore.CreateServer()
        wait = restore.WaitServerActive()
        flow.add(*resolve, create, wait)
        if common.root_disk(metadata):
            starts = [_add_root_disk(flow), create]
        else:
            boot = mappings.ResolveBootSource(metadata["boot"])
            flow.add(boot)
            resolve.append(boot)
            starts = [create]
        starts += _add_ports(flow, wait, metadata.get("ports", []))
        # Nothing is created before every mapping is resolved.
        for first in starts:
            for task_ in resolve:
                flow.link(task_, first)
        _add_volumes(flow, wait, metadata.get("attachments", []))
        return flow

    def restore_preflight(self, ctx, resource):
        return preflight.restore_preflight(ctx, resource)

    def delete_flow(self, ctx, resource):
        if common.root_disk(ctx.metadata):
            return protect.DeleteRootDiskData()
        return None

    def verify_flow(self, ctx, resource):
        flow = linear_flow.Flow("verify").add(protect.CheckServerMetadata())
        if common.root_disk(ctx.metadata):
            flow.add(protect.VerifyRootDisk())
        return flow


def _add_root_disk(flow):
    """The root-disk image's tasks, in order; return the first."""
    root = [restore.CreateRootDiskImage(), restore.UploadRootDisk(),
            restore.WaitRootDiskImage()]
    flow.add(*root)
    flow.link(root[0], root[1])
    flow.link(root[1], root[2])
    return root[0]


def _add_ports(flow, wait, ports):
    """Every port (and its floating IPs); created while the server boots,
    attached once it is ACTIVE. Returns the creating tasks."""
    previous, creates = wait, []
    for port in ports:
        original = port["id"]
        create_port = restore.CreatePort(original)
        attach = restore.AttachPort(original)
        attached = restore.WaitPortAttached(original)
        flow.add(create_port, attach, attached)
        flow.link(previous, attach)       # NICs in the original order
        previous = attached
        creates.append(create_port)
        for floating in port.get("floating_ips", []):
            flow.add(restore.AssociateFloatingIP(original, floating["id"]))
    return creates


def _add_volumes(flow, wait, attachments):
    """Every non-boot volume, once it is restored and the server ACTIVE;
    each attach request after the previous one (Nova assigns devices in
    request order), each waited for ``in-use`` on its own."""
    previous = wait
    for attachment in attachments:
        if attachment["boot"]:
            continue
        attach = restore.AttachVolume(attachment["volume_id"])
        in_use = restore.WaitVolumeInUse(attachment["volume_id"])
        flow.add(attach, in_use)
        flow.link(previous, attach)       # devices in the original order
        previous = attach
