"""Unit tests of the Neutron network plugin.

Each task against a ``mock`` of openstacksdk's network proxy; then whole
protect/restore flows through ProtectionService (real TaskFlow engines, a
real bank) against the in-memory Neutron of ``tests/fakes/fake_neutron.py``,
which refuses what the real one refuses, so rollbacks are proven too.
"""

import copy
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions
from oslo_config import cfg

from flows import engine
from plugins.network import common
from plugins.network import metadata as network_metadata
from plugins.network import networks
from plugins.network import plugin
from plugins.network import protect
from plugins.network import routers
from plugins.network import routes
from plugins.network import security_groups
from protection import config
from protection import exceptions
from protection.plugin import saved_metadata
from protection.plugin import tasks
from protection.plugin.context import Journal
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from protection.service import ProtectionService
from protection.plugin.wait import Timeouts
from tests.fakes import bank_edits
from tests.fakes import fake_neutron
from tests.fakes.plugin_helpers import make_ctx, obj

NET = Resource(common.RESOURCE_TYPE, "net-1", "app")
PROJECT = "project-1"
NOT_FOUND = sdk_exceptions.NotFoundException("not found")
SG = common.SECURITY_GROUP
ROUTER = common.ROUTER
SUBNET = common.SUBNET


def _network(**overrides):
    attrs = dict(id="net-1", name="app", description="d",
                 is_admin_state_up=True, mtu=1450,
                 is_port_security_enabled=True, dns_domain=None,
                 project_id=PROJECT, is_router_external=False,
                 subnet_ids=["sub-1"])
    attrs.update(overrides)
    return obj(**attrs)


def _port(**overrides):
    attrs = dict(id="port-1", name="", description="", device_id="vm-1",
                 device_owner="compute:nova", mac_address="fa:16:3e:00:00:01",
                 fixed_ips=[{"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
                 security_group_ids=["sg-web"],
                 allowed_address_pairs=[{"ip_address": "10.0.0.100",
                                         "mac_address": "fa:16:3e:00:00:01"}],
                 is_admin_state_up=True, is_port_security_enabled=True)
    attrs.update(overrides)
    return obj(**attrs)


def _rule(rule_id, remote_group_id=None, **attrs):
    rule = {"id": rule_id, "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": None, "remote_group_id": remote_group_id,
            "description": "", "security_group_id": "x",
            "normalized_cidr": None}
    rule.update(attrs)
    return rule


def gone_after_delete():
    """A fetch side_effect: the object exists until it has been deleted
    once (the revert's first look), then Neutron says NotFound."""
    return [obj(status="ACTIVE"), NOT_FOUND]


@pytest.fixture
def conn():
    c = mock.Mock()
    c.current_project_id = PROJECT
    return c


def restore_ctx(conn, parameters=None, metadata=None):
    return make_ctx(NET, conn, operation="restore", parameters=parameters,
                    metadata=metadata)


# -- discovery ----------------------------------------------------------------
class TestDiscovery:
    def test_lists_only_the_projects_own_networks(self, conn):
        conn.network.networks.return_value = [
            _network(),
            _network(id="ext", is_router_external=True),
            _network(id="shared", project_id="other")]
        found = plugin.NetworkPlugin().list_resources(conn)
        assert [r.id for r in found] == ["net-1"]
        assert found[0].type == "OS::Neutron::Network"
        conn.network.networks.assert_called_once_with(project_id=PROJECT)

    def test_show(self, conn):
        conn.network.get_network.return_value = _network()
        res = plugin.NetworkPlugin().show_resource(conn, "net-1")
        assert (res.id, res.name) == ("net-1", "app")

    def test_show_missing(self, conn):
        conn.network.get_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.ResourceNotFound):
            plugin.NetworkPlugin().show_resource(conn, "net-1")

    @pytest.mark.parametrize("attrs, words", [
        ({"is_router_external": True}, "external network"),
        ({"project_id": "other"}, "shared network")])
    def test_external_and_foreign_networks_are_referenced_only(
            self, conn, attrs, words):
        conn.network.get_network.return_value = _network(**attrs)
        with pytest.raises(exceptions.StackvaultError,
                           match=f"{words}.*referenced, not restored"):
            plugin.NetworkPlugin().show_resource(conn, "net-1")
        with pytest.raises(exceptions.StackvaultError,
                           match="referenced, not restored"):
            protect.DescribeNetwork().execute(conn, NET)

    def test_no_dependencies_and_nothing_to_delete(self, conn):
        the_plugin = plugin.NetworkPlugin()
        assert the_plugin.dependencies(conn, NET) == []
        assert the_plugin.delete_flow(make_ctx(NET, conn), NET) is None


# -- protect ------------------------------------------------------------------
class TestDescribe:
    def test_network(self, conn):
        conn.network.get_network.return_value = _network()
        info = protect.DescribeNetwork().execute(conn, NET)
        assert info == {"id": "net-1", "name": "app", "description": "d",
                        "admin_state_up": True, "mtu": 1450,
                        "port_security_enabled": True,
                        "project_id": PROJECT}
        conn.network.get_network.return_value = _network(dns_domain="a.")
        assert protect.DescribeNetwork().execute(
            conn, NET)["dns_domain"] == "a."

    def test_network_gone(self, conn):
        conn.network.get_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="no longer exists"):
            protect.DescribeNetwork().execute(conn, NET)

    def test_subnets(self, conn):
        conn.network.subnets.return_value = [obj(
            id="sub-1", name="a", description="", cidr="10.0.0.0/24",
            ip_version=4,
            allocation_pools=[{"start": "10.0.0.10", "end": "10.0.0.99"}],
            gateway_ip="10.0.0.1", dns_nameservers=["8.8.8.8"],
            host_routes=[{"destination": "10.9.0.0/16",
                          "nexthop": "10.0.0.254"}],
            is_dhcp_enabled=False, ipv6_ra_mode=None,
            ipv6_address_mode=None)]
        [info] = protect.DescribeSubnets().execute(conn, NET)
        assert info["cidr"] == "10.0.0.0/24"
        assert info["allocation_pools"] == [{"start": "10.0.0.10",
                                             "end": "10.0.0.99"}]
        assert info["enable_dhcp"] is False
        assert info["host_routes"][0]["nexthop"] == "10.0.0.254"
        conn.network.subnets.assert_called_once_with(network_id="net-1")

    def test_ports(self, conn):
        conn.network.ports.return_value = [_port()]
        [info] = protect.ListNetworkPorts().execute(conn, NET)
        assert info == {
            "id": "port-1", "name": "", "description": "",
            "device_id": "vm-1", "device_owner": "compute:nova",
            "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
            "security_groups": ["sg-web"],
            "allowed_address_pairs": [{"ip_address": "10.0.0.100",
                                       "mac_address": "fa:16:3e:00:00:01"}],
            "admin_state_up": True, "port_security_enabled": True}

    def test_routers_with_an_interface_on_the_network(self, conn):
        ports = [
            {"id": "p1", "device_owner": "network:router_interface",
             "device_id": "r1", "fixed_ips": [
                 {"subnet_id": "sub-1", "ip_address": "10.0.0.1"}]},
            {"id": "p2", "device_owner": "network:router_interface",
             "device_id": "r1", "fixed_ips": [
                 {"subnet_id": "sub-2", "ip_address": "10.1.0.9"}]},
            {"id": "p3", "device_owner": "network:router_interface",
             "device_id": "r-foreign", "fixed_ips": []},
            {"id": "p4", "device_owner": "network:dhcp", "device_id": "d",
             "fixed_ips": []}]

        def get_router(router_id):
            if router_id == "r-foreign":
                return obj(project_id="other")
            return obj(id="r1", name="edge", description="",
                       project_id=PROJECT, is_admin_state_up=True,
                       external_gateway_info={
                           "network_id": "pub", "enable_snat": False,
                           "external_fixed_ips": [{"subnet_id": "ps",
                                                   "ip_address": "1.2.3.4"}]},
                       routes=[{"destination": "10.9.0.0/24",
                                "nexthop": "10.0.0.7"}])
        conn.network.get_router.side_effect = get_router
        events = []
        ctx = make_ctx(NET, conn, events=events)
        [router] = protect.DescribeRouters().execute(ctx, conn, ports)
        assert router == {
            "id": "r1", "name": "edge", "description": "",
            "admin_state_up": True,
            "external_gateway": {"network_id": "pub", "enable_snat": False},
            "routes": [{"destination": "10.9.0.0/24",
                        "nexthop": "10.0.0.7"}],
            "interfaces": [
                {"port_id": "p1", "fixed_ips": [
                    {"subnet_id": "sub-1", "ip_address": "10.0.0.1"}]},
                {"port_id": "p2", "fixed_ips": [
                    {"subnet_id": "sub-2", "ip_address": "10.1.0.9"}]}]}
        assert "r-foreign" in events[0].message

    def test_router_without_gateway(self, conn):
        conn.network.get_router.return_value = obj(
            id="r1", name="", description=None, project_id=PROJECT,
            is_admin_state_up=False, external_gateway_info=None, routes=[])
        ports = [{"id": "p1", "device_owner": "network:router_interface",
                  "device_id": "r1", "fixed_ips": []}]
        [router] = protect.DescribeRouters().execute(
            make_ctx(NET, conn), conn, ports)
        assert router["external_gateway"] is None
        assert router["admin_state_up"] is False

    def test_security_groups_and_their_remote_groups_transitively(
            self, conn):
        groups = {
            "sg-web": obj(id="sg-web", name="web", description="w",
                          project_id=PROJECT, stateful=True,
                          security_group_rules=[
                              _rule("r2", "sg-web"), _rule("r1", "sg-db")]),
            "sg-db": obj(id="sg-db", name="db", description="",
                         project_id=PROJECT, stateful=True,
                         security_group_rules=[_rule("r3", "sg-ops"),
                                               _rule("r4", "sg-gone")]),
            "sg-ops": obj(id="sg-ops", name="default", description="",
                          project_id=PROJECT, stateful=True,
                          security_group_rules=[]),
            "sg-shared": obj(id="sg-shared", name="x", description="",
                             project_id="other", stateful=True,
                             security_group_rules=[]),
        }

        def get_group(group_id):
            if group_id not in groups:
                raise NOT_FOUND
            return groups[group_id]
        conn.network.get_security_group.side_effect = get_group
        ports = [{"security_groups": ["sg-web", "sg-shared"]},
                 {"security_groups": []}]
        info = protect.DescribeSecurityGroups().execute(conn, ports)
        assert [g["id"] for g in info["groups"]] == ["sg-db", "sg-ops",
                                                      "sg-web"]
        assert info["external"] == ["sg-gone", "sg-shared"]
        web = info["groups"][2]
        assert [r["id"] for r in web["rules"]] == ["r1", "r2"]
        assert web["rules"][0] == {
            "id": "r1", "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": None, "remote_group_id": "sg-db",
            "remote_address_group_id": None, "description": ""}
        assert info["groups"][1]["is_default"] is True
        assert web["is_default"] is False and web["stateful"] is True

    def test_save_metadata_keeps_server_ports_only(self):
        bank = mock.Mock()
        ports = [{"id": "p1", "device_owner": "compute:nova"},
                 {"id": "p2", "device_owner": "network:dhcp"},
                 {"id": "p3", "device_owner": ""}]
        protect.SaveNetworkMetadata().execute(
            bank, {"id": "net-1"}, [], [], {"groups": [], "external": ["x"]},
            ports)
        saved = bank.save_metadata.call_args.args[0]
        assert saved == {"format": 1, "network": {"id": "net-1"},
                         "subnets": [], "routers": [],
                         "security_groups": [],
                         "external_security_groups": ["x"],
                         "ports": [ports[0]]}
        protect.SaveNetworkMetadata().revert(bank)
        bank.delete_metadata.assert_called_once_with()


