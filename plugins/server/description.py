"""What protect reads of a server: the ``describe_*`` functions.

Each returns a JSON-safe record; :func:`describe_server` is what
``metadata.json`` holds (with the root disk, when saved) and what
``dependencies`` derives the children from.
"""

from concurrent import futures

from openstack import exceptions as sdk_exceptions

from plugins.server import common
from protection import exceptions

# describe_server's parts read at once (attachments, ports, flavor, image).
DESCRIBE_WORKERS = 4


def _device_key(device):
    """Sort ``/dev/vdb`` before ``/dev/vdaa``."""
    device = device or ""
    return (len(device), device)


def _image_id(server):
    """The image a server booted from; None for a volume-booted server
    (Nova shows ``image: ""`` for those)."""
    image = server.image
    if isinstance(image, dict):
        return image.get("id") or None
    return getattr(image, "id", None) or None


def flavor_spec(flavor):
    spec = {key: int(getattr(flavor, key, 0) or 0)
            for key in common.FLAVOR_SPEC}
    spec["extra_specs"] = dict(getattr(flavor, "extra_specs", None) or {})
    return spec


def same_spec(flavor, saved):
    """Same numbers, and the same extra specs when the saved flavor had any
    visible."""
    spec = flavor_spec(flavor)
    if any(spec[key] != saved.get(key, 0) for key in common.FLAVOR_SPEC):
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
        spec = flavor_spec(embedded)
        name = embedded.original_name
        found = common.find(conn.compute.find_flavor, name)
        flavor_id = found.id if found is not None and \
            same_spec(found, spec) else None
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
    return {"id": flavor.id, "name": flavor.name, **flavor_spec(flavor)}


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


def _networks_of(conn, ports):
    """Every network of the ports and of their floating IPs, described."""
    network_ids = []
    for port in ports:
        network_ids.append(port["network_id"])
        network_ids += [f["floating_network_id"]
                        for f in port["floating_ips"]]
    networks = {}
    for network_id in network_ids:
        if network_id not in networks:
            networks[network_id] = describe_network(conn, network_id)
    return networks


def _ports_and_networks(conn, server):
    ports = describe_ports(conn, server)
    return ports, _networks_of(conn, ports)


def describe_server(conn, server_id):
    """Everything restore needs to know about the server (JSON-safe).

    Its attachments, ports (with their networks), flavor and image are
    read at once: each is a few requests that mostly wait for the cloud.
    """
    server = conn.compute.get_server(server_id)
    image_id = _image_id(server)
    with futures.ThreadPoolExecutor(
            DESCRIBE_WORKERS,
            thread_name_prefix="stackvault-describe") as pool:
        attaching = pool.submit(describe_attachments, conn, server,
                                image_id)
        porting = pool.submit(_ports_and_networks, conn, server)
        flavoring = pool.submit(describe_flavor, conn, server)
        imaging = pool.submit(describe_image, conn, image_id) \
            if image_id else None
        attachments = attaching.result()
        ports, networks = porting.result()
        flavor = flavoring.result()
        image = imaging.result() if imaging is not None else None
    boot_volume = next((a["volume_id"] for a in attachments if a["boot"]),
                       None)
    if image_id is None and boot_volume is None:
        raise exceptions.StackvaultError(
            f"server {server.id} has neither an image nor a volume to boot "
            "from")
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
        "flavor": flavor,
        "boot": {"source": "image" if image_id else "volume",
                 "image_id": image_id, "volume_id": boot_volume},
        "image": image,
        "networks": networks,
        "ports": ports,
        "attachments": attachments,
    }
