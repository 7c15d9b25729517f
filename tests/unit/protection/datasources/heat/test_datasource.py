"""The Heat datasource against a fake Heat with recorded-shape answers
(tools/cloudkit/fake_heat.py), through a mock of openstacksdk's orchestration
proxy: every table, the call bound, ``only``, error isolation, read-only."""

import threading
import time

import mock
import pytest
from keystoneauth1 import exceptions as ks_exceptions
from openstack.orchestration.v1 import _proxy
from oslo_config import cfg

from protection import config
from protection import datasources
from protection import exceptions
from protection.datasources import docs
from protection.datasources.heat import calls as heat_calls
from protection.datasources.heat import stacks as heat_ds
from protection.datasources.heat.datasource import HeatDatasource
from tests.fakes.paths import ROOT
from tools.cloudkit.fake_heat import FakeHeat


def make_conn(fake):
    proxy = mock.create_autospec(_proxy.Proxy, instance=True)
    proxy.get.side_effect = fake.get
    conn = mock.Mock(spec=["orchestration"])
    conn.orchestration = proxy
    return conn


@pytest.fixture
def heat():
    return FakeHeat.sample(n_stacks=2, resources=2, nested=True)


@pytest.fixture
def conn(heat):
    return make_conn(heat)


def poll(conn, **kwargs):
    only = kwargs.pop("only", None)
    return HeatDatasource(conn, **kwargs).poll(only=only)


def by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def expected_calls(heat, depth=5, k=10):
    """The documented formula of a first (full) poll:
    4 + C + sum over s of (4 + R_s + min(E_s, K))."""
    total = 4 + len(heat.configs)
    for stack in heat.stacks:
        owners = [s for s, _level in stack.walk(depth)]
        resources = sum(len(s.resources) for s in owners)
        events = sum(len(s.events) for s in owners)
        total += 4 + resources + min(events, k)
    return total


# -- every table ---------------------------------------------------------

def test_every_table_is_filled_from_heat(heat, conn):
    result = poll(conn)
    assert result.errors == []
    t = result.tables
    assert set(t) == set(HeatDatasource.tables()) - {"templates"}
    empty = [name for name, rows in t.items()
             if not rows and name != "poll_errors"]
    assert empty == []
    s0 = heat.stacks[0]

    (stack,) = by(t["stacks"], id=s0.id)
    assert stack["stack_name"] == "stack0"
    assert stack["stack_status"] == "CREATE_COMPLETE"
    assert stack["disable_rollback"] is True
    assert stack["tags"] == "[]"
    assert {r["name"]: r["value"] for r in by(t["stack_parameters"],
                                              stack_id=s0.id)} == {
        "OS::stack_id": s0.id, "OS::project_id": "6d1a2e0b",
        "OS::stack_name": "stack0", "size": "1"}
    (out,) = by(t["stack_outputs"], stack_id=s0.id)
    assert out["output_key"] == "out" and out["output_value"] == '{"a": [0]}'
    (link,) = by(t["stacks_links"], stack_id=s0.id)
    assert link["rel"] == "self" and link["href"].endswith(s0.path)

    (snap,) = by(t["snapshots"], stack_id=s0.id)
    assert snap["name"] == "snap0" and snap["status"] == "COMPLETE"

    resources = by(t["resources"], stack_id=s0.id)
    assert {(r["resource_name"], r["nested_path"]) for r in resources} == {
        ("vol0", ""), ("vol1", ""), ("child", ""), ("net", "child")}
    (child,) = by(resources, resource_name="child")
    (net,) = by(resources, resource_name="net")
    child_stack = heat.by_id[child["physical_resource_id"]]
    assert child["nested_stack_id"] == child_stack.id
    assert child["owner_stack_id"] == s0.id
    assert net["owner_stack_id"] == child_stack.id
    assert net["owner_stack_name"] == child_stack.name
    assert net["parent_resource"] == "child"
    assert net["required_by"] == "[]"
    assert {r["rel"] for r in by(t["resources_links"],
                                 resource_id=child["id"])} == {
        "self", "stack", "nested"}
    (vol0,) = by(resources, resource_name="vol0")
    assert {r["name"]: r["value"] for r in by(t["resource_attributes"],
                                              resource_id=vol0["id"])} == {
        "size": 1, "attachments": "[]"}
    assert by(t["resource_attributes"], resource_id=net["id"]) == [
        {"resource_id": net["id"], "name": "name", "value": "n"}]
    assert by(t["resource_metadata"], resource_id=vol0["id"]) == [
        {"resource_id": vol0["id"], "key": "backup", "value": "daily"}]

    assert [r["resource_type"] for r in t["resource_types"]] == \
        heat.resource_types

    events = by(t["events"], stack_id=s0.id)
    assert len(events) == sum(len(s.events) for s, _l in s0.walk(5))
    assert {e["owner_stack_id"] for e in events} == {s0.id, child_stack.id}
    assert {r["rel"] for r in t["events_links"]} == {
        "self", "resource", "stack", "root_stack"}
    details = {d["event_id"]: d for d in t["event_details"]}
    assert len(details) == 2 * 10          # K newest of each stack
    vol_events = [e for e in events if e["resource_name"] == "vol0"
                  and e["id"] in details]
    assert vol_events
    assert details[vol_events[0]["id"]]["resource_type"] == \
        "OS::Cinder::Volume"
    assert details[vol_events[0]["id"]]["resource_properties"] == \
        '{"size": 1}'

    (config_,) = t["software_configs"]
    assert config_["group"] == "script" and config_["config"].startswith(
        "#!/bin/sh")
    assert [r["name"] for r in t["software_config_inputs"]] == ["foo"]
    assert [r["name"] for r in t["software_config_outputs"]] == ["result"]
    assert {r["config_id"] for r in t["software_config_inputs"]} == {
        config_["id"]}
    (dep,) = t["software_deployments"]
    assert dep["config_id"] == config_["id"] and dep["server_id"] == "srv-1"
    assert t["deployment_input_values"] == [
        {"deployment_id": dep["id"], "name": "foo", "value": "bar"}]
    assert t["deployment_output_values"] == [
        {"deployment_id": dep["id"], "name": "result", "value": "ok"}]


