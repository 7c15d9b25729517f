"""Restore pre-flight pieces with mocked openstacksdk: the server's and
the volume's hooks (and that they only read), quotas, the plan read from
a built flow, the selection of a selective restore."""

import re
import threading
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from flows import builder
from flows import stages as flow_stages
from plugins import volume as volume_plugin
from plugins.server import mappings
from plugins.server.plugin import ServerPlugin
from protection.plugin.checks import Check
from protection.plugin.checks import Demand
from protection.plugin.checks import FAIL
from protection.plugin.checks import Mapping
from protection.plugin.checks import PASS
from protection.plugin.checks import QUOTA_SERVICES
from protection.plugin.checks import UNKNOWN
from protection.plugin.checks import placeholder
from protection import exceptions
from protection.restore import preflight
from protection.restore import quotas
from protection.restore import selection
from protection.model.graph import ResourceGraph
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds
from tests import fake_cloud
from tests.unit.plugin_helpers import make_ctx
from tests.unit.plugin_helpers import obj
from tests.unit.server_helpers import cloud
from tests.unit.server_helpers import flavor
from tests.unit.server_helpers import network
from tests.unit.server_helpers import restore_ctx
from tests.unit.server_helpers import saved

# A call whose name says it changes something; a dry-run makes none.
MUTATING = re.compile(r"(^|\.)(create|delete|update|set|add|remove|attach|"
                      r"detach|upload|import)_?")
NET, SUB, SG = ("OS::Neutron::Network", "OS::Neutron::Subnet",
                "OS::Neutron::SecurityGroup")
IMAGE_AND_KEY = (("OS::Glance::Image", "img-1"), ("OS::Nova::KeyPair", "key"))
ADDRESSES = "port port-1: fixed IPs and MAC free"


def mutating_calls(conn):
    return [name for name, _args, _kw in conn.mock_calls
            if MUTATING.search(name)]


def by_kind(items):
    checks = {c.name: c for c in items if isinstance(c, Check)}
    maps = [(m.what, m.original, m.target) for m in items
            if isinstance(m, Mapping)]
    demands = {d.quota: d.amount for d in items
               if isinstance(d, Demand)}
    return checks, maps, demands


def placeholders(*keys):
    return {key: placeholder(*key) for key in keys}


# -- the server's hook -------------------------------------------------------
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


# -- the volume's hook -------------------------------------------------------
VOL = Resource("OS::Cinder::Volume", "vol-1", "data")
SAVED_VOLUME = {"backup_id": "bk-1", "size": 3, "name": "data",
                "description": "", "metadata": {}, "volume_type": "fast",
                "availability_zone": "nova", "bootable": False,
                "image_metadata": {}}


def volume_preflight(conn, parameters=None):
    conn.block_storage.availability_zones.return_value = [obj(name="nova")]
    ctx = make_ctx(VOL, conn, operation="restore", parameters=parameters,
                   metadata=SAVED_VOLUME)
    return volume_plugin.VolumePlugin().restore_preflight(ctx, VOL)


def test_volume_checks_backup_type_and_zone_and_demands_quota():
    conn = mock.Mock()
    conn.block_storage.get_backup.return_value = obj(status="available")
    conn.block_storage.find_type.return_value = None
    checks, maps, demands = by_kind(volume_preflight(conn))
    assert checks["backup available"].verdict == PASS
    assert checks["volume type exists"].verdict == FAIL
    assert "volume_type_mapping" in checks["volume type exists"].detail
    assert checks["availability zone exists"].verdict == PASS
    assert demands == {"volume.volumes": 1, "volume.gigabytes": 3}
    assert ("volume type", "fast", "fast") in maps
    assert mutating_calls(conn) == []


