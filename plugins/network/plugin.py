"""The network plugin: discovery and the flows (see the package doc)."""

from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow

from plugins.network import common
from plugins.network import metadata as network_metadata
from plugins.network import networks
from plugins.network import preflight
from plugins.network import protect
from plugins.network import routers
from plugins.network import routes
from plugins.network import security_groups
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource


def _chain(metadata):
    """The network's own objects, as one chain.

    TaskFlow may revert a task while another task that does not follow it
    still runs, and Neutron refuses (409) to allocate an address on a
    network one of whose subnets is being deleted: in a chain, whatever
    still runs follows everything a rollback could delete underneath it.
    """
    chain = linear_flow.Flow("network-subnets-routers")
    chain.add(networks.CreateNetwork())
    subnets = {s["id"]: s for s in metadata["subnets"]}
    for subnet in metadata["subnets"]:
        chain.add(networks.CreateSubnet(subnet))
    for router in metadata["routers"]:
        chain.add(routers.EnsureRouter(router))
        for interface in router["interfaces"]:
            by_port = routers.interface_by_port(interface, subnets)
            if by_port:
                chain.add(routers.CreateInterfacePort(router["id"],
                                                      interface))
            chain.add(routers.AddRouterInterface(router["id"], interface,
                                                 by_port))
        chain.add(routes.AddRouterRoutes(router, metadata["subnets"]))
    return chain


def _security_groups(metadata, flow):
    """Each saved group's tasks (they touch nothing of the network)."""
    saved_groups = {g["id"] for g in metadata["security_groups"]}
    for group in metadata["security_groups"]:
        remotes = {r["remote_group_id"] for r in group["rules"]
                   if r.get("remote_group_id") in saved_groups}
        remotes.discard(group["id"])
        flow.add(security_groups.EnsureSecurityGroup(group),
                 security_groups.RemoveAutoAddedRules(group),
                 security_groups.CreateSecurityGroupRules(group, remotes))
    return flow


class NetworkPlugin(ProtectionPlugin):
    resource_type = common.RESOURCE_TYPE
    metadata_schema = network_metadata.METADATA_SCHEMA
    quota_demands = {"network.networks": "networks",
                     "network.subnets": "subnets",
                     "network.routers": "routers", "network.ports": "ports",
                     "network.security_groups": "security groups"}

    restore_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name_prefix": {
                "type": "string", "maxLength": 64,
                "description": "put before the name of every network, "
                               "subnet, router and security group created"},
            "external_network_mapping": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "original external network id -> external "
                               "network (id or name) of the target cloud "
                               "for router gateways"},
        },
    }

    @staticmethod
    def _resource(network):
        return Resource(common.RESOURCE_TYPE, network.id, network.name or "",
                        {"subnets": len(network.subnet_ids or [])})

    def list_resources(self, conn):
        networks = conn.network.networks(project_id=conn.current_project_id)
        return [self._resource(n) for n in networks
                if common.referenced_only(conn, n) is None]

    def show_resource(self, conn, resource_id):
        return self._resource(common.own_network(conn, resource_id))

    def dependencies(self, conn, resource):
        return []       # subnets, routers and groups are part of it

    def protect_flow(self, ctx, resource):
        return graph_flow.Flow("protect-network").add(
            protect.DescribeNetwork(),
            protect.DescribeSubnets(),
            protect.ListNetworkPorts(),
            protect.DescribeRouters(),
            protect.DescribeSecurityGroups(),
            protect.SaveNetworkMetadata(),
        )

    def restore_flow(self, ctx, resource):
        # The framework has checked the metadata against metadata_schema.
        problems = network_metadata.consistency_problems(ctx.metadata)
        if problems:
            return network_metadata.UnreadableMetadata(
                f"network {resource.id}: cannot restore from this "
                f"checkpoint: {'; '.join(problems)}")
        flow = graph_flow.Flow("restore-network").add(_chain(ctx.metadata))
        # Security groups run in parallel with the chain.
        return _security_groups(ctx.metadata, flow)

    def restore_preflight(self, ctx, resource):
        return preflight.restore_preflight(ctx, resource)

    def delete_flow(self, ctx, resource):
        return None     # nothing was stored outside the bank

    def verify_flow(self, ctx, resource):
        return linear_flow.Flow("verify-network").add(
            network_metadata.CheckNetworkMetadata())