def test_rows_have_exactly_the_declared_columns(conn):
    result = poll(conn, only=list(HeatDatasource.tables()))
    for name, table in HeatDatasource.tables().items():
        for row in result.tables[name]:
            assert tuple(row) == table.columns, name


def test_resource_ids_are_stable_across_polls(conn):
    first = {r["id"] for r in poll(conn).tables["resources"]}
    second = {r["id"] for r in poll(conn).tables["resources"]}
    assert first == second and len(first) == 8


def test_nested_paths_follow_nested_stacks_down():
    heat = FakeHeat()
    top = heat.add_stack("top")
    mid = heat.add_nested(top, "tier")
    low = heat.add_nested(mid, "db")
    low.add_resource("vol", "OS::Cinder::Volume", "v-1")
    rows = poll(make_conn(heat), only=["resources"]).tables["resources"]
    assert {r["resource_name"]: r["nested_path"] for r in rows} == {
        "tier": "", "db": "tier", "vol": "tier/db"}


def test_nested_depth_is_sent_and_limits_what_is_read(heat):
    conn = make_conn(heat)
    rows = poll(conn, nested_depth=0, only=["resources"]).tables["resources"]
    assert {r["nested_path"] for r in rows} == {""}
    assert all(params == {} for path, params in heat.calls
               if path.endswith("/resources"))
    heat.calls.clear()
    poll(conn, nested_depth=3, only=["resources"])
    assert [params for path, params in heat.calls
            if path.endswith("/resources")] == [{"nested_depth": 3}] * 2


# -- cost ----------------------------------------------------------------

def test_a_full_poll_makes_the_documented_number_of_calls(heat, conn):
    result = poll(conn)
    assert result.calls == len(heat.calls) == expected_calls(heat) == 41
    assert result.calls_by_kind["event_show"] == 20
    assert result.calls_by_kind["resource_metadata"] == 8
    # the lists carry resources' attributes and deployments whole
    assert not {"resource_show", "deployment_show"} & set(
        result.calls_by_kind)
    assert result.full and result.reused == 0


