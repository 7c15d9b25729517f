"""The network's restore pre-flight: the names it would give, the
external network of each router gateway, the default security group it
would map to, and the quota it would use. Only reads.

It announces what the restore would create (subnets, routers, security
groups) with placeholders, so that a server's pre-flight resolves its
ports' subnets and groups as the restore would.
"""

from plugins.network import common
from plugins.network import metadata as network_metadata
from plugins.network import routers
from plugins.network import security_groups
from protection.plugin import checks


def _router(items, ctx, router):
    if ctx.restored.get(common.ROUTER, router["id"]) is not None:
        return          # another network's restore makes it
    ctx.restored.record(common.ROUTER, router["id"],
                        checks.placeholder(common.ROUTER, router["id"]))
    items.append(checks.Mapping(
        "router name", router["name"],
        common.named(ctx.parameters, router["name"])))
    items.append(checks.Demand("network.routers", 1))
    items.append(checks.Demand("network.ports",
                                  len(router["interfaces"])))
    if router.get("external_gateway"):
        original = router["external_gateway"]["network_id"]
        found = checks.attempt(
            items, "external network exists",
            lambda: routers.gateway_info(ctx.conn, ctx.parameters, router),
            lambda info: f"router {router['id']}: gateway on "
                         f"{info['network_id']}")
        if found:
            items.append(checks.Mapping("external network", original,
                                           found["network_id"]))


def _group(items, ctx, group):
    if ctx.restored.get(common.SECURITY_GROUP, group["id"]) is not None:
        return
    if group["is_default"]:
        new_id = checks.attempt(
            items, "default security group",
            lambda: security_groups.default_group_id(ctx.conn),
            lambda found: f"the project's own: {found}")
        target = new_id
    else:
        target = checks.placeholder(common.SECURITY_GROUP, group["id"])
        items.append(checks.Demand("network.security_groups", 1))
        items.append(checks.Mapping(
            "security group name", group["name"],
            common.named(ctx.parameters, group["name"])))
    if target:
        ctx.restored.record(common.SECURITY_GROUP, group["id"], target)


def restore_preflight(ctx, resource):
    metadata = ctx.metadata
    problems = network_metadata.consistency_problems(metadata)
    if problems:
        return [checks.Check("checkpoint metadata", checks.FAIL,
                                "; ".join(problems))]
    saved = metadata["network"]
    items = [checks.Mapping("name", saved["name"],
                               common.named(ctx.parameters, saved["name"])),
             checks.Demand("network.networks", 1),
             checks.Demand("network.subnets", len(metadata["subnets"]))]
    for subnet in metadata["subnets"]:
        ctx.restored.record(common.SUBNET, subnet["id"],
                            checks.placeholder(common.SUBNET,
                                                  subnet["id"]))
    for router in metadata["routers"]:
        _router(items, ctx, router)
    for group in metadata["security_groups"]:
        _group(items, ctx, group)
    return items
