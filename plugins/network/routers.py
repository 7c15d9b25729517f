"""Restore: the routers and their interfaces on the new subnets.

A router two protected networks share is created once per restore
(``tasks.create_shared``: marked and journaled under the router's own key);
the revert that finds it journaled deletes it, after removing whatever is
still on it.
"""

from openstack import exceptions as sdk_exceptions
from taskflow import task

from plugins.network import common
from protection import exceptions
from protection.plugin import tasks
from protection.plugin import wait


def dismantle_router(ctx, conn, router_id):
    """Delete a router whatever is still on it: another network's flow may
    have added interfaces or routes that its own revert has not removed
    yet. Routes go first (Neutron keeps an interface a route needs), then
    every interface, then the gateway, then the router."""
    try:
        router = conn.network.get_router(router_id)
    except sdk_exceptions.NotFoundException:
        return
    if router.routes:
        conn.network.update_router(router_id, routes=[])
    for port in conn.network.ports(device_id=router_id):
        if port.device_owner not in common.ROUTER_INTERFACE_OWNERS:
            continue
        try:
            conn.network.remove_interface_from_router(router_id,
                                                      port=port.id)
        except sdk_exceptions.NotFoundException:
            pass
    if router.external_gateway_info:
        conn.network.update_router(router_id, external_gateway_info=None)
    wait.delete_when_settled(
        lambda: conn.network.get_router(router_id),
        lambda: conn.network.delete_router(router_id, ignore_missing=True),
        what=f"router {router_id}", timeouts=ctx.timeouts)


def gateway_info(conn, parameters, router):
    """The external gateway of the new router: on the mapped network, or
    on the original one when it exists in the target cloud."""
    saved = router["external_gateway"]
    original = saved["network_id"]
    mapping = parameters.get("external_network_mapping") or {}
    target = mapping.get(original, original)
    try:
        network = conn.network.find_network(target, ignore_missing=False)
    except sdk_exceptions.NotFoundException:
        network = None
    if network is None:
        if original in mapping:
            raise exceptions.StackvaultError(
                f"external_network_mapping maps {original} to {target}, "
                f"which does not exist in the target cloud (gateway of "
                f"router {router['id']})")
        raise exceptions.StackvaultError(
            f"the external gateway network {original} of router "
            f"{router['id']} does not exist in the target cloud: map it "
            f"with external_network_mapping "
            f"{{\"{original}\": \"<network id>\"}}")
    info = {"network_id": network.id}
    if saved.get("enable_snat") is False:
        # Neutron's policy lets only admins set it: pass it only when the
        # original differed from the default.
        info["enable_snat"] = False
    return info


class EnsureRouter(task.Task):
    """Create a saved router (with its gateway) once per restore.

    It waits for the new subnets it will connect to: a restore whose
    subnets cannot be made takes no address on the external network, and
    the order is the documented one (network, subnets, routers).
    Provides ``{"id": new id, "created": ...}``; only the creator deletes
    it on revert, after removing whatever is still on it.
    """

    def __init__(self, router):
        subnet_ids = sorted({ip["subnet_id"] for i in router["interfaces"]
                             for ip in i["fixed_ips"]})
        super().__init__(name=f"EnsureRouter-{router['id']}",
                         provides=common.router_key(router["id"]),
                         requires=[common.subnet_key(s) for s in subnet_ids])
        self.router = router

    def execute(self, ctx, conn, parameters, **ready):
        saved = self.router

        def create(mark):
            attrs = {"name": common.named(parameters, saved["name"]),
                     "description": mark,
                     "is_admin_state_up": saved["admin_state_up"]}
            if saved.get("external_gateway"):
                attrs["external_gateway_info"] = gateway_info(
                    conn, parameters, saved)
            return conn.network.create_router(**attrs).id
        new_id, created = tasks.create_shared(
            ctx, self.name, common.ROUTER, saved["id"], create,
            lambda found: tasks.exists(conn.network.get_router, found),
            lambda mark: _marked_router(conn, mark),
            lambda found: conn.network.update_router(
                found, description=saved["description"]))
        return {"id": new_id, "created": created}

    def unmark(self, ctx, conn):
        """The restore's last stage: the saved description replaces the
        mark (on the router this atom created)."""
        tasks.unmark_shared(
            ctx, self.name, common.ROUTER, self.router["id"], "router",
            conn.network.get_router,
            lambda found: conn.network.update_router(
                found, description=self.router["description"]))

    def revert(self, ctx, conn, result, **kwargs):
        router_id = tasks.shared_to_undo(
            ctx, self.name, common.ROUTER, self.router["id"], result,
            lambda mark: _marked_router(conn, mark))
        if router_id is None:
            return
        # Proven before anything is taken off it: the id may come from
        # storage (an abort), and a router is dismantled, not just deleted.
        if tasks.shared_proven(ctx, conn.network.get_router, "router",
                               common.ROUTER, self.router["id"],
                               router_id) is not None:
            dismantle_router(ctx, conn, router_id)
        tasks.forget_shared(ctx, self.name, common.ROUTER, self.router["id"])