@pytest.mark.parametrize("n_stacks,k", [(1, 0), (3, 2), (5, 50)])
def test_call_count_formula_holds(n_stacks, k):
    heat = FakeHeat.sample(n_stacks=n_stacks, resources=3)
    result = poll(make_conn(heat), max_event_details=k)
    assert result.calls == expected_calls(heat, k=k)


@pytest.mark.parametrize("only,calls", [
    (["resource_types"], {"resource_types": 1}),
    (["stacks"], {"stack_list": 1, "stack_show": 2}),
    (["stack_parameters", "stacks_links"], {"stack_list": 1,
                                            "stack_show": 2}),
    (["snapshots"], {"stack_list": 1, "snapshot_list": 2}),
    (["resources"], {"stack_list": 1, "resource_list": 2}),
    (["resource_metadata"], {"stack_list": 1, "resource_list": 2,
                             "resource_metadata": 8}),
    (["resource_attributes"], {"stack_list": 1, "resource_list": 2}),
    (["events_links"], {"stack_list": 1, "event_list": 2}),
    (["event_details"], {"stack_list": 1, "event_list": 2,
                         "event_show": 20}),
    (["software_config_outputs"], {"config_list": 1, "config_show": 1}),
    (["deployment_output_values"], {"deployment_list": 1}),
    (["templates"], {"stack_list": 1, "template_show": 2}),
    (["poll_errors"], {}),
])
def test_only_makes_just_the_calls_its_tables_need(conn, only, calls):
    result = poll(conn, only=only)
    assert result.calls_by_kind == calls
    assert set(result.tables) == set(only) | {"poll_errors"}
    for name in only:
        if name != "poll_errors":
            assert result.tables[name], name


def test_only_refuses_an_unknown_table(conn):
    with pytest.raises(datasources.UnknownTable, match="no table 'stack'"):
        poll(conn, only=["stack"])
    conn.orchestration.get.assert_not_called()


