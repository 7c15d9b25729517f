"""The server plugin's restore pre-flight hook with mocked openstacksdk:
its checks, mappings and quota demands, and that it only reads."""

from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from plugins.server import mappings
from plugins.server.plugin import ServerPlugin
from protection.plugin.checks import FAIL
from protection.plugin.checks import PASS
from protection.plugin.checks import placeholder
from tests.fakes.plugin_helpers import obj
from tests.fakes.preflight import by_kind
from tests.fakes.preflight import mutating_calls
from tests.fakes.server_helpers import cloud
from tests.fakes.server_helpers import flavor
from tests.fakes.server_helpers import network
from tests.fakes.server_helpers import restore_ctx
from tests.fakes.server_helpers import saved

NET, SUB, SG = ("OS::Neutron::Network", "OS::Neutron::Subnet",
                "OS::Neutron::SecurityGroup")
IMAGE_AND_KEY = (("OS::Glance::Image", "img-1"), ("OS::Nova::KeyPair", "key"))
ADDRESSES = "port port-1: fixed IPs and MAC free"


def placeholders(*keys):
    return {key: placeholder(*key) for key in keys}


def server_preflight(conn, restored, parameters=None):
    if not isinstance(conn.compute.flavors.return_value, list):
        conn.compute.flavors.return_value = [
            flavor(extra_specs={"hw:cpu": "shared"})]
    conn.compute.availability_zones.return_value = [obj(name="nova")]
    conn.compute.find_keypair.return_value = obj(name="key")
    ctx = restore_ctx(conn, parameters=parameters, restored=restored)
    with mock.patch.object(mappings.sdk_utils, "supports_microversion",
                           return_value=True):
        return ServerPlugin().restore_preflight(ctx, ctx.resource)


def test_a_saved_root_disk_demands_one_image_of_its_size():
    conn = cloud()
    metadata = dict(saved(), root_disk={
        "snapshot_id": "snap-1", "image": {},
        "data": {"size": 5 * 1024 * 1024, "objects": []}})
    ctx = restore_ctx(conn, metadata=metadata, restored=placeholders(
        (NET, "net-1"), (SUB, "sub-1"), (SG, "sg-1"),
        ("OS::Nova::KeyPair", "key")))
    conn.compute.flavors.return_value = [flavor()]
    conn.compute.availability_zones.return_value = [obj(name="nova")]
    with mock.patch.object(mappings.sdk_utils, "supports_microversion",
                           return_value=True):
        items = ServerPlugin().restore_preflight(ctx, ctx.resource)
    _checks, maps, demands = by_kind(items)
    assert ("image", "snap-1",
            "new image of the root disk saved in the checkpoint") in maps
    assert demands["image.image_count_total"] == 1
    assert demands["image.image_size_total"] == 5


def server_check(conn, name, *restored):
    """The server's check ``name`` when ``restored`` are restored first."""
    checks, _maps, _demands = by_kind(server_preflight(
        conn, placeholders(*restored)))
    return checks[name]


def test_server_next_to_restored_children_passes_and_only_reads():
    conn = cloud()
    items = server_preflight(conn, placeholders(
        (NET, "net-1"), (SUB, "sub-1"), (SG, "sg-1"),
        ("OS::Glance::Image", "img-1"), ("OS::Nova::KeyPair", "key")))
    checks, maps, demands = by_kind(items)
    assert all(c.verdict == PASS for c in checks.values()), checks
    assert set(checks) >= {"flavor exists", "image exists",
                           "networks and security groups",
                           "port port-1: fixed IPs and MAC free"}
    assert ("flavor", "m1.tiny", "m1.tiny (fl-1)") in maps
    assert ("network", "net-1", "restored from the checkpoint") in maps
    assert ("security group", "sg-1", "restored from the checkpoint") in maps
    assert ("key pair", "key", "restored from the checkpoint") in maps
    assert ("availability zone", "nova", "nova") in maps
    # its floating IP's address is not held by the project: allocated
    assert demands == {"compute.instances": 1, "compute.cores": 1,
                       "compute.ram": 512, "network.ports": 1,
                       "network.floating_ips": 1}
    assert mutating_calls(conn) == []


def test_a_floating_ip_the_project_still_holds_is_no_quota_demand():
    conn = cloud()
    held = obj(id="fip-9", port_id=None)
    conn.network.ips.side_effect = lambda **q: (
        [held] if q.get("floating_ip_address") == "172.24.4.50" else [])
    _checks, _maps, demands = by_kind(server_preflight(
        conn, placeholders((NET, "net-1"), (SUB, "sub-1"), (SG, "sg-1"),
                           *IMAGE_AND_KEY)))
    assert "network.floating_ips" not in demands
    assert demands["network.ports"] == 1


def test_server_on_an_existing_network_with_its_address_taken_fails():
    conn = cloud()          # net-1 exists here; its port holds the IP
    taken = server_check(conn, ADDRESSES, *IMAGE_AND_KEY)
    assert taken.verdict == FAIL
    assert "10.0.0.5 (port port-1)" in taken.detail
    assert "keep_fixed_ips=false" in taken.detail
    conn.network.ports.assert_any_call(
        network_id="net-1", fixed_ips=["ip_address=10.0.0.5"])
    assert mutating_calls(conn) == []


def test_taken_addresses_on_another_projects_network_are_replaced():
    conn = cloud(networks={"net-1": network("net-1", project="other"),
                           "public": network("public", "admin", True)})
    taken = server_check(conn, ADDRESSES, *IMAGE_AND_KEY)
    assert taken.verdict == PASS
    assert "another project's" in taken.detail


def test_server_without_a_flavor_or_image_fails_naming_both():
    conn = cloud()
    conn.compute.find_flavor.side_effect = sdk_exceptions.NotFoundException
    conn.compute.get_flavor.side_effect = sdk_exceptions.NotFoundException
    conn.compute.flavors.return_value = []
    conn.image.get_image.side_effect = sdk_exceptions.NotFoundException
    items = server_preflight(conn, placeholders((NET, "net-1"),
                                                (SG, "sg-1")))
    checks, _maps, demands = by_kind(items)
    assert checks["flavor exists"].verdict == FAIL
    assert "no flavor in this cloud" in checks["flavor exists"].detail
    assert checks["image exists"].verdict == FAIL
    assert "image_mapping" in checks["image exists"].detail
    assert "compute.instances" not in demands


def test_server_with_an_excluded_network_says_to_map_it():
    conn = cloud()
    conn.network.get_network.side_effect = sdk_exceptions.NotFoundException
    failed = server_check(conn, "networks and security groups",
                          ("OS::Glance::Image", "img-1"), (SG, "sg-1"))
    assert failed.verdict == FAIL
    assert "network_mapping" in failed.detail


def test_volume_mapping_attaches_an_existing_volume():
    conn = cloud()
    conn.block_storage.find_volume.return_value = obj(id="vol-9",
                                                      status="available")
    ctx = restore_ctx(conn, parameters={"volume_mapping": {"vol-a": "spare"}})
    assert mappings.restored_volume(conn, ctx.parameters, ctx.restored,
                                    "vol-a") == "vol-9"
    with pytest.raises(Exception, match="volume_mapping"):
        mappings.restored_volume(conn, {}, ctx.restored, "vol-b")