# -- restore: network and subnets ---------------------------------------------
SAVED_NETWORK = {"id": "net-1", "name": "app", "description": "d",
                 "admin_state_up": True, "mtu": 1400,
                 "port_security_enabled": False, "dns_domain": "app.",
                 "project_id": PROJECT}
SAVED_SUBNET = {"id": "sub-1", "name": "a", "description": "",
                "cidr": "10.0.0.0/24", "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.10",
                                      "end": "10.0.0.99"}],
                "gateway_ip": None, "dns_nameservers": ["8.8.8.8"],
                "host_routes": [], "enable_dhcp": True,
                "ipv6_ra_mode": None, "ipv6_address_mode": None}


class TestCreateNetwork:
    def test_creates_with_the_prefix_and_records_the_new_id(self, conn):
        conn.network.create_network.return_value = obj(id="new-net")
        ctx = restore_ctx(conn, {"name_prefix": "r-"},
                          {"network": SAVED_NETWORK})
        assert networks.CreateNetwork().execute(
            ctx, conn, {"network": SAVED_NETWORK},
            {"name_prefix": "r-"}) == "new-net"
        conn.network.create_network.assert_called_once_with(
            name="r-app", description=mock.ANY, is_admin_state_up=True,
            is_port_security_enabled=False, dns_domain="app.", mtu=1400)
        # created with the mark as its description, then the saved one
        conn.network.update_network.assert_called_once_with(
            "new-net", description="d")
        assert ctx.restored.get(common.RESOURCE_TYPE, "net-1") == "new-net"

    def test_mtu_only_where_the_cloud_lets_it_be_set(self, conn):
        conn.network.find_extension.side_effect = NOT_FOUND
        conn.network.create_network.return_value = obj(id="new-net")
        networks.CreateNetwork().execute(
            restore_ctx(conn, metadata={"network": SAVED_NETWORK}), conn,
            {"network": SAVED_NETWORK}, {})
        assert "mtu" not in conn.network.create_network.call_args.kwargs

    def test_revert_deletes_and_forgets(self, conn):
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-net")
        conn.network.get_network.side_effect = gone_after_delete()
        networks.CreateNetwork().revert(ctx, conn, "new-net")
        conn.network.delete_network.assert_called_once_with(
            "new-net", ignore_missing=True)
        assert ctx.restored.get(common.RESOURCE_TYPE, "net-1") is None

    def test_revert_of_a_failed_create_does_nothing(self, conn):
        networks.CreateNetwork().revert(restore_ctx(conn), conn, mock.Mock())
        conn.network.delete_network.assert_not_called()