def test_calls_run_concurrently_within_the_bound():
    heat = FakeHeat.sample(n_stacks=6, resources=3)
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()
    real_get = heat.get

    def slow_get(path, params=None, **kwargs):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.005)
        try:
            return real_get(path, params, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    conn = make_conn(heat)
    conn.orchestration.get.side_effect = slow_get
    result = poll(conn, max_workers=3)
    assert result.errors == []
    assert state["peak"] == 3
    state["peak"] = 0
    poll(conn, max_workers=1)
    assert state["peak"] == 1


# -- read-only -----------------------------------------------------------

def test_a_poll_only_ever_calls_get(conn):
    poll(conn)
    heat_ds.stack_physical_resources(conn, "stack0")
    names = {call[0] for call in conn.orchestration.mock_calls}
    assert names == {"get"}
    for call in conn.orchestration.get.call_args_list:
        assert set(call.kwargs) <= {"params", "raise_exc"}
        assert call.kwargs.get("raise_exc") is False


# -- errors are isolated per stack and per call -------------------------

def test_a_failing_stack_show_drops_only_that_stacks_rows(heat, conn):
    s0, s1 = heat.stacks
    heat.fail(rf"^/stacks/stack0/{s0.id}$", status=500)
    result = poll(conn)
    t = result.tables
    assert [r["id"] for r in t["stacks"]] == [s1.id]
    assert by(t["stack_parameters"], stack_id=s0.id) == []
    assert by(t["stack_parameters"], stack_id=s1.id)
    assert by(t["resources"], stack_id=s0.id)     # other calls still ran
    (error,) = result.errors
    assert error == {
        "stack_id": s0.id, "stack_name": "stack0",
        "call": f"GET /stacks/stack0/{s0.id}",
        "tables": "stack_outputs, stack_parameters, stacks, stacks_links",
        "reason": error["reason"], "kept_rows": 0}
    assert error["reason"].startswith("HTTP 500")
    assert t["poll_errors"] == result.errors


def test_a_failing_resource_list_drops_what_depends_on_it(heat, conn):
    s1 = heat.stacks[1]
    heat.fail(rf"^/stacks/stack1/{s1.id}/resources$", status=503)
    result = poll(conn)
    t = result.tables
    assert by(t["resources"], stack_id=s1.id) == []
    assert by(t["resources"], stack_id=heat.stacks[0].id)
    assert by(t["resource_attributes"])
    (error,) = result.errors
    assert error["stack_name"] == "stack1"
    assert error["tables"] == ("resource_attributes, resource_metadata, "
                               "resources, resources_links")


def test_a_failing_metadata_call_drops_one_resources_metadata(heat, conn):
    # Heat's detailed list leaves metadata out: one call per resource
    s0 = heat.stacks[0]
    heat.fail(rf"/stacks/stack0/{s0.id}/resources/vol0/metadata$", 404)
    result = poll(conn)
    assert result.calls_by_kind["resource_metadata"] == 8
    assert "resource_show" not in result.calls_by_kind
    (error,) = result.errors
    assert error["tables"] == "resource_metadata"
    assert error["reason"].startswith("HTTP 404")
    assert len(result.tables["resource_metadata"]) == 1   # stack1's vol0


def test_a_failing_stack_list_leaves_project_wide_tables(heat, conn):
    heat.fail(r"^/stacks$", status=500)
    result = poll(conn)
    assert result.tables["stacks"] == [] and result.tables["events"] == []
    assert result.tables["resource_types"]
    assert result.tables["software_configs"]
    (error,) = result.errors
    assert error["stack_id"] is None and error["call"] == "GET /stacks"
    assert "resources" in error["tables"].split(", ")
    assert result.calls == 1 + 1 + 2 + 1     # lists + a config show
    assert result.incomplete == {
        t for t in heat_calls.tables_after("stack_list")} - {"templates"}
    assert result.stale == set()


def test_a_malformed_answer_is_isolated_to_its_call(heat, conn):
    s0 = heat.stacks[0]
    broken = {"stack": dict(s0.show(), parameters=["not", "a", "dict"])}
    heat.answer(rf"^/stacks/stack0/{s0.id}$", broken)
    heat.answer(r"^/resource_types$", {"unexpected": []})
    result = poll(conn)
    t = result.tables
    assert [r["stack_name"] for r in t["stacks"]] == ["stack1"]
    # never half a stack: its scalar row is not kept either
    assert by(t["stack_outputs"], stack_id=s0.id) == []
    assert t["resource_types"] == []
    reasons = sorted(e["reason"] for e in result.errors)
    assert reasons[0].startswith("MalformedData: GET /resource_types")
    assert "stacks.parameters: expected an object, got a list" in reasons[1]


def test_a_connection_error_is_isolated_too(heat, conn):
    real_get = heat.get

    def get(path, params=None, **kwargs):
        if path.endswith("/snapshots") and "stack1" in path:
            raise ks_exceptions.ConnectFailure("connection refused")
        return real_get(path, params, **kwargs)
    conn.orchestration.get.side_effect = get
    result = poll(conn)
    (error,) = result.errors
    assert error["tables"] == "snapshots"
    assert error["reason"] == "ConnectFailure: connection refused"
    assert len(result.tables["snapshots"]) == 1


def test_a_stack_without_an_id_is_reported_and_skipped(heat, conn):
    body = {"stacks": [heat.stacks[0].summary(), {"stack_name": "ghost"}]}
    heat.answer(r"^/stacks$", body)
    result = poll(conn, only=["stacks"])
    assert [r["stack_name"] for r in result.tables["stacks"]] == ["stack0"]
    (error,) = result.errors
    assert "ghost" in error["reason"]


# -- events --------------------------------------------------------------

def test_event_details_are_read_for_the_newest_k(heat, conn):
    result = poll(conn, only=["events", "event_details"],
                  max_event_details=3)
    events = {e["id"]: e for e in result.tables["events"]}
    detailed = {d["event_id"] for d in result.tables["event_details"]}
    assert len(detailed) == 6
    for stack in heat.stacks:
        mine = sorted((e for e in events.values()
                       if e["stack_id"] == stack.id),
                      key=lambda e: (e["event_time"], e["id"]))
        assert {e["id"] for e in mine[-3:]} <= detailed
    none = poll(conn, only=["event_details"], max_event_details=0)
    assert none.calls_by_kind == {"stack_list": 1, "event_list": 2}


# -- stack_physical_resources -------------------------------------------

def test_stack_physical_resources_for_the_stack_plugin(heat, conn):
    s0 = heat.stacks[0]
    s0.add_resource("pending", "OS::Nova::Server", "")
    heat.calls.clear()
    found = heat_ds.stack_physical_resources(conn, s0.id)
    assert len(heat.calls) == 2
    assert [(p.resource_type, p.name, p.nested_path, p.status)
            for p in found] == [
        ("OS::Cinder::Volume", "vol0", "", "CREATE_COMPLETE"),
        ("OS::Cinder::Volume", "vol1", "", "CREATE_COMPLETE"),
        ("file:///tmp/nested.yaml", "child", "", "CREATE_COMPLETE"),
        ("OS::Neutron::Net", "net", "child", "CREATE_COMPLETE")]
    assert found[0].physical_resource_id == s0.resources[0][
        "physical_resource_id"]
    heat.calls.clear()
    again = heat_ds.stack_physical_resources(conn, s0.id,
                                             stack_name="stack0")
    assert again == found and len(heat.calls) == 1
    shallow = heat_ds.stack_physical_resources(conn, s0.id, nested_depth=0,
                                               stack_name="stack0")
    assert [p.name for p in shallow] == ["vol0", "vol1", "child"]


def test_stack_physical_resources_of_a_missing_stack(conn):
    with pytest.raises(exceptions.ResourceNotFound,
                       match="Heat stack nope does not exist"):
        heat_ds.stack_physical_resources(conn, "nope")


# -- configuration and loading ------------------------------------------

def test_options_come_from_the_config_group(tmp_path, conn):
    path = tmp_path / "stackvault.conf"
    path.write_text("[heat_datasource]\nmax_workers = 2\nnested_depth = 1\n"
                    "max_event_details = 0\n")
    conf = config.load_config([str(path)], conf=cfg.ConfigOpts())
    source = datasources.load("heat", conn, conf)
    assert isinstance(source, HeatDatasource)
    assert (source.max_workers, source.nested_depth,
            source.max_event_details) == (2, 1, 0)
    assert HeatDatasource(conn, conf, max_workers=5).max_workers == 5
    with pytest.raises(TypeError, match="unknown option"):
        HeatDatasource(conn, nested=1)


def test_a_bad_option_value_is_a_config_error(tmp_path, conn):
    path = tmp_path / "stackvault.conf"
    path.write_text("[heat_datasource]\nmax_workers = 0\n")
    conf = config.load_config([str(path)], conf=cfg.ConfigOpts())
    with pytest.raises(exceptions.ConfigError, match="max_workers"):
        datasources.load("heat", conn, conf)


def test_loading_an_unknown_datasource():
    assert "heat" in datasources.names()
    with pytest.raises(datasources.UnknownDatasource,
                       match="no datasource 'nova'.*heat"):
        datasources.load_class("nova")


# -- documentation -------------------------------------------------------

def test_every_table_and_column_is_documented():
    for table in HeatDatasource.tables().values():
        assert table.doc, table.name
        for col in table.columns:
            assert table.column_docs.get(col), (table.name, col)


def test_the_issue_tables_exist():
    assert {"stacks", "stack_parameters", "stack_outputs", "stacks_links",
            "snapshots", "resources", "resources_links", "resource_metadata",
            "resource_types", "events", "events_links", "software_configs",
            "software_config_inputs", "software_config_outputs",
            "software_deployments", "deployment_output_values"} <= set(
        HeatDatasource.tables())


def test_doc_page_is_current():
    checked_in = ROOT / "doc" / "datasources" / "heat.rst"
    assert checked_in.read_text() == docs.render_rst(HeatDatasource), (
        "doc/datasources/heat.rst is stale: run 'python -m "
        "protection.datasources.docs heat > doc/datasources/heat.rst'")