def test_volume_whose_backup_is_gone_fails():
    conn = mock.Mock()
    conn.block_storage.get_backup.side_effect = \
        sdk_exceptions.NotFoundException
    checks, maps, _demands = by_kind(volume_preflight(
        conn, {"volume_type": "slow", "restore_name": "copy"}))
    assert checks["backup available"].verdict == FAIL
    assert "is not visible here" in checks["backup available"].detail
    assert ("name", "data", "copy") in maps
    assert ("volume type", "fast", "slow") in maps


# -- quotas ------------------------------------------------------------------
# What stackvault's own plugins declare (their quota_demands, merged).
LABELS = {"compute.instances": "instances", "compute.cores": "cores",
          "compute.ram": "RAM (MiB)", "volume.volumes": "volumes",
          "network.ports": "ports", "image.image_count_total": "images",
          "image.image_size_total": "image MiB"}


def quota_conn():
    conn = mock.Mock()
    conn.compute.get_quota_set.return_value = obj(
        instances=10, cores=4, ram=-1, usage={"instances": 2, "cores": 3},
        reservation={"cores": 0})
    conn.network.get_quota.return_value = obj(
        ports={"limit": 50, "used": 10, "reserved": 0})
    conn.block_storage.get_quota_set.side_effect = \
        sdk_exceptions.ForbiddenException("policy")
    return conn


def test_quotas_pass_fail_unlimited_and_unknown():
    conn = quota_conn()
    found = {c.name: c for c in quotas.checks(conn, {
        "compute.instances": 1, "compute.cores": 2, "compute.ram": 4096,
        "network.ports": 3, "volume.volumes": 2}, LABELS)}
    assert found["quota instances"].verdict == PASS
    assert found["quota cores"].verdict == FAIL
    assert found["quota cores"].detail == "needs 2, 1 free (3 of 4 used)"
    assert found["quota RAM (MiB)"].detail == "needs 4096; unlimited"
    assert found["quota ports"].verdict == PASS
    assert found["quota volumes"].verdict == UNKNOWN
    conn.compute.get_quota_set.assert_called_once_with(
        conn.current_project_id, usage=True)
    assert mutating_calls(conn) == []


def glance_usage(conn, status=200, usage=None):
    answer = mock.Mock(status_code=status)
    answer.json.return_value = {"usage": usage or {}}
    conn.image.get.return_value = answer


@pytest.mark.parametrize("usage,verdicts", [
    ({}, [PASS, PASS]),     # no unified limits
    ({"image_count_total": {"limit": 5, "usage": 4},
      "image_size_total": {"limit": 1000, "usage": 900}},
     [PASS, FAIL]),
])
def test_glance_quotas_from_its_unified_limits(usage, verdicts):
    conn = quota_conn()
    glance_usage(conn, usage=usage)
    found = quotas.checks(conn, {"image.image_count_total": 1,
                                 "image.image_size_total": 200}, LABELS)
    assert [c.verdict for c in found] == verdicts
    conn.image.get.assert_called_once_with("/info/usage")
    if usage:
        assert found[1].detail == "needs 200, 100 free (900 of 1000 used)"


def test_a_glance_without_the_usage_api_is_unknown():
    conn = quota_conn()
    conn.image.get.return_value = mock.Mock(status_code=404)
    with mock.patch.object(quotas.sdk_exceptions, "raise_from_response",
                           side_effect=sdk_exceptions.NotFoundException(
                               "no /v2/info/usage")):
        found = quotas.checks(conn, {"image.image_count_total": 1}, LABELS)
    assert found[0].verdict == UNKNOWN
    assert "the image quota could not be read" in found[0].detail


def test_a_name_a_plugin_declares_is_read_from_its_service_and_field():
    # compute.server_groups is in no list of stackvault's: declaring it
    # is enough for its limit and use to be read from Nova's quota set.
    conn = quota_conn()
    conn.compute.get_quota_set.return_value = obj(
        server_groups=10, usage={"server_groups": 9},
        reservation={"server_groups": 1})
    found = quotas.checks(conn, {"compute.server_groups": 1},
                          {**LABELS, "compute.server_groups": "server groups"})
    assert [(c.name, c.verdict, c.detail) for c in found] == [
        ("quota server groups", FAIL, "needs 1, 0 free (10 of 10 used)")]