class TestCreateSubnet:
    def test_same_cidr_pools_gateway_dns_routes_dhcp(self, conn):
        conn.network.create_subnet.return_value = obj(id="new-sub")
        ctx = restore_ctx(conn)
        subnet = dict(SAVED_SUBNET, ipv6_ra_mode=None)
        task = networks.CreateSubnet(subnet)
        assert task.provides == {"subnet:sub-1"}
        assert task.execute(ctx, conn, {"name_prefix": "r-"},
                            "new-net") == "new-sub"
        conn.network.create_subnet.assert_called_once_with(
            network_id="new-net", name="r-a", description=mock.ANY,
            cidr="10.0.0.0/24", ip_version=4,
            allocation_pools=[{"start": "10.0.0.10", "end": "10.0.0.99"}],
            gateway_ip=None, dns_nameservers=["8.8.8.8"], host_routes=[],
            is_dhcp_enabled=True)
        assert ctx.restored.get(SUBNET, "sub-1") == "new-sub"

    def test_ipv6_modes(self, conn):
        conn.network.create_subnet.return_value = obj(id="new-sub")
        subnet = dict(SAVED_SUBNET, cidr="fd00::/64", ip_version=6,
                      ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        networks.CreateSubnet(subnet).execute(restore_ctx(conn), conn, {},
                                             "new-net")
        kwargs = conn.network.create_subnet.call_args.kwargs
        assert kwargs["ipv6_ra_mode"] == kwargs["ipv6_address_mode"] == \
            "slaac"

    def test_revert_deletes_and_forgets(self, conn):
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-sub", SUBNET, "sub-1")
        conn.network.get_subnet.side_effect = gone_after_delete()
        networks.CreateSubnet(SAVED_SUBNET).revert(ctx, conn, "new-sub")
        conn.network.delete_subnet.assert_called_once_with(
            "new-sub", ignore_missing=True)
        assert ctx.restored.get(SUBNET, "sub-1") is None

    def test_revert_retries_while_neutron_says_in_use(self, conn):
        ctx = restore_ctx(conn)
        conn.network.get_subnet.side_effect = gone_after_delete()
        conn.network.delete_subnet.side_effect = [
            sdk_exceptions.ConflictException("in use"),
            sdk_exceptions.ConflictException("in use"), None]
        networks.CreateSubnet(SAVED_SUBNET).revert(ctx, conn, "new-sub")
        assert conn.network.delete_subnet.call_count == 3

    def test_revert_gives_up_with_neutrons_reason(self, conn):
        conn.network.get_subnet.return_value = obj(status="ACTIVE")
        conn.network.delete_subnet.side_effect = \
            sdk_exceptions.ConflictException(
                "in use", details="One or more ports have an IP allocation")
        ctx = make_ctx(NET, conn, operation="restore",
                       timeouts=Timeouts(status_wait=0.05, poll_initial=0.01,
                                         poll_max=0.01))
        with pytest.raises(exceptions.StackvaultError,
                           match="subnet new-sub could not be deleted.*"
                                 "IP alloc"):
            networks.CreateSubnet(SAVED_SUBNET).revert(ctx, conn, "new-sub")

    def test_revert_of_a_subnet_already_gone(self, conn):
        conn.network.get_subnet.side_effect = NOT_FOUND
        networks.CreateSubnet(SAVED_SUBNET).revert(restore_ctx(conn), conn,
                                                   "new-sub")
        conn.network.delete_subnet.assert_not_called()


# -- restore: security groups -------------------------------------------------
WEB = {"id": "sg-web", "name": "web", "description": "w",
       "is_default": False, "stateful": True,
       "rules": [_rule("r1", "sg-web"), _rule("r2", "sg-db"),
                 _rule("r3", "sg-ext"),
                 _rule("r4", None, direction="egress", protocol=None,
                       port_range_min=None, port_range_max=None,
                       remote_ip_prefix="0.0.0.0/0", description="out")]}
DEFAULT = {"id": "sg-default", "name": "default", "description": "",
           "is_default": True, "rules": []}


class TestEnsureSecurityGroup:
    def test_creates_and_records(self, conn):
        conn.network.create_security_group.return_value = obj(id="new-web")
        ctx = restore_ctx(conn)
        task = security_groups.EnsureSecurityGroup(WEB)
        assert task.execute(ctx, conn, {"name_prefix": "r-"}) == {
            "id": "new-web", "created": True, "recorded": True}
        conn.network.create_security_group.assert_called_once_with(
            name="r-web", description=mock.ANY)
        assert ctx.restored.get(SG, "sg-web") == "new-web"
        conn.network.get_security_group.side_effect = gone_after_delete()
        task.revert(ctx, conn, {"id": "new-web", "created": True,
                                "recorded": True})
        conn.network.delete_security_group.assert_called_once_with(
            "new-web", ignore_missing=True)
        assert ctx.restored.get(SG, "sg-web") is None

    def test_stateless_group(self, conn):
        conn.network.create_security_group.return_value = obj(id="new")
        security_groups.EnsureSecurityGroup(dict(WEB, stateful=False)).execute(
            restore_ctx(conn), conn, {})
        assert conn.network.create_security_group.call_args.kwargs[
            "stateful"] is False

    def test_reused_when_another_network_restored_it(self, conn):
        ctx = restore_ctx(conn)
        ctx.record_new_id("theirs", SG, "sg-web")
        task = security_groups.EnsureSecurityGroup(WEB)
        result = task.execute(ctx, conn, {})
        assert result == {"id": "theirs", "created": False,
                          "recorded": False}
        conn.network.create_security_group.assert_not_called()
        task.revert(ctx, conn, result)
        conn.network.delete_security_group.assert_not_called()
        assert ctx.restored.get(SG, "sg-web") == "theirs"

    def test_default_group_maps_to_the_targets_default(self, conn):
        conn.network.security_groups.return_value = [obj(id="target-def")]
        ctx = restore_ctx(conn)
        task = security_groups.EnsureSecurityGroup(DEFAULT)
        result = task.execute(ctx, conn, {"name_prefix": "r-"})
        assert result == {"id": "target-def", "created": False,
                          "recorded": True}
        conn.network.security_groups.assert_called_once_with(
            name="default", project_id=PROJECT)
        conn.network.create_security_group.assert_not_called()
        assert ctx.restored.get(SG, "sg-default") == "target-def"
        task.revert(ctx, conn, result)
        conn.network.delete_security_group.assert_not_called()
        assert ctx.restored.get(SG, "sg-default") is None

    def test_no_default_group_is_a_clear_error(self, conn):
        conn.network.security_groups.return_value = []
        with pytest.raises(exceptions.StackvaultError,
                           match="no 'default' security group"):
            security_groups.EnsureSecurityGroup(DEFAULT).execute(
                restore_ctx(conn), conn, {})


class TestSecurityGroupRules:
    def test_auto_added_egress_rules_are_removed(self, conn):
        conn.network.security_group_rules.return_value = [
            obj(id="auto-4"), obj(id="auto-6")]
        task = security_groups.RemoveAutoAddedRules(WEB)
        assert task.execute(conn, {"id": "new-web", "created": True})
        conn.network.security_group_rules.assert_called_once_with(
            security_group_id="new-web")
        assert [c.args[0] for c in conn.network.delete_security_group_rule
                .call_args_list] == ["auto-4", "auto-6"]

    def test_a_reused_group_is_left_alone(self, conn):
        assert not security_groups.RemoveAutoAddedRules(WEB).execute(
            conn, {"id": "theirs", "created": False})
        rules = security_groups.CreateSecurityGroupRules(WEB, {"sg-db"})
        assert rules.execute(restore_ctx(conn), conn,
                             {"id": "theirs", "created": False}) == []
        conn.network.delete_security_group_rule.assert_not_called()
        conn.network.create_security_group_rules.assert_not_called()

    def test_rules_are_re_pointed_to_restored_groups(self, conn):
        conn.network.create_security_group_rules.return_value = iter(
            [obj(id=f"new-r{i}") for i in range(4)])
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-web", SG, "sg-web")
        ctx.record_new_id("new-db", SG, "sg-db")
        task = security_groups.CreateSecurityGroupRules(WEB, {"sg-db"})
        assert {"security_group_clean:sg-web",
                "security_group:sg-db"} <= set(task.requires)
        assert task.execute(ctx, conn, {"id": "new-web", "created": True},
                            **{"security_group:sg-db": {}}) == [
            "new-r0", "new-r1", "new-r2", "new-r3"]
        rules = conn.network.create_security_group_rules.call_args.args[0]
        common = {"security_group_id": "new-web", "direction": "ingress",
                  "ether_type": "IPv4", "protocol": "tcp",
                  "port_range_min": 22, "port_range_max": 22}
        assert rules == [
            dict(common, remote_group_id="new-web"),     # itself
            dict(common, remote_group_id="new-db"),      # restored
            dict(common, remote_group_id="sg-ext"),      # a reference
            {"security_group_id": "new-web", "direction": "egress",
             "ether_type": "IPv4", "remote_ip_prefix": "0.0.0.0/0",
             "description": "out"}]

    def test_revert_deletes_the_rules_it_made(self, conn):
        security_groups.CreateSecurityGroupRules(WEB, set()).revert(
            restore_ctx(conn), conn, ["a", "b"])
        assert [c.args[0] for c in conn.network.delete_security_group_rule
                .call_args_list] == ["a", "b"]

    def test_rule_ids_read_back_from_storage_are_left(self, conn):
        """Rules carry no mark: an abort does not delete ids from storage
        one by one (the group's proven delete takes its rules)."""
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=True)
        security_groups.CreateSecurityGroupRules(WEB, set()).revert(
            ctx, conn, ["foreign-rule"])
        conn.network.delete_security_group_rule.assert_not_called()