def _marked_router(conn, mark):
    return tasks.first_id(conn.network.routers(description=mark))


def interface_by_port(interface, subnets):
    """An interface needs a port of its own unless it holds exactly the
    gateway IP of its one subnet (then ``subnet_id`` does the same)."""
    ips = interface["fixed_ips"]
    if len(ips) != 1:
        return True
    subnet = subnets.get(ips[0]["subnet_id"])
    return subnet is None or subnet["gateway_ip"] != ips[0]["ip_address"]


class CreateInterfacePort(tasks.CreatingTask):
    """A port with the interface's original IPs on the new subnets."""

    kind = "port"

    def __init__(self, router_id, interface):
        subnet_ids = sorted({ip["subnet_id"]
                             for ip in interface["fixed_ips"]})
        super().__init__(
            name=f"CreateInterfacePort-{router_id}-{interface['port_id']}",
            provides=common.interface_port_key(router_id,
                                               interface["port_id"]),
            requires=[common.subnet_key(s) for s in subnet_ids])
        self.interface = interface

    def execute(self, ctx, conn, new_network_id, **ready):
        fixed_ips = [{"subnet_id": ready[common.subnet_key(ip["subnet_id"])],
                      "ip_address": ip["ip_address"]}
                     for ip in self.interface["fixed_ips"]]
        port = conn.network.create_port(network_id=new_network_id,
                                        fixed_ips=fixed_ips,
                                        description=self.mark_tag(ctx))
        return self.created(ctx, port.id)

    def fetch(self, conn, new_id):
        return conn.network.get_port(new_id)

    def find_marked(self, ctx, conn, marks):
        return tasks.first_id(conn.network.ports(
            description=self.mark_tag(ctx)))

    def finish(self, ctx, conn, new_id):
        conn.network.update_port(new_id, description="")

    def delete(self, conn, new_id):
        conn.network.delete_port(new_id, ignore_missing=True)


class AddRouterInterface(task.Task):
    """Attach the router to a new subnet (by port or by subnet).

    Run again after its process died between Neutron's answer and the
    saved result (a resumed or taken-over restore), Neutron refuses the
    second add ("Router already has a port on subnet", or the port is in
    use): the interface the first run made is then found on the router
    (by its port, or by its subnet) and is the result. The router and
    the subnet are this restore's own, so an interface there is its own.
    """

    def __init__(self, router_id, interface, by_port):
        port_id = interface["port_id"]
        rebind = {"router": common.router_key(router_id)}
        if by_port:
            rebind["port_id"] = common.interface_port_key(router_id, port_id)
        else:
            rebind["subnet_id"] = common.subnet_key(
                interface["fixed_ips"][0]["subnet_id"])
        super().__init__(name=f"AddRouterInterface-{router_id}-{port_id}",
                         provides=common.interface_key(router_id, port_id),
                         rebind=rebind)
        self.by_port = by_port
        self.router_id = router_id

    def execute(self, ctx, conn, router, port_id=None, subnet_id=None):
        where = {"port": port_id} if self.by_port else {"subnet": subnet_id}
        try:
            reply = conn.network.add_interface_to_router(router["id"],
                                                         **where)
        except (sdk_exceptions.BadRequestException,
                sdk_exceptions.ConflictException):
            found = self._existing(conn, router["id"], port_id, subnet_id)
            if found is None:
                raise
            return found
        return reply["port_id"]

    def _existing(self, conn, router_id, port_id, subnet_id):
        """The router's interface on this port or subnet, if it has one."""
        for port in conn.network.ports(device_id=router_id):
            if port.device_owner not in common.ROUTER_INTERFACE_OWNERS:
                continue
            if port.id == port_id or (not self.by_port and any(
                    ip["subnet_id"] == subnet_id for ip in port.fixed_ips)):
                return port.id
        return None

    def revert(self, ctx, conn, result, router, **kwargs):
        if not isinstance(result, str) or tasks.shared_proven(
                ctx, conn.network.get_router, "router", common.ROUTER,
                self.router_id, router["id"]) is None:
            return
        try:
            conn.network.remove_interface_from_router(router["id"],
                                                      port=result)
        except sdk_exceptions.NotFoundException:
            pass        # the router (or the interface) is already gone