def test_a_declared_field_the_cloud_does_not_show_is_unknown():
    conn = quota_conn()
    found = quotas.checks(conn, {"compute.gadgets": 1},
                          {"compute.gadgets": "gadgets"})
    assert found[0].verdict == UNKNOWN
    assert "the cloud shows no limit" in found[0].detail


def test_a_demand_no_plugin_declared_is_a_plugin_error():
    with pytest.raises(exceptions.PluginError,
                       match="'compute.server_groups'.*declared by no "
                             "plugin"):
        quotas.checks(quota_conn(), {"compute.server_groups": 1}, LABELS)


def test_the_readers_are_the_declarable_services():
    assert list(quotas.READERS) == list(QUOTA_SERVICES)


def test_only_demanded_services_are_asked():
    conn = quota_conn()
    assert quotas.checks(conn, {}, LABELS) == []
    assert not conn.compute.get_quota_set.called


def test_quota_services_are_asked_at_once():
    conn = quota_conn()
    conn.block_storage.get_quota_set.side_effect = None
    conn.block_storage.get_quota_set.return_value = obj(
        volumes=10, usage={}, reservation={})
    together = threading.Barrier(3, timeout=5)

    def answer(found):
        def read(*_args, **_kwargs):
            together.wait()     # breaks (-> unknown) unless all 3 ask
            return found
        return read
    for service, getter in ((conn.compute, "get_quota_set"),
                            (conn.block_storage, "get_quota_set"),
                            (conn.network, "get_quota")):
        method = getattr(service, getter)
        method.side_effect = answer(method.return_value)
    found = quotas.checks(conn, {"compute.instances": 1,
                                 "volume.volumes": 1, "network.ports": 1},
                         LABELS)
    assert [(c.name, c.verdict) for c in found] == [
        ("quota instances", PASS),
        ("quota volumes", PASS),
        ("quota ports", PASS)]


# -- the hooks of the whole graph ---------------------------------------------
class _Hooked:
    """A plugin whose pre-flight hook records what it saw of its
    children, and waits at ``barrier`` (when given) for the others of its
    level."""

    def __init__(self, graph, barrier=None):
        self.graph, self.barrier, self.seen = graph, barrier, {}

    def get(self, _rtype):
        return self

    def restore_preflight(self, ctx, resource):
        if self.barrier is not None and not self.graph.children(resource):
            self.barrier.wait()
        self.seen[resource.id] = sorted(
            str(ctx.restored.get(child.type, child.id))
            for child in self.graph.children(resource))
        return [Check(f"checked {resource.id}", PASS)]


def hooked_run(barrier=None):
    _registry, graph = fake_graph()
    hooked = _Hooked(graph, barrier)
    restored = RestoredIds()
    report = preflight.Report("cp")

    def make_context(resource):
        return mock.Mock(restored=restored, resource=resource)
    preflight.run_hooks(hooked, graph, make_context, report)
    return graph, hooked, report


def test_hooks_of_one_level_run_at_once():
    # The two leaves (image, network) meet at the barrier: run one after
    # the other, the first would wait alone until the barrier breaks.
    graph, _hooked, report = hooked_run(threading.Barrier(2, timeout=5))
    assert [c.verdict for c in report.checks] == [PASS] * len(
        graph)


def test_parents_see_their_childrens_placeholders_and_items_keep_order():
    graph, hooked, report = hooked_run()
    assert hooked.seen["web"] == sorted([
        placeholder("Test::Network", "net"),
        placeholder("Test::Volume", "vol-web")])
    assert [c.name for c in report.checks] == [
        f"checked {r.id}" for level in graph.levels() for r in level]
    assert {c.resource for c in report.checks} == {
        f"{r.type}#{r.id}" for r in graph}


