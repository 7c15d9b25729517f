"""The Neutron network plugin against a real cloud.

Each test builds a small network application (subnets, a router with a
gateway on the external network ``public``, security groups that name each
other as remote groups, a server port), protects it, deletes all of it,
restores it and reads the cloud's real state back: CIDRs, pools, gateway,
DNS servers, host routes, the router's gateway network and interface IPs,
and the security group rules (remote groups mapped to their copies).

Every object a test makes, and every object a restore makes, is listed in
``made`` as soon as its id is known; one cleanup registered before the
first create deletes them all (router interfaces and routes first).
"""

import ipaddress
import secrets
import uuid

import pytest
from openstack import exceptions as sdk_exceptions

from plugins.network import routers
from plugins.network import routes as router_routes
from protection import exceptions
from protection.model.resource import Resource
from tools.cloudkit import teardown
from tests.fullstack.service_fixtures import make_service
from tests.fakes.plugin_helpers import make_ctx

NETWORK = "OS::Neutron::Network"
SUBNET = "OS::Neutron::Subnet"
ROUTER = "OS::Neutron::Router"
GROUP = "OS::Neutron::SecurityGroup"
PORT = "OS::Neutron::Port"
EXTERNAL = "public"
INTERFACE_OWNERS = teardown.ROUTER_INTERFACE_OWNERS


@pytest.fixture
def service(tmp_path):
    return make_service(tmp_path / "bank")


@pytest.fixture
def made(conn, cleanup):
    """Ids to delete at teardown, whatever the test's outcome."""
    ids = {"routers": [], "ports": [], "networks": [], "groups": [],
           "restored": {}, "admin": None}
    cleanup(_teardown, conn, ids)
    return ids


@pytest.fixture
def public(conn):
    try:
        network = conn.network.find_network(EXTERNAL, ignore_missing=False)
    except sdk_exceptions.NotFoundException:
        network = None
    if network is None or not network.is_router_external:
        pytest.skip(f"the cloud has no external network {EXTERNAL!r}")
    return network


def _unique():
    return f"netfs-{secrets.token_hex(3)}-"


def _cidr_base():
    """A random 10.X.0.0/16 to carve subnets from (other tests and other
    people's resources may use the usual ones)."""
    return f"10.{secrets.randbelow(150) + 100}"


# -- teardown -----------------------------------------------------------------
_MADE_TYPES = {"routers": ROUTER, "ports": PORT, "networks": NETWORK,
               "groups": GROUP}


def _teardown(conn, ids):
    """Everything listed in ``made``, restored copies included."""
    resources = {rtype: list(ids[key]) for key, rtype in _MADE_TYPES.items()}
    for key, new_id in ids["restored"].items():
        resources.setdefault(key.partition("#")[0], []).append(new_id)
    teardown.delete_resources(conn, resources, admin_conn=ids["admin"])


def _default_group_id(conn):
    [group] = list(conn.network.security_groups(
        name="default", project_id=conn.current_project_id))
    return group.id


def _leftovers(conn, prefix):
    """Anything of this project whose name starts with ``prefix``."""
    project = conn.current_project_id
    found = {}
    for kind, listing in (("networks", conn.network.networks),
                          ("subnets", conn.network.subnets),
                          ("routers", conn.network.routers),
                          ("groups", conn.network.security_groups)):
        found[kind] = [o.id for o in listing(project_id=project)
                       if (o.name or "").startswith(prefix)]
    return found


# -- building an application --------------------------------------------------
def _make_groups(conn, made, prefix):
    """``web`` (only the rules below: the egress rules Neutron adds are
    removed) and ``db`` (Neutron's egress rules kept), each naming the
    other as a remote group; ``web`` also names itself."""
    web = conn.network.create_security_group(name=f"{prefix}web",
                                             description="web tier")
    made["groups"].append(web.id)
    db = conn.network.create_security_group(name=f"{prefix}db")
    made["groups"].append(db.id)
    for rule in list(conn.network.security_group_rules(
            security_group_id=web.id)):
        conn.network.delete_security_group_rule(rule)
    # Neutron takes one group's rules per bulk request.
    conn.network.create_security_group_rules([
        {"security_group_id": web.id, "direction": "ingress",
         "ether_type": "IPv4", "protocol": "tcp", "port_range_min": 80,
         "port_range_max": 80, "remote_group_id": web.id},
        {"security_group_id": web.id, "direction": "ingress",
         "ether_type": "IPv4", "protocol": "tcp", "port_range_min": 22,
         "port_range_max": 22, "remote_group_id": db.id},
        {"security_group_id": web.id, "direction": "egress",
         "ether_type": "IPv4", "protocol": "tcp", "port_range_min": 443,
         "port_range_max": 443, "remote_ip_prefix": "0.0.0.0/0",
         "description": "https out"}])
    conn.network.create_security_group_rules([
        {"security_group_id": db.id, "direction": "ingress",
         "ether_type": "IPv4", "protocol": "tcp", "port_range_min": 5432,
         "port_range_max": 5432, "remote_group_id": web.id}])
    return web.id, db.id