# -- restore: routers ---------------------------------------------------------
EDGE = {"id": "r1", "name": "edge", "description": "e",
        "admin_state_up": True,
        "external_gateway": {"network_id": "pub", "enable_snat": True},
        "routes": [],
        "interfaces": [{"port_id": "p1", "fixed_ips": [
            {"subnet_id": "sub-1", "ip_address": "10.0.0.1"}]}]}


class TestEnsureRouter:
    def _run(self, conn, parameters, router=EDGE, ctx=None):
        conn.network.create_router.return_value = obj(id="new-r1")
        ctx = ctx or restore_ctx(conn, parameters)
        return ctx, routers.EnsureRouter(router).execute(ctx, conn,
                                                         parameters)

    def test_waits_for_the_subnets_it_connects(self):
        task = routers.EnsureRouter(EDGE)
        assert "subnet:sub-1" in task.requires
        assert task.provides == {"router:r1"}

    def test_gateway_on_the_mapped_external_network(self, conn):
        conn.network.find_network.return_value = obj(id="target-pub")
        ctx, result = self._run(conn, {
            "name_prefix": "r-",
            "external_network_mapping": {"pub": "target-pub"}})
        assert result == {"id": "new-r1", "created": True}
        conn.network.find_network.assert_called_once_with(
            "target-pub", ignore_missing=False)
        conn.network.create_router.assert_called_once_with(
            name="r-edge", description=mock.ANY, is_admin_state_up=True,
            external_gateway_info={"network_id": "target-pub"})
        assert ctx.restored.get(ROUTER, "r1") == "new-r1"

    def test_unmapped_gateway_network_that_exists_is_kept(self, conn):
        conn.network.find_network.return_value = obj(id="pub")
        self._run(conn, {})
        conn.network.find_network.assert_called_once_with(
            "pub", ignore_missing=False)
        assert conn.network.create_router.call_args.kwargs[
            "external_gateway_info"] == {"network_id": "pub"}

    def test_snat_disabled_is_restored(self, conn):
        conn.network.find_network.return_value = obj(id="pub")
        router = dict(EDGE, external_gateway={"network_id": "pub",
                                              "enable_snat": False})
        self._run(conn, {}, router)
        assert conn.network.create_router.call_args.kwargs[
            "external_gateway_info"] == {"network_id": "pub",
                                         "enable_snat": False}

    def test_no_gateway(self, conn):
        self._run(conn, {}, dict(EDGE, external_gateway=None))
        assert "external_gateway_info" not in \
            conn.network.create_router.call_args.kwargs
        conn.network.find_network.assert_not_called()

    def test_missing_unmapped_gateway_network_is_a_clear_error(self, conn):
        conn.network.find_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="pub of router r1 does not exist.*"
                                 "external_network_mapping"):
            self._run(conn, {})
        conn.network.create_router.assert_not_called()

    def test_mapping_to_a_missing_network_is_a_clear_error(self, conn):
        conn.network.find_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="maps pub to nowhere, which does not "
                                 "exist"):
            self._run(conn, {"external_network_mapping": {"pub": "nowhere"}})

    def test_reused_router_is_not_deleted_on_revert(self, conn):
        ctx = restore_ctx(conn)
        ctx.record_new_id("theirs", ROUTER, "r1")
        _, result = self._run(conn, {}, ctx=ctx)
        assert result == {"id": "theirs", "created": False}
        conn.network.create_router.assert_not_called()
        routers.EnsureRouter(EDGE).revert(ctx, conn, result)
        assert conn.network.mock_calls == []
        assert ctx.restored.get(ROUTER, "r1") == "theirs"

    def test_creator_revert_dismantles_the_router(self, conn):
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-r1", ROUTER, "r1")
        conn.network.get_router.side_effect = [obj(
            routes=[{"destination": "10.9.0.0/24", "nexthop": "10.0.0.7"}],
            external_gateway_info={"network_id": "pub"})] + \
            gone_after_delete()
        conn.network.ports.return_value = [
            obj(id="mine", device_owner="network:router_interface"),
            obj(id="another-networks",
                device_owner="network:router_interface"),
            obj(id="gw", device_owner="network:router_gateway")]
        conn.network.remove_interface_from_router.side_effect = [
            None, NOT_FOUND]
        routers.EnsureRouter(EDGE).revert(ctx, conn,
                                          {"id": "new-r1", "created": True})
        calls = [c for c in conn.network.mock_calls
                 if not c[0].startswith(("get_", "ports"))]
        assert calls == [
            mock.call.update_router("new-r1", routes=[]),
            mock.call.remove_interface_from_router("new-r1", port="mine"),
            mock.call.remove_interface_from_router(
                "new-r1", port="another-networks"),
            mock.call.update_router("new-r1", external_gateway_info=None),
            mock.call.delete_router("new-r1", ignore_missing=True)]
        conn.network.ports.assert_called_once_with(device_id="new-r1")
        assert ctx.restored.get(ROUTER, "r1") is None

    def test_revert_of_a_router_already_gone(self, conn):
        conn.network.get_router.side_effect = NOT_FOUND
        routers.EnsureRouter(EDGE).revert(restore_ctx(conn), conn,
                                          {"id": "new-r1", "created": True})
        conn.network.delete_router.assert_not_called()