class _Demanding(fake_cloud.RecordPlugin):
    """Declares cores, demands cores and (on web) server groups."""

    resource_type = "Test::Server"
    quota_demands = {"compute.cores": "cores"}

    def restore_preflight(self, ctx, resource):
        extra = [Demand("compute.server_groups", 1)] \
            if resource.id == "web" else []
        return [Demand("compute.cores", 1), *extra]


@pytest.mark.parametrize("rid, undeclared", [("db", False), ("web", True)])
def test_a_demand_of_an_undeclared_quota_is_a_contract_error(rid,
                                                             undeclared):
    registry = PluginRegistry([_Demanding()])
    graph = ResourceGraph.build([Resource("Test::Server", rid, rid)],
                                lambda r: [])
    report = preflight.Report("cp")
    run = lambda: preflight.run_hooks(    # noqa: E731
        registry, graph, lambda r: mock.Mock(restored=RestoredIds()),
        report)
    if not undeclared:
        run()
        assert report.demands == {"compute.cores": 1}
        return
    with pytest.raises(exceptions.PluginError) as err:
        run()
    assert "_Demanding (Test::Server) demands quota " \
        "'compute.server_groups', which it does not declare" in str(err.value)


# -- the stages, read from the built flow -------------------------------------
def fake_graph():
    conn = fake_cloud.app_cloud()
    registry = PluginRegistry([cls() for cls in fake_cloud.ALL])
    roots = [registry.get("Test::Server").show_resource(conn, rid)
             for rid in ("web", "db")]
    return registry, ResourceGraph.build(
        roots, lambda r: registry.get(r.type).dependencies(conn, r))


def test_stages_follow_the_built_flow():
    registry, graph = fake_graph()
    built = builder.build("restore", graph, registry,
                          lambda r: make_ctx(r, operation="restore"))
    stages = [[r.id for r in stage] for stage in flow_stages.stages(built)]
    assert stages == [["img", "net"], ["vol-db", "vol-web"], ["db", "web"]]
    assert flow_stages.steps(built)["Test::Server#web"] == ["CreateRecord"]


def test_protect_flows_have_no_ordering_between_resources():
    registry, graph = fake_graph()
    built = builder.build("protect", graph, registry,
                          lambda r: make_ctx(r))
    assert len(flow_stages.stages(built)) == 1


# -- selection ---------------------------------------------------------------
def ids(graph):
    return sorted(r.id for r in graph)


def test_only_takes_what_the_resource_needs():
    _registry, graph = fake_graph()
    chosen = selection.select(graph, only=[("Test::Volume", "vol-web")])
    assert ids(chosen) == ["img", "vol-web"]
    assert [r.id for r in chosen.roots] == ["vol-web"]


def test_exclude_leaves_out_what_only_it_needed():
    _registry, graph = fake_graph()
    chosen = selection.select(graph, exclude=[("Test::Network", "net"),
                                              ("Test::Volume", "vol-db")])
    assert ids(chosen) == ["db", "img", "vol-web", "web"]
    left = {e["resource"]: e["needed_by"]
            for e in selection.excluded(graph, chosen)}
    assert left == {"Test::Network#net": ["Test::Server#web",
                                          "Test::Server#db"],
                    "Test::Volume#vol-db": ["Test::Server#db"]}


@pytest.mark.parametrize("only,exclude,message", [
    ([("Test::Volume", "nope")], [], "--only Test::Volume=nope: no such"),
    ([], [("Test::Server", "x")], "--exclude Test::Server=x: no such"),
    ([("Test::Server", "web")], [("Test::Server", "web")], "both"),
    ([], [("Test::Server", "web"), ("Test::Server", "db")],
     "nothing left to restore"),
])
def test_selection_mistakes(only, exclude, message):
    _registry, graph = fake_graph()
    with pytest.raises(selection.SelectionError, match=re.escape(message)):
        selection.select(graph, only, exclude)
