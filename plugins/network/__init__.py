"""Neutron networks (``OS::Neutron::Network``) and what belongs to them.

What protect saves
    Nothing in the cloud. In the bank (``metadata.json``, ``format`` 1):
    the network (name, description, admin state, MTU, port security,
    DNS domain when the cloud has one); its subnets (CIDR, IP version,
    pools, gateway, DNS servers, host routes, DHCP, IPv6 modes); the
    routers with an interface on its subnets (admin state, the external
    gateway network as a reference and ``enable_snat``, static routes, and
    the interfaces on this network with their IPs); the security groups
    used by ports on the network, with their rules, plus every group those
    rules name as a remote group (transitively); and the network's server
    ports (``compute:*``), for the record: the server plugin recreates
    those itself. Only what the project owns is saved; anything else (an
    external network, another project's group) is kept as a reference to
    its original id.

What restore creates
    A new network, its subnets (same CIDRs, pools, gateway, DNS, routes),
    the security groups (the project's ``default`` group maps to the
    target project's own, never created; a new group loses the rules
    Neutron adds to it, then gets exactly the saved rules, with remote
    groups re-pointed to their restored copies), the routers (external
    gateway on the mapped external network), the router interfaces on the
    new subnets (with the original IP, through a port, when it is not the
    gateway IP), then the routes. The network, subnets, routers and
    interfaces form one chain (see ``restore_flow``); the groups run in
    parallel with it. A router or group that two protected networks share
    is created once (``RestoredIds.create_once``) and only its creator
    deletes it on revert. Every new id is recorded under its
    type and ORIGINAL id: ``OS::Neutron::Network``, ``OS::Neutron::Subnet``,
    ``OS::Neutron::SecurityGroup``, ``OS::Neutron::Router``.

How each creation is undone
    In reverse: routes removed, interfaces removed, interface ports
    deleted, routers dismantled (every route and interface, even another
    network's, then the gateway) and deleted, rules and groups deleted,
    subnets deleted, network deleted. Deletes that Neutron refuses while
    something is still settling (409) are retried for a bounded time
    (``protection.plugin.wait``), and each delete is waited for until Neutron
    says the object is gone.

The modules
    ``common`` (type names, flow store keys, small Neutron helpers),
    ``protect`` (the protect tasks), ``networks`` (restoring the network
    and its subnets), ``security_groups``, ``routers`` (routers and their
    interfaces), ``routes`` (their static routes), ``metadata`` (the
    ``metadata.json`` schema and consistency checks) and ``plugin`` (the
    plugin class and its flows).
"""

from plugins.network.plugin import NetworkPlugin

__all__ = ["NetworkPlugin"]