class TestRouterInterfaces:
    SUBNETS = {"sub-1": {"gateway_ip": "10.0.0.1"},
               "sub-2": {"gateway_ip": None}}

    @pytest.mark.parametrize("ips, by_port", [
        ([("sub-1", "10.0.0.1")], False),       # the gateway IP
        ([("sub-1", "10.0.0.9")], True),        # another IP
        ([("sub-2", "10.1.0.1")], True),        # a subnet without gateway
        ([("sub-1", "10.0.0.1"), ("sub-1", "10.0.0.2")], True)])
    def test_by_port_unless_it_is_the_gateway_ip(self, ips, by_port):
        interface = {"port_id": "p", "fixed_ips": [
            {"subnet_id": s, "ip_address": a} for s, a in ips]}
        assert routers.interface_by_port(interface,
                                          self.SUBNETS) is by_port

    def test_port_with_the_original_ip_on_the_new_subnet(self, conn):
        conn.network.create_port.return_value = obj(id="new-port")
        interface = {"port_id": "p2", "fixed_ips": [
            {"subnet_id": "sub-2", "ip_address": "10.1.0.9"}]}
        task = routers.CreateInterfacePort("r1", interface)
        assert "subnet:sub-2" in task.requires
        assert task.provides == {"interface_port:r1:p2"}
        assert task.execute(restore_ctx(conn), conn, "new-net",
                            **{"subnet:sub-2": "new-sub-2"}) == "new-port"
        conn.network.create_port.assert_called_once_with(
            network_id="new-net",
            fixed_ips=[{"subnet_id": "new-sub-2",
                        "ip_address": "10.1.0.9"}], description=mock.ANY)
        conn.network.get_port.side_effect = gone_after_delete()
        task.revert(restore_ctx(conn), conn, "new-port")
        conn.network.delete_port.assert_called_once_with(
            "new-port", ignore_missing=True)

    def test_add_by_port(self, conn):
        conn.network.add_interface_to_router.return_value = {
            "port_id": "new-port"}
        interface = {"port_id": "p2", "fixed_ips": []}
        task = routers.AddRouterInterface("r1", interface, by_port=True)
        assert task.rebind["port_id"] == "interface_port:r1:p2"
        assert task.execute(restore_ctx(conn), conn, {"id": "new-r1"},
                            port_id="new-port") == "new-port"
        conn.network.add_interface_to_router.assert_called_once_with(
            "new-r1", port="new-port")

    def test_add_by_subnet_and_revert(self, conn):
        conn.network.add_interface_to_router.return_value = {
            "port_id": "gw-port"}
        task = routers.AddRouterInterface("r1", EDGE["interfaces"][0],
                                          by_port=False)
        assert task.rebind["subnet_id"] == "subnet:sub-1"
        assert task.execute(restore_ctx(conn), conn, {"id": "new-r1"},
                            subnet_id="new-sub") == "gw-port"
        conn.network.add_interface_to_router.assert_called_once_with(
            "new-r1", subnet="new-sub")
        task.revert(restore_ctx(conn), conn, "gw-port", {"id": "new-r1"})
        conn.network.remove_interface_from_router.assert_called_once_with(
            "new-r1", port="gw-port")

    def test_revert_when_the_router_is_already_gone(self, conn):
        conn.network.remove_interface_from_router.side_effect = NOT_FOUND
        routers.AddRouterInterface("r1", EDGE["interfaces"][0],
                                   False).revert(restore_ctx(conn), conn,
                                                 "gw-port", {"id": "new-r1"})

    def test_an_abort_leaves_the_interface_of_a_planted_router(self, conn):
        """The router's id read back from storage is not this restore's
        (no mark): its interface is not removed (NotOurs, reported)."""
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=True)
        conn.network.get_router.return_value = obj(id="foreign",
                                                   description="theirs")
        with pytest.raises(tasks.NotOurs, match="router foreign"):
            routers.AddRouterInterface("r1", EDGE["interfaces"][0],
                                       False).revert(ctx, conn, "gw-port",
                                                     {"id": "foreign"})
        conn.network.remove_interface_from_router.assert_not_called()