def _make_network(conn, made, prefix, base, name="app", router=None,
                  groups=(), two_subnets=True, server_port=False):
    """A network with subnet ``a`` (pool, DNS, host route) and optionally
    ``b`` (no DHCP); an interface on ``a`` at its gateway IP and on ``b``
    at .9 through a port; a route through ``b`` (or ``a``); a port in
    ``groups`` (a server's, ``compute:nova``, with ``server_port``: only
    an admin may delete that one)."""
    net = conn.network.create_network(name=f"{prefix}{name}",
                                      description=f"{name} network")
    made["networks"].append(net.id)
    a = conn.network.create_subnet(
        network_id=net.id, name=f"{prefix}{name}-a", ip_version=4,
        cidr=f"{base}.0.0/24", gateway_ip=f"{base}.0.1",
        allocation_pools=[{"start": f"{base}.0.10",
                           "end": f"{base}.0.200"}],
        dns_nameservers=[f"{base}.0.53", "192.0.2.53"],
        host_routes=[{"destination": "198.51.100.0/24",
                      "nexthop": f"{base}.0.254"}])
    conn.network.add_interface_to_router(router, subnet=a.id)
    subnets = [a]
    nexthop = f"{base}.0.77"
    if two_subnets:
        b = conn.network.create_subnet(
            network_id=net.id, name=f"{prefix}{name}-b", ip_version=4,
            cidr=f"{base}.1.0/24", is_dhcp_enabled=False)
        subnets.append(b)
        port = conn.network.create_port(network_id=net.id, fixed_ips=[
            {"subnet_id": b.id, "ip_address": f"{base}.1.9"}])
        made["ports"].append(port.id)
        conn.network.add_interface_to_router(router, port=port.id)
        nexthop = f"{base}.1.77"
    current = conn.network.get_router(router).routes or []
    conn.network.update_router(router, routes=list(current) + [
        {"destination": f"{base}.99.0/24", "nexthop": nexthop}])
    owner = {"device_owner": "compute:nova",
             "device_id": str(uuid.uuid4())} if server_port else {}
    port = conn.network.create_port(
        network_id=net.id, security_group_ids=list(groups),
        fixed_ips=[{"subnet_id": a.id, "ip_address": f"{base}.0.50"}],
        **owner)
    made["ports"].append(port.id)
    return net, subnets


def _make_router(conn, made, prefix, public):
    router = conn.network.create_router(
        name=f"{prefix}edge",
        external_gateway_info={"network_id": public.id})
    made["routers"].append(router.id)
    return router.id


def _delete_everything(conn, made):
    """The disaster: the application is gone (ids stay listed)."""
    _teardown(conn, made)


def _protect(service, conn, cleanup, network_ids):
    result = service.protect(conn, "fullstack-network",
                             [(NETWORK, n) for n in network_ids])
    cleanup(service.delete, result.checkpoint_id, conn)
    return result.checkpoint_id


def _rules(conn, group_id, mapping=None):
    mapping = mapping or {}
    return sorted(
        (r.direction, r.ether_type, r.protocol, r.port_range_min,
         r.port_range_max, r.remote_ip_prefix,
         mapping.get(r.remote_group_id, r.remote_group_id), r.description
         or "")
        for r in conn.network.security_group_rules(
            security_group_id=group_id))


def _interfaces(conn, router_id):
    return sorted((ip["subnet_id"], ip["ip_address"])
                  for p in conn.network.ports(device_id=router_id)
                  if p.device_owner in INTERFACE_OWNERS
                  for ip in p.fixed_ips)


# -- the tests ----------------------------------------------------------------
def test_external_network_is_referenced_not_protected(service, conn, public):
    with pytest.raises(exceptions.StackvaultError,
                       match="referenced, not restored"):
        service.protect(conn, "nope", [(NETWORK, public.id)])
    assert public.id not in {r.id for r in service.list_resources(
        conn, NETWORK)}


