"""The server's restore pre-flight: every mapping the restore would
resolve, resolved by the restore's own tasks (:mod:`plugins.server.
mappings`, which only read), with a verdict each; whether the fixed IPs
and MACs it would ask for are free; and the quota it would use.

What this restore creates first (volumes, the image, networks, their
subnets and security groups, the key pair) is a placeholder in
``ctx.restored`` (:mod:`protection.restore.preflight`) and shown as restored.
"""

from plugins.server import common
from plugins.server import mappings
from protection.plugin import checks
from protection.plugin import image_data

RESTORED = "restored from the checkpoint"


def _shown(value):
    return RESTORED if checks.is_placeholder(value) else value


def _flavor(items, ctx):
    flavor_id = checks.attempt(
        items, "flavor exists", lambda: mappings.ResolveFlavor().execute(
            ctx, ctx.conn, ctx.resource, ctx.metadata, ctx.parameters))
    if flavor_id is None:
        return
    flavor = ctx.conn.compute.get_flavor(flavor_id)
    saved = ctx.metadata["flavor"]
    items.append(checks.Mapping("flavor",
                                   saved.get("name") or saved.get("id"),
                                   f"{flavor.name} ({flavor.id})"))
    items += [checks.Demand("compute.instances", 1),
              checks.Demand("compute.cores", flavor.vcpus or 0),
              checks.Demand("compute.ram", flavor.ram or 0)]


def _attributes(items, ctx):
    saved = ctx.metadata["server"]
    parameters = dict(ctx.parameters)
    key = saved.get("key_name")
    new_key = ctx.restored.get(common.KEYPAIR_TYPE, key) if key else None
    if new_key and "key_name" not in parameters:
        parameters["key_name"] = ""     # the key pair's own restore makes it
    attrs = checks.attempt(
        items, "server attributes",
        lambda: mappings.ResolveServerAttributes().execute(
            ctx, ctx.conn, ctx.resource, ctx.metadata, parameters,
            ctx.restored, None),
        lambda found: "name, zone and key pair resolve")
    if attrs is None:
        return
    zone = saved.get("availability_zone")
    if attrs.get("key_name"):
        key_target = attrs["key_name"]
    elif new_key and "key_name" not in ctx.parameters:
        key_target = _shown(new_key)
    else:
        key_target = "(none)"
    items += [checks.Mapping("name", saved["name"], attrs["name"]),
              checks.Mapping("availability zone", zone,
                                attrs.get("availability_zone")
                                or "(Nova chooses)"),
              checks.Mapping("key pair", key, key_target)]


def _boot(items, ctx):
    metadata = ctx.metadata
    if common.root_disk(metadata):
        items.append(checks.Mapping(
            "image", common.root_snapshot_id(metadata),
            "new image of the root disk saved in the checkpoint"))
        items += image_data.quota_demands(common.root_disk(metadata)["data"])
        return
    boot = metadata["boot"]
    what = "boot volume" if boot["source"] == "volume" else "image"
    resolve = mappings.ResolveBootSource(boot)
    source = checks.attempt(
        items, f"{what} exists", lambda: resolve.execute(
            ctx.conn, ctx.resource, metadata, ctx.parameters, ctx.restored,
            None))
    if source is not None:
        original = boot.get("volume_id") or boot.get("image_id")
        target = source.get("volume_id") or source.get("image_id")
        items.append(checks.Mapping(what, original, _shown(target)))


def _volumes(items, ctx):
    for attachment in ctx.metadata["attachments"]:
        if attachment["boot"]:
            continue
        original = attachment["volume_id"]
        new_id = checks.attempt(
            items, "volumes", lambda o=original: mappings.restored_volume(
                ctx.conn, ctx.parameters, ctx.restored, o))
        if new_id is not None:
            items.append(checks.Mapping("volume", original,
                                           _shown(new_id)))


def _taken(conn, attrs):
    """The fixed IPs and the MAC of ``attrs`` already used on its
    network."""
    network = attrs["network_id"]
    taken = []
    for fixed in attrs.get("fixed_ips", []):
        address = fixed.get("ip_address")
        if address:
            taken += [f"{address} (port {p.id})" for p in conn.network.ports(
                network_id=network, fixed_ips=[f"ip_address={address}"])]
    mac = attrs.get("mac_address")
    if mac:
        taken += [f"MAC {mac} (port {p.id})" for p in conn.network.ports(
            network_id=network, mac_address=mac)]
    return taken


def _foreign(conn, attrs):
    """Whether the port's network belongs to another project (Neutron then
    refuses chosen addresses, and CreatePort falls back to new ones)."""
    network = conn.network.get_network(attrs["network_id"])
    return network.project_id != conn.current_project_id


def _addresses(items, ctx, plan):
    attrs = plan["attrs"]
    name = f"port {plan['original']}: fixed IPs and MAC free"
    if checks.is_placeholder(attrs["network_id"]):
        items.append(checks.Check(name, checks.PASS,
                                     "on a network this restore creates"))
        return
    taken = _taken(ctx.conn, attrs)
    if taken and plan["fallback"] is not None and _foreign(ctx.conn, attrs):
        items.append(checks.Check(
            name, checks.PASS, f"taken ({', '.join(taken)}), but network "
            f"{attrs['network_id']} is another project's: Neutron lets "
            "only its owner choose addresses, so new ones are allocated"))
        return
    items.append(checks.Check.of(
        name, not taken,
        f"taken on network {attrs['network_id']}: {', '.join(taken)}; "
        "set keep_fixed_ips=false or map the network elsewhere" if taken
        else f"free on network {attrs['network_id']}"))


def _ports(items, ctx):
    plans = checks.attempt(
        items, "networks and security groups",
        lambda: mappings.ResolvePorts().execute(
            ctx.conn, ctx.resource, ctx.metadata, ctx.parameters,
            ctx.restored))
    if plans is None:
        return
    items.append(checks.Demand("network.ports", len(plans)))
    saved = {p["id"]: p for p in ctx.metadata["ports"]}
    for original, plan in plans.items():
        attrs = plan["attrs"]
        items.append(checks.Mapping(
            "network", saved[original]["network_id"],
            _shown(attrs["network_id"])))
        for group, target in zip(saved[original]["security_group_ids"],
                                 attrs.get("security_group_ids", [])):
            items.append(checks.Mapping("security group", group,
                                           _shown(target)))
        _addresses(items, ctx, plan)
    allocated = sum(not _reusable(ctx.conn, fip) for plan in plans.values()
                    for fip in plan["floating_ips"])
    if allocated:
        items.append(checks.Demand("network.floating_ips", allocated))


def _reusable(conn, plan):
    """Whether restore re-associates a floating IP the project already
    holds (the saved address, free) instead of allocating one
    (restore.AssociateFloatingIP's choice)."""
    if checks.is_placeholder(plan["network_id"]):
        return False
    return common.free_floating_ip(conn, plan["address"],
                                   plan["network_id"]) is not None


def restore_preflight(ctx, resource):
    items = []
    for part in (_flavor, _attributes, _boot, _volumes, _ports):
        part(items, ctx)
    return items
