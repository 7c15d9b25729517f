"""A small in-memory Neutron behind the calls the network plugin makes.

It stands in for ``conn.network`` (openstacksdk's network proxy) and keeps
the rules of the real one that a restore and its rollback run into: a new
security group gets egress rules of its own, a subnet with an IP in use or
a router with interfaces cannot be deleted (409), an interface a route
needs cannot be removed (409), a route's next hop must be on one of the
router's subnets (400). Objects come back with openstacksdk's attribute
names (``is_router_external``, ``security_group_ids`` ...).
"""

import copy
import ipaddress
import itertools
import threading
import types

from openstack import exceptions as sdk_exceptions

PROJECT = "project-1"
OTHER_PROJECT = "project-2"
INTERFACE = "network:router_interface"


def _not_found(what):
    return sdk_exceptions.NotFoundException(f"{what} could not be found")


def _conflict(message):
    return sdk_exceptions.ConflictException(message)


def _bad(message):
    return sdk_exceptions.BadRequestException(message)


def _in(address, cidr):
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)



def _described(record, description):
    """Neutron's ``?description=`` filter."""
    return description is None or record.get("description") == description

class FakeNeutron:
    """``conn.network`` of one project; ``public`` is an external network
    of another project, as on devcloud."""

    def __init__(self, project_id=PROJECT):
        self.project_id = project_id
        self.network_table, self.subnet_table, self.port_table = {}, {}, {}
        self.router_table, self.groups, self.rules = {}, {}, {}
        self.extensions = {"extraroute-atomic", "net-mtu-writable"}
        self.fail = {}          # method name -> exception raised once
        self.calls = []
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._macs = itertools.count(16)
        public = self.create_network(name="public", project_id=OTHER_PROJECT,
                                     router_external=True)
        self.public_id = public.id
        self.create_subnet(network_id=public.id, cidr="172.24.4.0/24",
                           ip_version=4, project_id=OTHER_PROJECT)
        self.default_group_id = self._new_group(DEFAULT_RULES, "default")

    # -- helpers ----------------------------------------------------------
    def new_id(self, kind):
        return f"{kind}-{next(self._ids)}"

    def _check_fail(self, method):
        self.calls.append(method)
        exc = self.fail.pop(method, None)
        if exc is not None:
            raise exc

    def created(self, kind):
        """Ids of objects made after construction, of one kind."""
        table = {"network": self.network_table, "subnet": self.subnet_table,
                 "router": self.router_table, "security_group": self.groups,
                 "port": self.port_table}[kind]
        return sorted(i for i, r in table.items()
                      if r.get("project_id") == self.project_id
                      and r.get("name") != "default" and i != self.public_id)

    def _new_group(self, rules, name, description=""):
        group_id = self.new_id("sg")
        self.groups[group_id] = {"id": group_id, "name": name,
                                 "description": description,
                                 "project_id": self.project_id,
                                 "stateful": True}
        for rule in rules:
            rule = dict(rule, security_group_id=group_id)
            if rule.get("remote_group_id") == "self":
                rule["remote_group_id"] = group_id
            self._add_rule(rule)
        return group_id

    def _add_rule(self, attrs):
        rule = {"id": self.new_id("rule"), "protocol": None,
                "port_range_min": None, "port_range_max": None,
                "remote_ip_prefix": None, "remote_group_id": None,
                "remote_address_group_id": None, "description": ""}
        rule.update(attrs)
        if "ether_type" in rule:
            rule["ethertype"] = rule.pop("ether_type")
        if rule["security_group_id"] not in self.groups:
            raise _not_found(f"security group {rule['security_group_id']}")
        if rule["remote_group_id"] and \
                rule["remote_group_id"] not in self.groups:
            raise _not_found(f"security group {rule['remote_group_id']}")
        key = _rule_key(rule)
        for other in self.rules.values():
            if other["security_group_id"] == rule["security_group_id"] \
                    and _rule_key(other) == key:
                raise _conflict("Security group rule already exists.")
        self.rules[rule["id"]] = rule
        return rule

    def _allocate(self, subnet_id, address=None):
        subnet = self.subnet_table[subnet_id]
        used = {ip["ip_address"] for p in self.port_table.values()
                for ip in p["fixed_ips"]}
        if address is not None:
            if address in used:
                raise _conflict(f"IP address {address} already allocated "
                                f"in subnet {subnet_id}")
            return address
        for host in ipaddress.ip_network(subnet["cidr"]).hosts():
            text = str(host)
            if text not in used and text != subnet["gateway_ip"]:
                return text
        raise _conflict("No more IP addresses available")

    def _port(self, network_id, fixed_ips, **attrs):
        port_id = self.new_id("port")
        ips = [{"subnet_id": ip["subnet_id"],
                "ip_address": self._allocate(ip["subnet_id"],
                                             ip.get("ip_address"))}
               for ip in fixed_ips]
        port = {"id": port_id, "network_id": network_id, "name": "",
                "description": "", "device_id": "", "device_owner": "",
                "mac_address": f"fa:16:3e:00:00:{next(self._macs):02x}",
                "fixed_ips": ips, "security_groups": [],
                "allowed_address_pairs": [], "admin_state_up": True,
                "port_security_enabled": True,
                "project_id": self.project_id}
        port.update(attrs)
        self.port_table[port_id] = port
        return port

    def _router_cidrs(self, router_id):
        cidrs = [self.subnet_table[ip["subnet_id"]]["cidr"]
                 for p in self.port_table.values()
                 if p["device_id"] == router_id
                 and p["device_owner"] == INTERFACE
                 for ip in p["fixed_ips"]]
        gateway = self.router_table[router_id]["external_gateway_info"] or {}
        cidrs += [self.subnet_table[ip["subnet_id"]]["cidr"]
                  for ip in gateway.get("external_fixed_ips", [])]
        return cidrs

    def _check_routes(self, router_id, routes):
        cidrs = self._router_cidrs(router_id)
        for route in routes:
            if not any(_in(route["nexthop"], c) for c in cidrs):
                raise _bad(f"Invalid format for routes: {route}, the "
                           "nexthop is not connected with router")

    def _gateway(self, info):
        if not info:
            return None
        network = self.network_table.get(info["network_id"])
        if network is None:
            raise _not_found(f"network {info['network_id']}")
        if not network["router_external"]:
            raise _bad(f"Network {network['id']} is not an external "
                       "network")
        subnet_id = network["subnet_ids"][0]
        gateway = {"network_id": network["id"],
                   "enable_snat": info.get("enable_snat", True),
                   "external_fixed_ips": [{
                       "subnet_id": subnet_id,
                       "ip_address": self._allocate(subnet_id)}]}
        return gateway

    # -- views (openstacksdk attribute names) -----------------------------
    def _network_view(self, n):
        return types.SimpleNamespace(
            id=n["id"], name=n["name"], description=n["description"],
            is_admin_state_up=n["admin_state_up"], mtu=n["mtu"],
            is_port_security_enabled=n["port_security_enabled"],
            dns_domain=n["dns_domain"], project_id=n["project_id"],
            is_router_external=n["router_external"],
            is_shared=n["router_external"],
            subnet_ids=list(n["subnet_ids"]))

    def _subnet_view(self, s):
        return types.SimpleNamespace(
            id=s["id"], name=s["name"], description=s["description"],
            network_id=s["network_id"], cidr=s["cidr"],
            ip_version=s["ip_version"],
            allocation_pools=copy.deepcopy(s["allocation_pools"]),
            gateway_ip=s["gateway_ip"],
            dns_nameservers=list(s["dns_nameservers"]),
            host_routes=copy.deepcopy(s["host_routes"]),
            is_dhcp_enabled=s["enable_dhcp"],
            ipv6_ra_mode=s["ipv6_ra_mode"],
            ipv6_address_mode=s["ipv6_address_mode"],
            project_id=s["project_id"])

    def _port_view(self, p):
        return types.SimpleNamespace(
            id=p["id"], name=p["name"], description=p["description"],
            network_id=p["network_id"], device_id=p["device_id"],
            device_owner=p["device_owner"], mac_address=p["mac_address"],
            fixed_ips=copy.deepcopy(p["fixed_ips"]),
            security_group_ids=list(p["security_groups"]),
            allowed_address_pairs=copy.deepcopy(p["allowed_address_pairs"]),
            is_admin_state_up=p["admin_state_up"],
            is_port_security_enabled=p["port_security_enabled"],
            project_id=p["project_id"])

    def _router_view(self, r):
        return types.SimpleNamespace(
            id=r["id"], name=r["name"], description=r["description"],
            is_admin_state_up=r["admin_state_up"],
            external_gateway_info=copy.deepcopy(r["external_gateway_info"]),
            routes=copy.deepcopy(r["routes"]), project_id=r["project_id"])

    def _group_view(self, g):
        rules = [copy.deepcopy(r) for r in self.rules.values()
                 if r["security_group_id"] == g["id"]]
        return types.SimpleNamespace(
            id=g["id"], name=g["name"], description=g["description"],
            project_id=g["project_id"], stateful=g["stateful"],
            security_group_rules=rules)

    # -- quotas -----------------------------------------------------------
    quota_limit = -1         # unlimited unless a test sets one

    def get_quota(self, project, details=False):
        """Quota details as Neutron shows them (used: what exists)."""
        with self.lock:
            used = {"networks": len(self.network_table),
                    "subnets": len(self.subnet_table),
                    "ports": len(self.port_table),
                    "routers": len(self.router_table),
                    "security_groups": len(self.groups)}
        return types.SimpleNamespace(**{
            name: {"limit": self.quota_limit, "used": count, "reserved": 0}
            for name, count in used.items()})

    # -- networks ---------------------------------------------------------
    def find_extension(self, alias, ignore_missing=True):
        if alias in self.extensions:
            return types.SimpleNamespace(alias=alias)
        if ignore_missing:
            return None
        raise _not_found(f"extension {alias}")

    def networks(self, project_id=None, description=None):
        with self.lock:
            return [self._network_view(n) for n in self.network_table.values()
                    if project_id in (None, n["project_id"])
                    and _described(n, description)]

    def get_network(self, network_id):
        with self.lock:
            if network_id not in self.network_table:
                raise _not_found(f"network {network_id}")
            return self._network_view(self.network_table[network_id])

    def find_network(self, name_or_id, ignore_missing=True):
        with self.lock:
            for n in self.network_table.values():
                if name_or_id in (n["id"], n["name"]):
                    return self._network_view(n)
            if ignore_missing:
                return None
            raise _not_found(f"network {name_or_id}")

    def create_network(self, **attrs):
        with self.lock:
            self._check_fail("create_network")
            network_id = self.new_id("net")
            network = {"id": network_id, "name": "", "description": "",
                       "admin_state_up": True, "mtu": 1450,
                       "port_security_enabled": True, "dns_domain": None,
                       "project_id": self.project_id,
                       "router_external": False, "subnet_ids": []}
            for key, value in attrs.items():
                key = {"is_admin_state_up": "admin_state_up",
                       "is_port_security_enabled":
                           "port_security_enabled"}.get(key, key)
                network[key] = value
            self.network_table[network_id] = network
            return self._network_view(network)

    def delete_network(self, network_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_network")
            if network_id not in self.network_table:
                if ignore_missing:
                    return
                raise _not_found(f"network {network_id}")
            if any(p["network_id"] == network_id
                   for p in self.port_table.values()):
                raise _conflict(f"Unable to complete operation on network "
                                f"{network_id}. There are one or more "
                                "ports still in use on the network.")
            for subnet_id in self.network_table[network_id]["subnet_ids"]:
                del self.subnet_table[subnet_id]
            del self.network_table[network_id]

    # -- subnets ----------------------------------------------------------
    def subnets(self, network_id=None, description=None):
        with self.lock:
            return [self._subnet_view(s) for s in self.subnet_table.values()
                    if network_id in (None, s["network_id"])
                    and _described(s, description)]

    def get_subnet(self, subnet_id):
        with self.lock:
            if subnet_id not in self.subnet_table:
                raise _not_found(f"subnet {subnet_id}")
            return self._subnet_view(self.subnet_table[subnet_id])

    def create_subnet(self, **attrs):
        with self.lock:
            self._check_fail("create_subnet")
            network = self.network_table.get(attrs["network_id"])
            if network is None:
                raise _not_found(f"network {attrs['network_id']}")
            cidr = ipaddress.ip_network(attrs["cidr"])
            for other in network["subnet_ids"]:
                if cidr.overlaps(ipaddress.ip_network(
                        self.subnet_table[other]["cidr"])):
                    raise _bad(f"cidr {cidr} overlaps with another subnet")
            hosts = list(cidr.hosts())
            subnet_id = self.new_id("subnet")
            subnet = {"id": subnet_id, "name": "", "description": "",
                      "network_id": network["id"], "cidr": str(cidr),
                      "ip_version": cidr.version,
                      "gateway_ip": str(hosts[0]),
                      "allocation_pools": [{"start": str(hosts[1]),
                                            "end": str(hosts[-1])}],
                      "dns_nameservers": [], "host_routes": [],
                      "enable_dhcp": True, "ipv6_ra_mode": None,
                      "ipv6_address_mode": None,
                      "project_id": attrs.pop("project_id", self.project_id)}
            for key, value in attrs.items():
                subnet[{"is_dhcp_enabled": "enable_dhcp"}.get(key, key)] = \
                    value
            self.subnet_table[subnet_id] = subnet
            network["subnet_ids"].append(subnet_id)
            return self._subnet_view(subnet)

    def delete_subnet(self, subnet_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_subnet")
            if subnet_id not in self.subnet_table:
                return
            if any(ip["subnet_id"] == subnet_id
                   for p in self.port_table.values() for ip in p["fixed_ips"]):
                raise _conflict(f"Unable to complete operation on subnet "
                                f"{subnet_id}: One or more ports have an "
                                "IP allocation from this subnet.")
            subnet = self.subnet_table.pop(subnet_id)
            self.network_table[subnet["network_id"]]["subnet_ids"].remove(
                subnet_id)

    # -- ports ------------------------------------------------------------
    def ports(self, network_id=None, device_id=None, description=None):
        with self.lock:
            return [self._port_view(p) for p in self.port_table.values()
                    if network_id in (None, p["network_id"])
                    and device_id in (None, p["device_id"])
                    and _described(p, description)]

    def get_port(self, port_id):
        with self.lock:
            if port_id not in self.port_table:
                raise _not_found(f"port {port_id}")
            return self._port_view(self.port_table[port_id])

    def create_port(self, network_id, fixed_ips=(), **attrs):
        with self.lock:
            self._check_fail("create_port")
            if network_id not in self.network_table:
                raise _not_found(f"network {network_id}")
            attrs = {{"security_group_ids": "security_groups"}.get(k, k): v
                     for k, v in attrs.items()}
            return self._port_view(self._port(network_id, fixed_ips,
                                              **attrs))

    def delete_port(self, port_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_port")
            port = self.port_table.get(port_id)
            if port is None:
                return
            if port["device_owner"] == INTERFACE:
                raise _conflict(f"Port {port_id} cannot be deleted directly "
                                "via the port API: has device owner "
                                "network:router_interface.")
            del self.port_table[port_id]

    # -- security groups ----------------------------------------------------
    def security_groups(self, name=None, project_id=None, description=None):
        with self.lock:
            return [self._group_view(g) for g in self.groups.values()
                    if name in (None, g["name"])
                    and project_id in (None, g["project_id"])
                    and _described(g, description)]

    def get_security_group(self, group_id):
        with self.lock:
            if group_id not in self.groups:
                raise _not_found(f"security group {group_id}")
            return self._group_view(self.groups[group_id])

    def create_security_group(self, name, description="", **attrs):
        with self.lock:
            self._check_fail("create_security_group")
            group_id = self._new_group(AUTO_RULES, name, description)
            self.groups[group_id].update(attrs)
            return self._group_view(self.groups[group_id])

    def delete_security_group(self, group_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_security_group")
            if group_id not in self.groups:
                return
            if any(group_id in p["security_groups"]
                   for p in self.port_table.values()):
                raise _conflict(f"Security Group {group_id} in use.")
            del self.groups[group_id]
            for rule_id, rule in list(self.rules.items()):
                if group_id in (rule["security_group_id"],
                                rule["remote_group_id"]):
                    del self.rules[rule_id]

    def security_group_rules(self, security_group_id=None):
        with self.lock:
            return [types.SimpleNamespace(**r) for r in self.rules.values()
                    if security_group_id in (None, r["security_group_id"])]

    def create_security_group_rules(self, data):
        with self.lock:
            self._check_fail("create_security_group_rules")
            if len({r["security_group_id"] for r in data}) > 1:
                raise _bad("Only allowed to update rules for one security "
                           "profile at a time")
            snapshot = dict(self.rules)
            try:
                made = [self._add_rule(dict(attrs)) for attrs in data]
            except Exception:
                self.rules = snapshot       # bulk create is atomic
                raise
            return (types.SimpleNamespace(**r) for r in made)

    def delete_security_group_rule(self, rule_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_security_group_rule")
            self.rules.pop(rule_id, None)

    # -- routers ------------------------------------------------------------
    def routers(self, description=None):
        with self.lock:
            return [self._router_view(r) for r in self.router_table.values()
                    if _described(r, description)]

    def get_router(self, router_id):
        with self.lock:
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            return self._router_view(self.router_table[router_id])

    def create_router(self, name="", description="", is_admin_state_up=True,
                      external_gateway_info=None, project_id=None):
        with self.lock:
            self._check_fail("create_router")
            router_id = self.new_id("router")
            router = {"id": router_id, "name": name,
                      "description": description,
                      "admin_state_up": is_admin_state_up,
                      "external_gateway_info": self._gateway(
                          external_gateway_info),
                      "routes": [],
                      "project_id": project_id or self.project_id}
            self.router_table[router_id] = router
            return self._router_view(router)

    def _update(self, table, kind, object_id, description):
        with self.lock:
            self._check_fail(f"update_{kind}")
            if object_id not in table:
                raise _not_found(f"{kind} {object_id}")
            table[object_id]["description"] = description

    def update_network(self, network_id, description):
        self._update(self.network_table, "network", network_id, description)

    def update_subnet(self, subnet_id, description):
        self._update(self.subnet_table, "subnet", subnet_id, description)

    def update_port(self, port_id, description):
        self._update(self.port_table, "port", port_id, description)

    def update_security_group(self, group_id, description):
        self._update(self.groups, "security_group", group_id, description)

    def update_router(self, router_id, **attrs):
        with self.lock:
            self._check_fail("update_router")
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            router = self.router_table[router_id]
            if "description" in attrs:
                router["description"] = attrs["description"]
            if "external_gateway_info" in attrs:
                router["external_gateway_info"] = self._gateway(
                    attrs["external_gateway_info"])
            if "routes" in attrs:
                self._check_routes(router_id, attrs["routes"])
                router["routes"] = copy.deepcopy(attrs["routes"])
            return self._router_view(router)

    def delete_router(self, router_id, ignore_missing=True):
        with self.lock:
            self._check_fail("delete_router")
            if router_id not in self.router_table:
                return
            if any(p["device_id"] == router_id
                   for p in self.port_table.values()):
                raise _conflict(f"Router {router_id} still has ports")
            del self.router_table[router_id]

    def add_interface_to_router(self, router_id, subnet=None, port=None):
        with self.lock:
            self._check_fail("add_interface_to_router")
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            if port is not None:
                interface = self.port_table.get(port)
                if interface is None:
                    raise _not_found(f"port {port}")
                if interface["device_id"]:
                    raise _conflict(f"Port {port} is in use")
            else:
                found = self.subnet_table.get(subnet)
                if found is None:
                    raise _not_found(f"subnet {subnet}")
                if any(p["device_id"] == router_id
                       and any(ip["subnet_id"] == subnet
                               for ip in p["fixed_ips"])
                       for p in self.port_table.values()):
                    raise _bad(f"Router already has a port on subnet "
                               f"{subnet}")
                interface = self._port(found["network_id"], [{
                    "subnet_id": subnet,
                    "ip_address": found["gateway_ip"]}])
            interface.update(device_id=router_id, device_owner=INTERFACE)
            return {"id": router_id, "port_id": interface["id"],
                    "subnet_id": interface["fixed_ips"][0]["subnet_id"]}

    def remove_interface_from_router(self, router_id, subnet=None,
                                     port=None):
        with self.lock:
            self._check_fail("remove_interface_from_router")
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            interface = self.port_table.get(port)
            if interface is None or interface["device_id"] != router_id:
                raise _not_found(f"router interface {port}")
            cidrs = [self.subnet_table[ip["subnet_id"]]["cidr"]
                     for ip in interface["fixed_ips"]]
            for route in self.router_table[router_id]["routes"]:
                if any(_in(route["nexthop"], c) for c in cidrs):
                    raise _conflict(f"Router interface {port} cannot be "
                                    "deleted, as it is required by one or "
                                    "more routes.")
            del self.port_table[port]
            return {"id": router_id, "port_id": port}

    def add_extra_routes_to_router(self, router_id, body):
        with self.lock:
            self._check_fail("add_extra_routes_to_router")
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            routes = body["router"]["routes"]
            self._check_routes(router_id, routes)
            current = self.router_table[router_id]["routes"]
            current += [r for r in routes if r not in current]
            return self._router_view(self.router_table[router_id])

    def remove_extra_routes_from_router(self, router_id, body):
        with self.lock:
            self._check_fail("remove_extra_routes_from_router")
            if router_id not in self.router_table:
                raise _not_found(f"router {router_id}")
            routes = body["router"]["routes"]
            router = self.router_table[router_id]
            router["routes"] = [r for r in router["routes"]
                                if r not in routes]
            return self._router_view(router)


def _rule_key(rule):
    return tuple(rule.get(k) for k in (
        "direction", "ethertype", "protocol", "port_range_min",
        "port_range_max", "remote_ip_prefix", "remote_group_id",
        "remote_address_group_id"))


AUTO_RULES = [{"direction": "egress", "ethertype": "IPv4"},
              {"direction": "egress", "ethertype": "IPv6"}]
DEFAULT_RULES = AUTO_RULES + [
    {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": "self"},
    {"direction": "ingress", "ethertype": "IPv6", "remote_group_id": "self"}]


def connection(neutron):
    """A stand-in ``Connection`` with this Neutron as its network proxy."""
    return types.SimpleNamespace(network=neutron,
                                 current_project_id=neutron.project_id)