def test_protect_delete_restore_recreates_the_network(
        service, conn, admin_conn, cleanup, made, public):
    made["admin"] = admin_conn
    prefix, base = _unique(), _cidr_base()
    router = _make_router(conn, made, prefix, public)
    web, db = _make_groups(conn, made, prefix)
    default = _default_group_id(conn)
    net, subnets = _make_network(conn, made, prefix, base, router=router,
                                 groups=(web, default), server_port=True)
    original = {
        "subnets": {s.cidr: conn.network.get_subnet(s.id) for s in subnets},
        "router": conn.network.get_router(router),
        "interfaces": {(s.cidr, ip) for s in subnets
                       for sid, ip in _interfaces(conn, router)
                       if sid == s.id},
        "rules": {g: _rules(conn, g) for g in (web, db)},
    }
    assert original["interfaces"] == {(f"{base}.0.0/24", f"{base}.0.1"),
                                      (f"{base}.1.0/24", f"{base}.1.9")}
    assert not [r for r in original["rules"][web] if r[0] == "egress"
                and r[2] is None], "web must have only its own rules"

    checkpoint_id = _protect(service, conn, cleanup, [net.id])
    assert service.verify(checkpoint_id, conn).ok
    _delete_everything(conn, made)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.network.get_security_group(web)

    result = service.restore(checkpoint_id, conn, {
        NETWORK: {"name_prefix": "r-"}})
    restored = result.restored
    made["restored"].update(restored)

    # the network and its subnets
    new_net = conn.network.get_network(restored[f"{NETWORK}#{net.id}"])
    assert new_net.name == f"r-{prefix}app"
    assert new_net.description == "app network"
    new_subnets = {s.cidr: s for s in conn.network.subnets(
        network_id=new_net.id)}
    assert set(new_subnets) == set(original["subnets"])
    for cidr, old in original["subnets"].items():
        new = new_subnets[cidr]
        assert restored[f"{SUBNET}#{old.id}"] == new.id
        assert new.gateway_ip == old.gateway_ip
        assert new.allocation_pools == old.allocation_pools
        assert new.dns_nameservers == old.dns_nameservers
        assert new.host_routes == old.host_routes
        assert new.is_dhcp_enabled == old.is_dhcp_enabled
        assert new.name == f"r-{old.name}"
    # the router: gateway on the same external network, the interfaces on
    # the new subnets with the same IPs, the route
    new_router = conn.network.get_router(restored[f"{ROUTER}#{router}"])
    assert new_router.name == f"r-{prefix}edge"
    assert new_router.external_gateway_info["network_id"] == public.id
    by_id = {s.id: cidr for cidr, s in new_subnets.items()}
    assert {(by_id[sid], ip) for sid, ip in _interfaces(
        conn, new_router.id)} == original["interfaces"]
    assert new_router.routes == original["router"].routes
    # the groups: default mapped (not copied), rules equal after mapping
    assert restored[f"{GROUP}#{default}"] == default
    assert not list(conn.network.security_groups(
        name="r-default", project_id=conn.current_project_id))
    new_groups = {g: restored[f"{GROUP}#{g}"] for g in (web, db)}
    back = {new: old for old, new in new_groups.items()}
    for old, new in new_groups.items():
        assert _rules(conn, new, back) == original["rules"][old]
    assert conn.network.get_security_group(new_groups[web]).name == \
        f"r-{prefix}web"
    # the saved server port, for the server plugin
    saved = service.show_checkpoint(checkpoint_id).metadata_of(NETWORK,
                                                               net.id)
    [port] = saved["ports"]
    assert port["fixed_ips"][0]["ip_address"] == f"{base}.0.50"
    assert sorted(port["security_groups"]) == sorted([web, default])


