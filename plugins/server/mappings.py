"""Restore's first step: where each saved thing is in this cloud.

Tasks without side effects that resolve the flavor, the server's
attributes (availability zone, key pair...), the boot source, the restored
volumes and, for every port, its network, subnets, security groups and the
external network of its floating IPs. Nothing is created before all of
them succeed; a mapping that names nothing fails with the candidates.
"""

from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils
from taskflow import task

from plugins.server import common
from plugins.server import description
from protection import exceptions
from protection.plugin import restored_child

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
    text = "; ".join(f"{f.name} ({_flavor_text(description.flavor_spec(f))})"
                     for f in flavors[:limit])
    if len(flavors) > limit:
        text += f"; and {len(flavors) - limit} more"
    return text or "none"


class ResolveFlavor(task.Task):
    """``flavor_mapping`` (by original id or name), else the same id, else
    the flavor with the same spec (the same name first)."""

    default_provides = "flavor_id"

    def execute(self, ctx, conn, resource, metadata, parameters):
        saved = metadata["flavor"]
        mapping = parameters.get("flavor_mapping") or {}
        for key in (saved.get("id"), saved.get("name")):
            if key and key in mapping:
                target = mapping[key]
                found = common.find(conn.compute.find_flavor, target)
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
        matches = [f for f in conn.compute.flavors()
                   if description.same_spec(f, saved)]
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
    """Name, zone, key pair, metadata, tags; checks the compute API.

    Waits for the key pair ``key_name`` when it is a restored child.
    """

    default_provides = "server_attrs"

    def __init__(self, key_name=None, **kwargs):
        if key_name:
            kwargs["rebind"] = {"keypair": restored_child(common.KEYPAIR_TYPE,
                                                          key_name)}
        else:
            kwargs["inject"] = {"keypair": None}
        super().__init__(**kwargs)

    def execute(self, ctx, conn, resource, metadata, parameters, restored,
                keypair):
        saved = metadata["server"]
        if not sdk_utils.supports_microversion(conn.compute,
                                               common.NO_NETWORK_AT_BOOT):
            raise exceptions.StackvaultError(
                "this cloud's Nova cannot create a server without a network "
                f"(needs compute API {common.NO_NETWORK_AT_BOOT})")
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
        key_name = saved.get("key_name")
        if key_name:       # restored (maybe renamed) as a child
            key_name = keypair or restored.get(common.KEYPAIR_TYPE, key_name,
                                               key_name)
        key_name = parameters.get("key_name", key_name)
        if key_name:
            if common.find(conn.compute.find_keypair, key_name) is None:
                raise exceptions.StackvaultError(
                    f"key pair {key_name!r} does not exist for this user: "
                    "import it, or set key_name (\"\" for none)")
            attrs["key_name"] = key_name
        tags = list(saved.get("tags") or [])
        if tags:
            if sdk_utils.supports_microversion(conn.compute,
                                               common.TAGS_AT_BOOT):
                attrs["tags"] = tags
            else:
                ctx.progress.step(
                    "tags", "tags not restored: this cloud's Nova needs "
                    f"compute API {common.TAGS_AT_BOOT}")
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
    restored image, else the same id if it exists here.

    Waits for the boot volume or image when it is a restored child.
    """

    default_provides = "boot_source"

    def __init__(self, boot, **kwargs):
        rtype, original = ((common.VOLUME_TYPE, boot["volume_id"])
                           if boot["source"] == "volume"
                           else (common.IMAGE_TYPE, boot["image_id"]))
        super().__init__(rebind={"boot_child": restored_child(rtype,
                                                              original)},
                         **kwargs)

    def execute(self, conn, resource, metadata, parameters, restored,
                boot_child):
        saved = metadata
        boot = saved["boot"]
        if boot["source"] == "volume":
            return {"volume_id": boot_child or restored_volume(
                conn, parameters, restored, boot["volume_id"])}
        image_id = boot["image_id"]
        image = saved.get("image") or {"id": image_id, "name": ""}
        mapped = (parameters.get("image_mapping") or {}).get(image_id)
        if mapped:
            return {"image_id": _existing_image(conn, mapped,
                                                "image_mapping maps "
                                                f"{image_id!r} to")}
        new_id = boot_child or restored.get(common.IMAGE_TYPE, image_id)
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


def restored_volume(conn, parameters, restored, original):
    """The volume that stands for ``original`` here: the one
    ``volume_mapping`` names (an existing, available volume: for a volume
    left out with ``--exclude``), else the restored one."""
    mapped = (parameters.get("volume_mapping") or {}).get(original)
    if mapped:
        found = common.find(conn.block_storage.find_volume, mapped)
        if found is None:
            raise exceptions.StackvaultError(
                f"volume_mapping maps volume {original} to {mapped!r}, "
                "which is no volume here")
        if found.status != "available":
            raise exceptions.StackvaultError(
                f"volume_mapping maps volume {original} to {found.id}, "
                f"which is {found.status!r}, not 'available'")
        return found.id
    new_id = restored.get(common.VOLUME_TYPE, original)
    if new_id is None:
        raise exceptions.StackvaultError(
            f"volume {original} is not restored (left out of this "
            "restore?): map it to an existing volume with volume_mapping "
            f"{{\"{original}\": \"<volume>\"}}")
    return new_id


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
            found = common.find(self.conn.network.find_network, target)
            if found is None:
                raise exceptions.StackvaultError(
                    f"network_mapping maps {label} to {target!r}, which is "
                    "no network here")
            return found.id, "mapped"
        new_id = self.restored.get(common.NETWORK_TYPE, network_id)
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
            found = common.find(self.conn.network.find_security_group,
                                target,
                                project_id=self.conn.current_project_id)
            if found is None:
                raise exceptions.StackvaultError(
                    f"security_group_mapping maps {label} to {target!r}, "
                    "which is no security group here")
            return found.id
        new_id = self.restored.get(common.SECURITY_GROUP_TYPE, group_id)
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
            subnet_id = restored.get(common.SUBNET_TYPE, fixed["subnet_id"])
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
    floating IPs' external network.

    Waits for the networks of the ports that are restored children (the
    new ids are read from ``restored``, with the subnets and groups).
    """

    default_provides = "port_plans"

    def __init__(self, network_ids=(), **kwargs):
        super().__init__(requires=[
            restored_child(common.NETWORK_TYPE, network_id)
            for network_id in sorted(set(network_ids))], **kwargs)

    def execute(self, conn, resource, metadata, parameters, restored,
                **networks):
        saved = metadata
        targets = _Targets(conn, parameters, restored, saved["networks"])
        keep = parameters.get("keep_fixed_ips", True)
        return {port["id"]: plan_port(port, targets, keep, restored)
                for port in saved["ports"]}
