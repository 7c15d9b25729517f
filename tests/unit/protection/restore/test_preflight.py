"""Restore pre-flight pieces with mocked openstacksdk: quotas, the hooks
of the whole graph, the stages read from a built flow, the selection of a
selective restore. (The plugins' own hooks are tested with each plugin.)"""

from concurrent import futures
import re
import threading
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from flows import builder
from flows import stages as flow_stages
from protection.plugin.checks import Check
from protection.plugin.checks import Demand
from protection.plugin.checks import FAIL
from protection.plugin.checks import PASS
from protection.plugin.checks import QUOTA_SERVICES
from protection.plugin.checks import UNKNOWN
from protection.plugin.checks import placeholder
from protection import exceptions
from protection.restore import preflight
from protection.restore import preview
from protection.restore import quotas
from protection.restore import selection
from protection.model.graph import ResourceGraph
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds
from tests.fakes import fake_cloud
from tests.fakes.plugin_helpers import make_ctx
from tests.fakes.plugin_helpers import obj
from tests.fakes.preflight import mutating_calls


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


def test_quotas_read_ahead_are_not_asked_again():
    conn = quota_conn()
    with futures.ThreadPoolExecutor(2) as pool:
        ahead = quotas.read_ahead(pool, conn, ["compute"])
        found = quotas.checks(conn, {"compute.instances": 1,
                                     "network.ports": 1}, LABELS, ahead)
    assert [(c.name, c.verdict) for c in found] == [
        ("quota instances", PASS), ("quota ports", PASS)]
    conn.compute.get_quota_set.assert_called_once()
    conn.network.get_quota.assert_called_once()


def test_the_declared_services_of_a_graph():
    registry = PluginRegistry([_Demanding()])
    graph = ResourceGraph.build([Resource("Test::Server", "web", "web")],
                                lambda r: [])
    assert quotas.declared_services(registry, graph) == ["compute"]


def test_quotas_are_read_while_the_hooks_run():
    """The pre-flight's quota reads do not wait for the hooks: a hook
    and Nova's quota set meet at a barrier (one after the other, the
    first would wait alone until the barrier breaks)."""
    together = threading.Barrier(2, timeout=5)

    class Waiting(_Demanding):
        def restore_preflight(self, ctx, resource):
            together.wait()
            return [Demand("compute.cores", 1)]
    conn = quota_conn()
    quota_set = conn.compute.get_quota_set.return_value

    def read(*_args, **_kwargs):
        together.wait()
        return quota_set
    conn.compute.get_quota_set.side_effect = read
    registry = PluginRegistry([Waiting()])
    graph = ResourceGraph.build([Resource("Test::Server", "db", "db")],
                                lambda r: [])
    report = preflight.Report("cp")
    preview.hooks_and_quotas(registry, graph,
                             lambda r: mock.Mock(restored=RestoredIds()),
                             conn, report)
    assert [(c.name, c.verdict) for c in report.checks] == [
        ("quota cores", PASS)]
    conn.compute.get_quota_set.assert_called_once()


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
