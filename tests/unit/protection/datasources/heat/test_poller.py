"""The Heat datasource as a library: one datasource object polled again
and again against a fake Heat (tools/cloudkit/fake_heat.py). Stale rows
kept on a failure, reuse of unchanged stacks, incremental events, the
periodic full refresh, the steady-state call formula, diff, poll_loop,
non-ASCII text, the templates table."""

import json
import threading

import mock
import pytest
from openstack.orchestration.v1 import _proxy

from protection.datasources import PollResult
from protection.datasources import polling
from protection.datasources.heat import calls as heat_calls
from protection.datasources.heat.datasource import HeatDatasource
from protection.datasources.heat.tables import KEYS
from tools.cloudkit.fake_heat import FakeHeat

STACK_TABLES = {"stacks", "stack_parameters", "stack_outputs",
                "stacks_links"}


def make_conn(fake):
    proxy = mock.create_autospec(_proxy.Proxy, instance=True)
    proxy.get.side_effect = fake.get
    return mock.Mock(spec=["orchestration"], orchestration=proxy)


@pytest.fixture
def heat():
    return FakeHeat.sample(n_stacks=2, resources=2, nested=True)


@pytest.fixture
def source(heat):
    return HeatDatasource(make_conn(heat))


def by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def steady_calls(changed, k=10, new_configs=0):
    """The documented steady-state formula: 4 + C_new + sum over changed
    stacks of (4 + R_s + min(En_s, K)); ``changed``: (R_s, En_s) pairs."""
    return 4 + new_configs + sum(4 + r + min(e, k) for r, e in changed)


# -- stale rows ----------------------------------------------------------

def test_a_failed_call_keeps_the_previous_rows_marked_stale(heat):
    source = HeatDatasource(make_conn(heat), full_refresh_polls=1)
    first = source.poll()
    assert first.stale == set() and first.incomplete == set()
    assert first.complete == set(first.tables)
    s0 = heat.stacks[0]
    heat.fail(rf"^/stacks/stack0/{s0.id}$", status=503)
    second = source.poll()
    for table in STACK_TABLES:
        assert by(second.tables[table], **{
            "id" if table == "stacks" else "stack_id": s0.id}) == by(
            first.tables[table], **{
                "id" if table == "stacks" else "stack_id": s0.id}), table
    assert second.stale == STACK_TABLES
    assert second.incomplete == set()
    assert "resources" in second.complete
    (error,) = second.errors
    assert error["kept_rows"] == len(
        by(first.tables["stacks"], id=s0.id)) + sum(
        len(by(first.tables[t], stack_id=s0.id))
        for t in STACK_TABLES - {"stacks"})
    assert second.status("stacks") == "stale"
    assert polling.diff(first, second) == {
        "poll_errors": polling.TableDiff(second.errors, [], [])}

    heat._failures.clear()           # Heat answers again: fresh rows
    third = source.poll()
    assert third.stale == set() and third.errors == []


def test_a_failed_stack_list_keeps_every_stacks_rows(heat, source):
    first = source.poll()
    heat.fail(r"^/stacks$", status=500)
    second = source.poll()
    stack_tables = set(heat_calls.tables_after("stack_list")) - {
        "templates"}
    assert second.stale == stack_tables
    for table in stack_tables:
        assert sorted(map(json.dumps, second.tables[table])) == sorted(
            map(json.dumps, first.tables[table])), table
    assert "resource_types" in second.complete
    assert second.calls == 4         # the lists; nothing under /stacks


def test_stale_rows_survive_several_failed_polls(heat):
    source = HeatDatasource(make_conn(heat), full_refresh_polls=1)
    first = source.poll(only=["snapshots"])
    heat.fail(r"/snapshots$", status=500)
    for _ in range(3):
        again = source.poll(only=["snapshots"])
        assert again.tables["snapshots"] == first.tables["snapshots"]
        assert again.stale == {"snapshots"}


def test_a_failure_without_a_previous_poll_is_incomplete(heat, source):
    heat.fail(r"/snapshots$", status=500)
    result = source.poll(only=["snapshots"])
    assert result.tables["snapshots"] == []
    assert result.incomplete == {"snapshots"} and result.stale == set()
    assert result.status("snapshots") == "incomplete"
    assert {e["kept_rows"] for e in result.errors} == {0}


# -- unchanged stacks, incremental events, full refresh -----------------

def test_unchanged_stacks_are_not_read_again(heat, source):
    first = source.poll()
    heat.calls.clear()
    second = source.poll()
    assert second.calls == len(heat.calls) == steady_calls([]) == 4
    assert sorted(second.calls_by_kind) == [
        "config_list", "deployment_list", "resource_types", "stack_list"]
    assert not second.full and second.reused > 0
    assert polling.diff(first, second) == {}
    assert second.complete == set(second.tables)


