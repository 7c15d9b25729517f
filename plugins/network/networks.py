"""Restore: the new network and its subnets, the head of the chain.

Each is created with its creating atom's mark (``CreatingTask.mark_tag``)
as its description, so that a re-run after a crash finds it instead of
making a second one; the saved description replaces the mark once the id
is journaled (``finish``).
"""

from plugins.network import common
from protection.plugin import tasks


class CreateNetwork(tasks.CreatingTask):
    default_provides = "new_network_id"
    kind = "network"
    records = True

    def execute(self, ctx, conn, metadata, parameters):
        saved = metadata["network"]
        attrs = {"name": common.named(parameters, saved["name"]),
                 "description": self.mark_tag(ctx),
                 "is_admin_state_up": saved["admin_state_up"]}
        if saved.get("port_security_enabled") is not None:
            attrs["is_port_security_enabled"] = \
                saved["port_security_enabled"]
        if saved.get("dns_domain"):
            attrs["dns_domain"] = saved["dns_domain"]
        if saved.get("mtu") and common.has_extension(conn,
                                                     "net-mtu-writable"):
            attrs["mtu"] = saved["mtu"]
        return self.created(ctx, conn.network.create_network(**attrs).id)

    def fetch(self, conn, new_id):
        return conn.network.get_network(new_id)

    def find_marked(self, ctx, conn, marks):
        return tasks.first_id(conn.network.networks(
            description=self.mark_tag(ctx)))

    def finish(self, ctx, conn, new_id):
        conn.network.update_network(
            new_id, description=ctx.metadata["network"]["description"])

    def delete(self, conn, new_id):
        conn.network.delete_network(new_id, ignore_missing=True)


class CreateSubnet(tasks.CreatingTask):
    """One saved subnet on the new network."""

    kind = "subnet"
    records = common.SUBNET

    def __init__(self, subnet):
        super().__init__(name=f"CreateSubnet-{subnet['id']}",
                         provides=common.subnet_key(subnet["id"]))
        self.subnet = subnet

    def original_id(self, ctx):
        return self.subnet["id"]

    def execute(self, ctx, conn, parameters, new_network_id):
        saved = self.subnet
        attrs = {
            "network_id": new_network_id,
            "name": common.named(parameters, saved["name"]),
            "description": self.mark_tag(ctx),
            "cidr": saved["cidr"],
            "ip_version": saved["ip_version"],
            "allocation_pools": saved["allocation_pools"],
            # None is meaningful: a subnet without a gateway.
            "gateway_ip": saved["gateway_ip"],
            "dns_nameservers": saved["dns_nameservers"],
            "host_routes": saved["host_routes"],
            "is_dhcp_enabled": saved["enable_dhcp"],
        }
        for mode in ("ipv6_ra_mode", "ipv6_address_mode"):
            if saved.get(mode):
                attrs[mode] = saved[mode]
        return self.created(ctx, conn.network.create_subnet(**attrs).id)

    def fetch(self, conn, new_id):
        return conn.network.get_subnet(new_id)

    def find_marked(self, ctx, conn, marks):
        return tasks.first_id(conn.network.subnets(
            description=self.mark_tag(ctx)))

    def finish(self, ctx, conn, new_id):
        conn.network.update_subnet(new_id,
                                   description=self.subnet["description"])

    def delete(self, conn, new_id):
        conn.network.delete_subnet(new_id, ignore_missing=True)