class TestRouterRoutes:
    ROUTER = dict(EDGE, routes=[
        {"destination": "10.9.0.0/24", "nexthop": "10.0.0.7"},     # mine
        {"destination": "0.0.0.0/0", "nexthop": "172.24.4.9"},     # gw
        {"destination": "10.8.0.0/24", "nexthop": "10.1.0.7"}])    # other
    SUBNETS = [{"cidr": "10.0.0.0/24"}]

    def _gateway(self, conn):
        conn.network.get_router.return_value = obj(
            external_gateway_info={"external_fixed_ips": [
                {"subnet_id": "pub-sub", "ip_address": "172.24.4.3"}]},
            routes=[])
        conn.network.get_subnet.return_value = obj(cidr="172.24.4.0/24")

    def test_creator_adds_routes_via_its_subnets_and_the_gateway(
            self, conn):
        self._gateway(conn)
        events = []
        ctx = make_ctx(NET, conn, operation="restore", events=events)
        task = routes.AddRouterRoutes(self.ROUTER, self.SUBNETS)
        assert "interface:r1:p1" in task.requires
        added = task.execute(ctx, conn, {"id": "new-r1", "created": True})
        assert added == self.ROUTER["routes"][:2]
        conn.network.add_extra_routes_to_router.assert_called_once_with(
            "new-r1", {"router": {"routes": added}})
        assert "10.8.0.0/24 via 10.1.0.7" in events[0].message
        task.revert(conn, added, {"id": "new-r1"})
        conn.network.remove_extra_routes_from_router.assert_called_once_with(
            "new-r1", {"router": {"routes": added}})

    def test_a_reusing_flow_adds_only_routes_via_its_own_subnets(
            self, conn):
        self._gateway(conn)
        added = routes.AddRouterRoutes(self.ROUTER, self.SUBNETS).execute(
            restore_ctx(conn), conn, {"id": "theirs", "created": False})
        assert added == self.ROUTER["routes"][:1]
        conn.network.get_subnet.assert_not_called()

    def test_without_extraroute_atomic_routes_are_merged(self, conn):
        conn.network.find_extension.side_effect = NOT_FOUND
        conn.network.get_router.return_value = obj(routes=[
            {"destination": "10.7.0.0/24", "nexthop": "10.0.0.8"}])
        added = routes.AddRouterRoutes(self.ROUTER, self.SUBNETS).execute(
            restore_ctx(conn), conn, {"id": "theirs", "created": False})
        conn.network.update_router.assert_called_once_with(
            "theirs", routes=[{"destination": "10.7.0.0/24",
                               "nexthop": "10.0.0.8"}] + added)

    def test_nothing_to_add(self, conn):
        router = dict(EDGE, routes=[])
        assert routes.AddRouterRoutes(router, self.SUBNETS).execute(
            restore_ctx(conn), conn, {"id": "x", "created": True}) == []
        conn.network.add_extra_routes_to_router.assert_not_called()