def test_a_changed_stack_reads_only_its_new_events(heat, source):
    first = source.poll()
    s1 = heat.stacks[1]
    marker = [e for e in heat._events(s1, 5, {"sort_dir": "asc"})][-1]["id"]
    s1.add_resource("vol9", "OS::Cinder::Volume", "vol-9")   # 2 events
    s1.touch()
    heat.calls.clear()
    second = source.poll()
    # stack1 now has vol0, vol1, vol9, child and the nested net
    assert second.calls == steady_calls([(5, 2)]) == 15
    assert second.calls_by_kind["event_show"] == 2
    (params,) = [p for path, p in heat.calls if path.endswith("/events")]
    assert params == {"nested_depth": 5, "sort_dir": "asc",
                      "marker": marker}
    events = by(second.tables["events"], stack_id=s1.id)
    assert len(events) == len(by(first.tables["events"], stack_id=s1.id)) + 2
    assert len({e["id"] for e in second.tables["events"]}) == len(
        second.tables["events"])
    # the K newest of each stack have details, old ones reused
    assert len(second.tables["event_details"]) == 20
    changes = polling.diff(first, second)
    assert [r["resource_name"] for r in changes["resources"].added] == [
        "vol9"]
    assert len(changes["events"].added) == 2
    ((old, new),) = changes["stacks"].changed
    assert (old["stack_status"], new["stack_status"]) == (
        "CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert len(changes["event_details"].removed) == 2   # no longer newest


def test_a_stack_in_progress_is_always_read(heat, source):
    source.poll()
    heat.stacks[0].touch(status="UPDATE_IN_PROGRESS", when=None)
    source.poll()
    heat.calls.clear()
    third = source.poll()               # same mark, but in progress
    assert third.calls_by_kind["stack_show"] == 1
    assert third.calls_by_kind["event_list"] == 1


def test_every_nth_poll_is_a_full_refresh(heat):
    source = HeatDatasource(make_conn(heat), full_refresh_polls=3)
    calls = [source.poll().calls for _ in range(7)]
    full = 41
    assert calls == [full, 4, 4, full, 4, 4, full]
    every = HeatDatasource(make_conn(heat), full_refresh_polls=1)
    assert [every.poll().calls for _ in range(2)] == [full, full]


def test_a_full_refresh_drops_what_heat_no_longer_has(heat):
    source = HeatDatasource(make_conn(heat), full_refresh_polls=2)
    source.poll()
    s0 = heat.stacks[0]
    s0.metadata["vol0"] = {"backup": "weekly"}       # no new updated_time
    stale_view = source.poll()
    assert by(stale_view.tables["resource_metadata"], value="daily")
    refreshed = source.poll()
    assert refreshed.full
    values = {r["value"] for r in refreshed.tables["resource_metadata"]}
    assert values == {"daily", "weekly"}   # stack1 daily, stack0 weekly


def test_software_configs_are_read_once(heat, source):
    source.poll()
    heat.add_config("more", inputs=["x"])
    second = source.poll()
    assert second.calls == steady_calls([], new_configs=1)
    assert second.calls_by_kind["config_show"] == 1
    assert len(second.tables["software_configs"]) == 2


def test_polls_of_other_tables_do_not_reuse(heat, source):
    source.poll(only=["stacks"])
    heat.calls.clear()
    source.poll(only=["resources"])
    assert len(heat.calls) == 3           # list + 2 resource lists
    heat.calls.clear()
    source.poll(only=["resources"])
    assert len(heat.calls) == 1           # the list: both reused
    source.reset()
    heat.calls.clear()
    source.poll(only=["resources"])
    assert len(heat.calls) == 3


# -- fewer calls ---------------------------------------------------------

def test_outputs_are_resolved_only_when_asked_for(heat, source):
    source.poll(only=["stacks"])
    assert {p.get("resolve_outputs") for path, p in heat.calls
            if path.count("/") == 3} == {"false"}
    heat.calls.clear()
    result = HeatDatasource(make_conn(heat)).poll(only=["stack_outputs"])
    assert {p.get("resolve_outputs") for path, p in heat.calls
            if path.count("/") == 3} == {None}
    assert len(result.tables["stack_outputs"]) == 2


def test_resources_are_listed_with_detail_only_when_needed(heat, source):
    source.poll(only=["resources"])
    assert all("with_detail" not in p for path, p in heat.calls
               if path.endswith("/resources"))
    heat.calls.clear()
    result = HeatDatasource(make_conn(heat)).poll(
        only=["resource_attributes"])
    assert all(p.get("with_detail") == "true" for path, p in heat.calls
               if path.endswith("/resources"))
    # per stack: 2 volumes with 2 attributes, a net with 1, the nested
    # stack resource with none
    assert result.calls == 3 and len(result.tables[
        "resource_attributes"]) == 2 * (2 * 2 + 1)


def test_a_list_without_details_falls_back_to_one_call_each(heat, source):
    heat.detail_fields = ()                 # an older Heat
    first = source.poll()
    assert first.calls_by_kind["resource_show"] == 8
    assert first.calls_by_kind["resource_metadata"] == 8
    heat.answer(r"^/software_deployments$", {"software_deployments": [
        {"id": d} for d in heat.deployments]})
    second = HeatDatasource(make_conn(heat)).poll(
        only=["software_deployments"])
    assert second.calls_by_kind == {"deployment_list": 1,
                                    "deployment_show": 1}
    assert second.tables["software_deployments"][0]["server_id"] == "srv-1"


# -- templates -----------------------------------------------------------

def test_templates_are_opt_in(heat, source):
    assert "templates" not in source.poll().tables
    assert "template_show" not in source.poll().calls_by_kind
    heat.stacks[0].template["description"] = "ça marche ✓"
    result = HeatDatasource(make_conn(heat)).poll(only=["templates"])
    assert result.calls_by_kind == {"stack_list": 1, "template_show": 2}
    (row,) = by(result.tables["templates"], stack_id=heat.stacks[0].id)
    assert row["template_version"] == "2018-08-31"
    assert row["description"] == "ça marche ✓"
    assert json.loads(row["template"]) == heat.stacks[0].template


# -- non-ASCII -----------------------------------------------------------

def test_non_ascii_names_and_values_round_trip():
    heat = FakeHeat()
    stack = heat.add_stack("stäck", parameters={"grüße": "ça va ✓"},
                           outputs=[{"output_key": "clé",
                                     "output_value": {"日本": ["ü"]},
                                     "description": "sortie"}])
    stack.add_resource("böx", "OS::Heat::Value", "v-1",
                       attributes={"valeur": "é"},
                       metadata={"propriétaire": "Zoë"})
    stack.add_snapshot("instantané")
    heat.detail_fields = ("description",)          # per-resource calls too
    result = HeatDatasource(make_conn(heat)).poll()
    assert result.errors == []
    t = result.tables
    assert t["stacks"][0]["stack_name"] == "stäck"
    assert by(t["stack_parameters"], name="grüße")[0]["value"] == "ça va ✓"
    (out,) = t["stack_outputs"]
    assert out["output_key"] == "clé"
    assert json.loads(out["output_value"]) == {"日本": ["ü"]}
    assert [r["resource_name"] for r in t["resources"]] == ["böx"]
    assert t["resource_attributes"][0]["value"] == "é"
    assert (t["resource_metadata"][0]["key"],
            t["resource_metadata"][0]["value"]) == ("propriétaire", "Zoë")
    assert t["snapshots"][0]["name"] == "instantané"
    # paths are percent-encoded UTF-8
    assert any(path.endswith("/resources/b%C3%B6x/metadata")
               for path, _p in heat.calls)


# -- diff and poll_loop --------------------------------------------------

def result_of(tables, keys=None):
    return PollResult(tables, [], 0, {}, 0.0, keys=keys)


def test_diff_by_key_and_by_whole_row():
    old = result_of({"t": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}],
                     "links": [{"href": "x"}, {"href": "y"}]},
                    keys={"t": ("id",), "links": None})
    new = result_of({"t": [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}],
                     "links": [{"href": "y"}, {"href": "z"}]},
                    keys={"t": ("id",), "links": None})
    changes = polling.diff(old, new)
    assert changes["t"] == polling.TableDiff(
        [{"id": 3, "v": "c"}], [{"id": 1, "v": "a"}],
        [({"id": 2, "v": "b"}, {"id": 2, "v": "B"})])
    assert changes["links"] == polling.TableDiff(
        [{"href": "z"}], [{"href": "x"}], [])
    assert polling.diff(new, new) == {}
    assert polling.diff(result_of({}), new)["t"].added == new.tables["t"]