def test_shared_router_and_group_are_restored_once(
        service, conn, cleanup, made, public):
    prefix = _unique()
    base_one = _cidr_base()
    base_two = f"10.{(int(base_one.split('.')[1]) - 99) % 150 + 100}"
    router = _make_router(conn, made, prefix, public)
    web, db = _make_groups(conn, made, prefix)
    one, _ = _make_network(conn, made, prefix, base_one, "one", router,
                           (web,), two_subnets=False)
    two, _ = _make_network(conn, made, prefix, base_two, "two", router,
                           (web,), two_subnets=False)
    checkpoint_id = _protect(service, conn, cleanup, [one.id, two.id])
    _delete_everything(conn, made)

    result = service.restore(checkpoint_id, conn)
    made["restored"].update(result.restored)
    project = conn.current_project_id
    assert len(list(conn.network.routers(name=f"{prefix}edge",
                                         project_id=project))) == 1
    assert len(list(conn.network.security_groups(
        name=f"{prefix}web", project_id=project))) == 1
    assert len(list(conn.network.security_groups(
        name=f"{prefix}db", project_id=project))) == 1
    new_router = result.restored[f"{ROUTER}#{router}"]
    new_subnets = {
        s.id: s.cidr
        for n in (one, two)
        for s in conn.network.subnets(
            network_id=result.restored[f"{NETWORK}#{n.id}"])}
    assert sorted((new_subnets[sid], ip) for sid, ip in _interfaces(
        conn, new_router)) == sorted([
            (f"{base_one}.0.0/24", f"{base_one}.0.1"),
            (f"{base_two}.0.0/24", f"{base_two}.0.1")])
    # each network's flow added the route through its own subnet
    assert sorted(r["nexthop"] for r in conn.network.get_router(
        new_router).routes) == sorted([f"{base_one}.0.77",
                                       f"{base_two}.0.77"])
    new_web = result.restored[f"{GROUP}#{web}"]
    assert len(_rules(conn, new_web)) == 3          # once, not twice


def test_restore_that_fails_half_way_leaves_nothing(
        service, conn, cleanup, made, public):
    prefix, base = _unique(), _cidr_base()
    router = _make_router(conn, made, prefix, public)
    web, _ = _make_groups(conn, made, prefix)
    net, _ = _make_network(conn, made, prefix, base, router=router,
                           groups=(web,))
    checkpoint_id = _protect(service, conn, cleanup, [net.id])
    _delete_everything(conn, made)
    nowhere = str(uuid.uuid4())

    nowhere_mapped = {NETWORK: {
        "name_prefix": "r-", "external_network_mapping": {public.id: nowhere}}}
    with pytest.raises(exceptions.PreflightFailed,
                       match=f"external network exists: .*{nowhere}"):
        service.restore(checkpoint_id, conn, nowhere_mapped)
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, conn, nowhere_mapped,
                        skip_preflight=True)

    leftovers = _leftovers(conn, f"r-{prefix}")
    made["routers"][:0] = leftovers["routers"]
    made["networks"] += leftovers["networks"]
    made["groups"] += leftovers["groups"]
    failure = caught.value.failures[0]
    assert failure.step == f"EnsureRouter-{router}"
    assert nowhere in failure.message
    assert [str(f) for f in caught.value.result.rollback_failures] == []
    assert caught.value.result.restored == {}
    assert leftovers == {"networks": [], "subnets": [], "routers": [],
                         "groups": []}
    # and the CIDRs are free again: nothing holds an address
    assert not [s for s in conn.network.subnets(
        project_id=conn.current_project_id)
        if ipaddress.ip_network(s.cidr).subnet_of(
            ipaddress.ip_network(f"{base}.0.0/16"))]


def test_router_revert_dismantles_what_any_network_put_on_it(
        conn, cleanup, made, public):
    """The creator's revert of a shared router, against the real Neutron:
    another network's interfaces and routes are still on it, and the
    gateway is set; the router must still go, and with it every port."""
    prefix = _unique()
    base_one = _cidr_base()
    base_two = f"10.{(int(base_one.split('.')[1]) - 99) % 150 + 100}"
    router = _make_router(conn, made, prefix, public)
    one, _ = _make_network(conn, made, prefix, base_one, "one", router)
    _make_network(conn, made, prefix, base_two, "two", router,
                  two_subnets=False)
    ctx = make_ctx(Resource(NETWORK, one.id), conn, operation="restore")
    ctx.record_new_id(router, ROUTER, "original-router")
    routes = [{"destination": f"{base_one}.98.0/24",
               "nexthop": f"{base_one}.0.78"}]
    task = router_routes.AddRouterRoutes(
        {"id": "original-router", "routes": routes, "interfaces": []},
        [{"cidr": f"{base_one}.0.0/24"}])
    added = task.execute(ctx, conn, {"id": router, "created": False})
    assert added == routes
    assert routes[0] in conn.network.get_router(router).routes
    task.revert(conn, added, {"id": router})
    assert routes[0] not in conn.network.get_router(router).routes
    assert len(_interfaces(conn, router)) == 3

    routers.EnsureRouter({"id": "original-router", "interfaces": []}).revert(
        ctx, conn, {"id": router, "created": True})

    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.network.get_router(router)
    assert not list(conn.network.ports(device_id=router))
    assert ctx.restored.get(ROUTER, "original-router") is None