# -- verify -------------------------------------------------------------------
def _good_metadata():
    return copy.deepcopy({
        "format": 1,
        "network": dict(SAVED_NETWORK),
        "subnets": [dict(SAVED_SUBNET, gateway_ip="10.0.0.1")],
        "routers": [dict(EDGE, routes=[{"destination": "10.9.0.0/24",
                                        "nexthop": "10.0.0.7"}])],
        "security_groups": [WEB, dict(WEB, id="sg-db", rules=[])],
        "external_security_groups": ["sg-ext"],
        "ports": [{"id": "p9", "fixed_ips": [
            {"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
            "security_groups": ["sg-web", "sg-ext"]}],
    })


def schema_problems(metadata):
    return saved_metadata.problems(plugin.NetworkPlugin.metadata_schema,
                                   metadata)


class TestVerify:
    def test_consistent_metadata(self):
        assert schema_problems(_good_metadata()) == []
        assert network_metadata.consistency_problems(_good_metadata()) == []
        network_metadata.CheckNetworkMetadata().execute(NET,
                                                        _good_metadata())

    @pytest.mark.parametrize("damage, problem", [
        (lambda m: m.clear(), "'format' is a required property"),
        (lambda m: m.update(format=7), "format: 1 was expected"),
        (lambda m: m.pop("routers"), "'routers' is a required property"),
        (lambda m: m["subnets"][0].pop("cidr"),
         "subnets/0: 'cidr' is a required property"),
        (lambda m: m["routers"][0]["routes"].append({"destination": "x"}),
         "routers/0/routes/1: 'nexthop' is a required property"),
        (lambda m: m["security_groups"][0].update(rules="none"),
         "security_groups/0/rules: 'none' is not of type 'array'"),
    ])
    def test_metadata_that_breaks_the_schema(self, damage, problem):
        metadata = _good_metadata()
        damage(metadata)
        assert any(problem in p for p in schema_problems(metadata))
        # left to the framework, which reports it: no traceback here
        network_metadata.CheckNetworkMetadata().execute(NET, metadata)

    @pytest.mark.parametrize("damage, problem", [
        (lambda m: m["subnets"][0].update(cidr="10.0.0/33"),
         "does not parse"),
        (lambda m: m["subnets"][0].update(ip_version=6), "is not IPv6"),
        (lambda m: m["subnets"][0].update(gateway_ip="10.5.0.1"),
         "10.5.0.1 is outside"),
        (lambda m: m["routers"][0]["interfaces"][0]["fixed_ips"][0].update(
            subnet_id="sub-x"), "interface p1: IP 10.0.0.1 is on subnet "
                                "sub-x, which was not saved"),
        (lambda m: m["routers"][0]["routes"].append(
            {"destination": "x", "nexthop": "10.0.0.7"}), "does not parse"),
        (lambda m: m["security_groups"].pop(1),
         "remote group sg-db is neither saved nor a reference"),
        (lambda m: m["ports"][0]["fixed_ips"][0].update(
            ip_address="10.0.1.5"), "port p9: IP 10.0.1.5 is outside"),
        (lambda m: m["ports"][0]["security_groups"].append("sg-x"),
         "port p9: security group sg-x"),
    ])
    def test_inconsistent_metadata(self, damage, problem):
        metadata = _good_metadata()
        damage(metadata)
        assert schema_problems(metadata) == []
        with pytest.raises(exceptions.StackvaultError, match=problem):
            network_metadata.CheckNetworkMetadata().execute(NET, metadata)

    def test_restore_of_inconsistent_metadata_fails_clearly(self, conn):
        metadata = _good_metadata()
        metadata["subnets"][0]["cidr"] = "10.0.0/33"
        flow = plugin.NetworkPlugin().restore_flow(
            restore_ctx(conn, metadata=metadata), NET)
        with pytest.raises(exceptions.StackvaultError,
                           match="cannot restore.*10.0.0/33.*does not parse"):
            flow.execute()


# -- whole flows against the in-memory Neutron --------------------------------
def make_service(tmp_path):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    conf.set_override("status_wait", 2.0, group="timeouts")
    conf.set_override("poll_initial", 0.01, group="timeouts")
    return ProtectionService(conf, PluginRegistry([plugin.NetworkPlugin()]),
                             FileSystemBank(str(tmp_path / "bank")))


@pytest.fixture
def neutron():
    return fake_neutron.FakeNeutron()


@pytest.fixture
def cloud(neutron):
    return fake_neutron.connection(neutron)


def build_app(neutron, name="app", cidrs=("10.0.0.0/24", "10.0.1.0/24"),
              router_id=None, groups=None):
    """A network with two subnets (the first with DNS and host routes),
    a router (gateway on public) with an interface on each subnet (the
    second on a non-gateway IP) and a route, and a server port in two
    security groups: ``web`` (rules: itself, ``db``) and ``default``."""
    net = neutron.create_network(name=name, description=f"{name} net")
    first = neutron.create_subnet(
        network_id=net.id, name=f"{name}-a", cidr=cidrs[0],
        dns_nameservers=["8.8.8.8"],
        host_routes=[{"destination": "192.168.9.0/24",
                      "nexthop": cidrs[0].replace("0/24", "254")}])
    second = neutron.create_subnet(network_id=net.id, name=f"{name}-b",
                                   cidr=cidrs[1], is_dhcp_enabled=False)
    if router_id is None:
        router_id = neutron.create_router(
            name="edge", external_gateway_info={
                "network_id": neutron.public_id}).id
    neutron.add_interface_to_router(router_id, subnet=first.id)
    odd_ip = cidrs[1].replace("0/24", "9")
    port = neutron.create_port(network_id=net.id, fixed_ips=[
        {"subnet_id": second.id, "ip_address": odd_ip}])
    neutron.add_interface_to_router(router_id, port=port.id)
    neutron.update_router(router_id, routes=neutron.get_router(
        router_id).routes + [{"destination": f"10.{len(name)}.99.0/24",
                              "nexthop": cidrs[1].replace("0/24", "77")}])
    if groups is None:
        db = neutron.create_security_group(name="db").id
        web = neutron.create_security_group(name="web").id
        for rule in neutron.security_group_rules(security_group_id=web):
            neutron.delete_security_group_rule(rule.id)     # ingress only
        neutron.create_security_group_rules([
            {"security_group_id": web, "direction": "ingress",
             "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 80,
             "port_range_max": 80, "remote_group_id": web},
            {"security_group_id": web, "direction": "ingress",
             "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22,
             "port_range_max": 22, "remote_group_id": db}])
        groups = [web, neutron.default_group_id]
    neutron.create_port(network_id=net.id, device_id="vm-1",
                        device_owner="compute:nova",
                        security_group_ids=list(groups),
                        fixed_ips=[{"subnet_id": first.id,
                                    "ip_address": cidrs[0].replace(
                                        "0/24", "50")}])
    return net.id, router_id, groups


def wipe(neutron):
    """Delete everything the project made (the app, before a restore)."""
    for router in list(neutron.router_table):
        routers.dismantle_router(make_ctx(NET, mock.Mock()),
                                  fake_neutron.connection(neutron), router)
    for port_id, port in list(neutron.port_table.items()):
        if port["device_owner"].startswith("compute:"):
            neutron.delete_port(port_id)
    for net_id in neutron.created("network"):
        neutron.delete_network(net_id)
    for group_id in neutron.created("security_group"):
        neutron.delete_security_group(group_id)


def rules_of(neutron, group_id, mapping):
    """A group's rules, comparable across clouds (remote groups mapped)."""
    return sorted(
        (r["direction"], r["ethertype"], r["protocol"],
         r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"],
         mapping.get(r["remote_group_id"], r["remote_group_id"]))
        for r in neutron.rules.values()
        if r["security_group_id"] == group_id)


def nothing_created(neutron):
    return {kind: neutron.created(kind) for kind in (
        "network", "subnet", "router", "security_group", "port")}


NOTHING = {"network": [], "subnet": [], "router": [], "security_group": [],
           "port": []}


class TestWholeFlows:
    def test_protect_saves_the_network_and_what_belongs_to_it(
            self, tmp_path, neutron, cloud):
        net_id, router_id, (web, default) = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        saved = service.show_checkpoint(checkpoint_id).metadata_of(
            common.RESOURCE_TYPE, net_id)
        assert saved["network"]["name"] == "app"
        assert sorted(s["cidr"] for s in saved["subnets"]) == [
            "10.0.0.0/24", "10.0.1.0/24"]
        [router] = saved["routers"]
        assert router["id"] == router_id
        assert router["external_gateway"]["network_id"] == neutron.public_id
        assert sorted(ip["ip_address"] for i in router["interfaces"]
                      for ip in i["fixed_ips"]) == ["10.0.0.1", "10.0.1.9"]
        assert {g["name"] for g in saved["security_groups"]} == {
            "web", "db", "default"}
        assert [p["device_id"] for p in saved["ports"]] == ["vm-1"]
        assert service.verify(checkpoint_id, cloud).ok

    def test_restore_recreates_everything(self, tmp_path, neutron, cloud):
        net_id, router_id, (web, default) = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        saved = service.show_checkpoint(checkpoint_id).metadata_of(
            common.RESOURCE_TYPE, net_id)
        original_rules = {g["id"]: g for g in saved["security_groups"]}
        db = next(g for g in saved["security_groups"] if g["name"] == "db")
        wipe(neutron)

        result = service.restore(checkpoint_id, cloud, {
            common.RESOURCE_TYPE: {"name_prefix": "r-"}})

        restored = result.restored
        new_net = restored[f"OS::Neutron::Network#{net_id}"]
        assert neutron.get_network(new_net).name == "r-app"
        subnets = {s.cidr: s for s in neutron.subnets(network_id=new_net)}
        for original in saved["subnets"]:
            new = subnets[original["cidr"]]
            assert restored[f"OS::Neutron::Subnet#{original['id']}"] == \
                new.id
            assert new.allocation_pools == original["allocation_pools"]
            assert new.gateway_ip == original["gateway_ip"]
            assert new.dns_nameservers == original["dns_nameservers"]
            assert new.host_routes == original["host_routes"]
            assert new.is_dhcp_enabled == original["enable_dhcp"]
        new_router = neutron.get_router(
            restored[f"OS::Neutron::Router#{router_id}"])
        assert new_router.name == "r-edge"
        assert new_router.external_gateway_info["network_id"] == \
            neutron.public_id
        assert new_router.routes == saved["routers"][0]["routes"]
        interfaces = {
            (ip["subnet_id"], ip["ip_address"])
            for p in neutron.ports(device_id=new_router.id)
            for ip in p.fixed_ips}
        assert interfaces == {(subnets["10.0.0.0/24"].id, "10.0.0.1"),
                              (subnets["10.0.1.0/24"].id, "10.0.1.9")}
        # groups: default mapped, not created; rules equal after mapping
        mapping = {new: original[len("OS::Neutron::SecurityGroup#"):]
                   for original, new in restored.items()
                   if original.startswith("OS::Neutron::SecurityGroup#")}
        assert restored[f"OS::Neutron::SecurityGroup#{default}"] == \
            neutron.default_group_id
        assert len(neutron.created("security_group")) == 2
        for new, original in mapping.items():
            if original == default:
                continue
            expected = sorted(
                (r["direction"], r["ethertype"], r["protocol"],
                 r["port_range_min"], r["port_range_max"],
                 r["remote_ip_prefix"], r["remote_group_id"])
                for r in original_rules[original]["rules"])
            assert rules_of(neutron, new, mapping) == expected
        # web had no egress rule: the ones Neutron added were removed
        new_web = mapping_key(mapping, web)
        assert [r for r in rules_of(neutron, new_web, mapping)
                if r[0] == "egress"] == []
        assert len(rules_of(neutron, new_web, mapping)) == 2
        # db kept its egress rules: they were saved, so restored
        assert len(rules_of(neutron, mapping_key(mapping, db["id"]),
                            mapping)) == 2
        assert neutron.get_security_group(new_web).name == "r-web"

    def test_a_failing_subnet_create_reverts_the_network(
            self, tmp_path, neutron, cloud):
        net_id, _, _ = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        wipe(neutron)
        neutron.fail["create_subnet"] = sdk_exceptions.ConflictException(
            "quota exceeded", details="Quota exceeded for resources: "
                                      "['subnet']")
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, cloud)
        failure = caught.value.failures[0]
        assert failure.step.startswith("CreateSubnet-")
        assert "Quota exceeded" in failure.message
        assert caught.value.result.restored == {}
        assert caught.value.result.rollback_failures == []
        assert nothing_created(neutron) == NOTHING
        assert "delete_network" in neutron.calls

    def test_unknown_external_network_rolls_back_half_way(
            self, tmp_path, neutron, cloud):
        net_id, _, _ = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        wipe(neutron)
        neutron.calls.clear()
        mapped = {common.RESOURCE_TYPE: {"external_network_mapping": {
            neutron.public_id: "no-such-network"}}}
        with pytest.raises(exceptions.PreflightFailed,
                           match="external network exists: .*"
                                 "no-such-network"):
            service.restore(checkpoint_id, cloud, mapped)
        assert not [c for c in neutron.calls if c.startswith("create")]
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, cloud, mapped,
                            skip_preflight=True)
        assert "no-such-network" in caught.value.failures[0].message
        assert caught.value.result.rollback_failures == []
        assert nothing_created(neutron) == NOTHING
        # half way: the router waits for its subnets, so they were made
        # (and deleted again) before the mapping failed
        assert neutron.calls.count("create_subnet") == 2
        assert "delete_network" in neutron.calls
        # and nothing was being made on the network while it was undone
        assert "create_port" not in neutron.calls

    def test_keep_policy_lists_what_it_left(self, tmp_path, neutron, cloud):
        net_id, _, _ = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        wipe(neutron)
        neutron.fail["add_extra_routes_to_router"] = \
            sdk_exceptions.BadRequestException("no")
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, cloud, policy=engine.KEEP)
        left = caught.value.result.left_behind
        assert left[f"OS::Neutron::Network#{net_id}"] in \
            neutron.created("network")
        assert any(k.startswith("OS::Neutron::Router#") for k in left)

    def _two_networks(self, neutron):
        first, router_id, groups = build_app(neutron, "one")
        second, _, _ = build_app(neutron, "two", cidrs=("10.2.0.0/24",
                                                        "10.2.1.0/24"),
                                 router_id=router_id, groups=groups)
        return first, second, router_id, groups

    def test_shared_router_and_groups_are_restored_once(
            self, tmp_path, neutron, cloud):
        first, second, router_id, (web, _) = self._two_networks(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(cloud, "two", [
            (common.RESOURCE_TYPE, first),
            (common.RESOURCE_TYPE, second)]).checkpoint_id
        wipe(neutron)
        result = service.restore(checkpoint_id, cloud)
        assert len(neutron.created("router")) == 1
        assert len(neutron.created("security_group")) == 2     # web, db
        [new_router] = neutron.created("router")
        assert result.restored[f"OS::Neutron::Router#{router_id}"] == \
            new_router
        interfaces = sorted(ip["ip_address"]
                            for p in neutron.ports(device_id=new_router)
                            for ip in p.fixed_ips)
        assert interfaces == ["10.0.0.1", "10.0.1.9", "10.2.0.1",
                              "10.2.1.9"]
        # each network's flow added the routes through its own subnets
        assert sorted(r["nexthop"] for r in neutron.get_router(
            new_router).routes) == ["10.0.1.77", "10.2.1.77"]
        # the web group's rules were created once, not twice
        new_web = result.restored[f"OS::Neutron::SecurityGroup#{web}"]
        assert len(rules_of(neutron, new_web, {})) == 2

    def test_shared_router_rolls_back_cleanly(self, tmp_path, neutron,
                                              cloud):
        first, second, _, _ = self._two_networks(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(cloud, "two", [
            (common.RESOURCE_TYPE, first),
            (common.RESOURCE_TYPE, second)]).checkpoint_id
        wipe(neutron)
        # the second call fails: one network's routes are already there
        calls = []
        real = neutron.add_extra_routes_to_router

        def add_routes(router_id, body):
            calls.append(router_id)
            if len(calls) == 2:
                raise sdk_exceptions.BadRequestException("no")
            return real(router_id, body)
        neutron.add_extra_routes_to_router = add_routes
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, cloud)
        assert caught.value.result.rollback_failures == []
        assert nothing_created(neutron) == NOTHING

    def _protected_then_damaged(self, tmp_path, neutron, cloud, damage):
        """Protect an app, change its saved metadata with ``damage``, wipe
        the app; return the service and the checkpoint."""
        net_id, _, _ = build_app(neutron)
        service = make_service(tmp_path)
        checkpoint_id = service.protect(
            cloud, "app", [(common.RESOURCE_TYPE, net_id)]).checkpoint_id
        checkpoint = service.checkpoints.get(checkpoint_id)
        resource = checkpoint.graph.resource((common.RESOURCE_TYPE, net_id))
        metadata = checkpoint.section(resource).load_metadata()
        damage(metadata)
        bank_edits.resave_metadata(checkpoint, resource, metadata)
        wipe(neutron)
        neutron.calls.clear()
        return service, checkpoint_id

    def test_metadata_that_breaks_the_schema_stops_restore_first(
            self, tmp_path, neutron, cloud):
        service, checkpoint_id = self._protected_then_damaged(
            tmp_path, neutron, cloud, lambda m: m["subnets"][0].pop("cidr"))
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.verify(checkpoint_id, cloud)
        assert any("subnets/0: 'cidr' is a required property" in p
                   for p in caught.value.result.problems)
        assert caught.value.result.failures == []
        with pytest.raises(saved_metadata.InvalidMetadata,
                           match="OS::Neutron::Network.*'cidr' is a "
                                 "required property"):
            service.restore(checkpoint_id, cloud)
        assert not [c for c in neutron.calls if c.startswith("create_")]

    def test_inconsistent_metadata_fails_verify_and_restore(
            self, tmp_path, neutron, cloud):
        service, checkpoint_id = self._protected_then_damaged(
            tmp_path, neutron, cloud,
            lambda m: m["subnets"][0].update(cidr="10.0.0/33"))
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.verify(checkpoint_id, cloud)
        assert any("10.0.0/33' does not parse" in f.message
                   for f in caught.value.failures)
        with pytest.raises(exceptions.PreflightFailed,
                           match="checkpoint metadata: .*10.0.0/33"):
            service.restore(checkpoint_id, cloud)
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, cloud, skip_preflight=True)
        assert "cannot restore" in caught.value.failures[0].message
        assert not [c for c in neutron.calls if c.startswith("create_")]

def mapping_key(mapping, original):
    return next(new for new, orig in mapping.items() if orig == original)
