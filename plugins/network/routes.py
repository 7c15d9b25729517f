"""Restore: a router's static routes, once its interfaces exist."""

import threading

from openstack import exceptions as sdk_exceptions
from taskflow import task

from plugins.network import common

# Routes on a router of a cloud without ``extraroute-atomic`` are replaced
# as a whole: two network flows adding routes to one shared router must not
# interleave their read-modify-write.
_ROUTES_LOCK = threading.Lock()


def _gateway_cidrs(conn, router_id):
    router = conn.network.get_router(router_id)
    gateway = router.external_gateway_info or {}
    cidrs = []
    for ip in gateway.get("external_fixed_ips") or []:
        try:
            cidrs.append(conn.network.get_subnet(ip["subnet_id"]).cidr)
        except sdk_exceptions.NotFoundException:
            continue
    return cidrs


def _change_routes(conn, router_id, routes, add):
    """Add (or remove) ``routes``: atomically where the cloud can, else by
    rewriting the router's route list under a lock."""
    if common.has_extension(conn, "extraroute-atomic"):
        change = conn.network.add_extra_routes_to_router if add else \
            conn.network.remove_extra_routes_from_router
        change(router_id, {"router": {"routes": routes}})
        return
    with _ROUTES_LOCK:
        current = conn.network.get_router(router_id).routes or []
        if add:
            wanted = list(current) + [r for r in routes if r not in current]
        else:
            wanted = [r for r in current if r not in routes]
        conn.network.update_router(router_id, routes=wanted)


class AddRouterRoutes(task.Task):
    """The router's static routes, once its interfaces exist.

    This network's flow adds the routes whose next hop is on one of this
    network's subnets; the router's creator also adds those whose next
    hop is on the gateway's subnets. Another protected network's flow adds
    the routes through that network; a route through a network that is
    not restored is reported and skipped.
    """

    def __init__(self, router, subnets):
        interfaces = [common.interface_key(router["id"], i["port_id"])
                      for i in router["interfaces"]]
        super().__init__(name=f"AddRouterRoutes-{router['id']}",
                         rebind={"router": common.router_key(router["id"])},
                         requires=interfaces)
        self.saved = router
        self.cidrs = [s["cidr"] for s in subnets]

    def _split(self, conn, router):
        """(routes this flow adds, routes left to other flows)."""
        mine, others = [], []
        for route in self.saved["routes"]:
            if any(common.in_cidr(route["nexthop"], c) for c in self.cidrs):
                mine.append(route)
            else:
                others.append(route)
        if others and router["created"]:
            gateway = _gateway_cidrs(conn, router["id"])
            via_gateway = [r for r in others if any(
                common.in_cidr(r["nexthop"], c) for c in gateway)]
            others = [r for r in others if r not in via_gateway]
            mine += via_gateway
        return mine, others

    def execute(self, ctx, conn, router, **ready):
        mine, others = self._split(conn, router)
        for route in others:
            ctx.progress.step(
                "routes", f"route {route['destination']} via "
                f"{route['nexthop']} of router {self.saved['id']} is not "
                "through this network: left to the flow of its network")
        if not mine:
            return []
        _change_routes(conn, router["id"], mine, add=True)
        return mine

    def revert(self, conn, result, router, **kwargs):
        if not isinstance(result, list) or not result:
            return
        try:
            _change_routes(conn, router["id"], result, add=False)
        except sdk_exceptions.NotFoundException:
            pass        # the router is already gone