def test_every_table_has_key_columns_it_really_has():
    tables = HeatDatasource.tables()
    assert set(KEYS) == set(tables)
    for name, key in KEYS.items():
        assert key is None or set(key) <= set(tables[name].columns), name


def test_poll_loop_is_bounded_and_reuses_the_datasource(heat, source):
    results = list(polling.poll_loop(source, 0, polls=3))
    assert [r.calls for r in results] == [41, 4, 4]


def test_poll_loop_stops_when_told_and_waits_the_interval(source):
    waits = []

    class Stop(threading.Event):
        def wait(self, timeout=None):
            waits.append(round(timeout, 3))
            return False

    stop = Stop()
    clock = iter([0.0, 4.0, 10.0, 30.0, 40.0, 41.0]).__next__
    seen = []
    for result in polling.poll_loop(source, 10, stop=stop, clock=clock):
        seen.append(result)
        if len(seen) == 3:
            stop.set()
    assert len(seen) == 3
    assert waits == [6.0, 0.0]      # 10 - 4; a poll longer than 10 s


@pytest.mark.parametrize("kwargs,message", [
    ({}, "needs polls or stop"),
    ({"polls": 0}, "at least 1"),
    ({"polls": 1, "interval": -1}, "negative"),
])
def test_poll_loop_refuses_an_unbounded_or_odd_loop(source, kwargs,
                                                    message):
    args = {"interval": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        next(polling.poll_loop(source, **args))
