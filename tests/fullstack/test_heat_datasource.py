"""The Heat datasource against a real Heat.

Two small stacks are created: ``A`` with a nested template stack (random
strings, a value, a software config, Neutron networks at both levels,
resource metadata) and ``B`` (flat, tagged, with a Heat snapshot); plus a
software deployment of A's config. Descriptions, parameter values,
metadata and the snapshot name are not ASCII (Heat refuses a stack name
that is not: it must be letters, digits, ``_-.``). Every table is read and
checked against what was created; the poll must not change anything in
Heat. One datasource object then polls again: unchanged stacks are not
read, a failed call keeps its rows (stale), an updated stack's new events
are read by marker. The stacks and the deployment are deleted at
teardown, with a bounded wait.
"""

import io
import json
import secrets

import mock
import pytest

from protection.cli import main as cli
from protection.datasources import polling
from protection.datasources.heat import stacks as heat_ds
from protection.datasources.heat.datasource import HeatDatasource
from tests.fakes.heat_stacks import Heat
from tests.fakes.heat_stacks import json_of

DESCRIPTION = "stackvault fullstack : source de données Heat A ✓"
GREETING = "grüß dich, ça va ✓"
SNAPSHOT = "fs-snäp ✓"

NESTED = {
    "heat_template_version": "2018-08-31",
    "parameters": {"length": {"type": "number", "default": 8},
                   "net_name": {"type": "string"}},
    "resources": {
        "crnd": {"type": "OS::Heat::RandomString",
                 "properties": {"length": {"get_param": "length"}}},
        "cval": {"type": "OS::Heat::Value",
                 "properties": {"value": {"get_attr": ["crnd", "value"]}}},
        "cnet": {"type": "OS::Neutron::Net",
                 "properties": {"name": {"get_param": "net_name"}}},
    },
    "outputs": {"secret": {"value": {"get_attr": ["crnd", "value"]}}},
}


def top_template(prefix):
    return {
        "heat_template_version": "2018-08-31",
        "description": DESCRIPTION,
        "parameters": {"net_name": {"type": "string"}},
        "resources": {
            "rnd": {"type": "OS::Heat::RandomString",
                    "metadata": {"owner": "fullstack", "tier": [1, 2],
                                 "propriétaire": "Zoë ✓"},
                    "properties": {"length": 10}},
            "cfg": {"type": "OS::Heat::SoftwareConfig",
                    "properties": {
                        "group": "script",
                        "config": "#!/bin/sh\necho stackvault",
                        "inputs": [{"name": "foo", "type": "String"}],
                        "outputs": [{"name": "result"}]}},
            "net": {"type": "OS::Neutron::Net",
                    "properties": {"name": {"get_param": "net_name"}}},
            "child": {"type": "nested.yaml",
                      "properties": {"length": 12,
                                     "net_name": f"{prefix}-cnet"}},
        },
        "outputs": {
            "cfg_id": {"value": {"get_resource": "cfg"},
                       "description": "the config"},
            "child_secret": {"value": {"get_attr": ["child", "secret"]}},
        },
    }


FLAT = {
    "heat_template_version": "2018-08-31",
    "parameters": {"greeting": {"type": "string", "default": "hello"}},
    "resources": {"val": {"type": "OS::Heat::Value",
                          "properties": {"value": {"get_param":
                                                   "greeting"}}}},
    "outputs": {"echo": {"value": {"get_attr": ["val", "value"]}}},
}


@pytest.fixture
def built(conn, cleanup, waits):
    heat = Heat(conn, cleanup, waits)
    prefix = f"sv-heatds-{secrets.token_hex(3)}"
    a_name, b_name = f"{prefix}-a", f"{prefix}-b"
    a_id = heat.stack(a_name, top_template(prefix),
                      files={"nested.yaml": json.dumps(NESTED)},
                      parameters={"net_name": f"{prefix}-net"})
    b_id = heat.stack(b_name, FLAT, parameters={"greeting": GREETING},
                      tags=["fullstack", "stackvault"])
    snap = heat.snapshot(b_name, b_id, SNAPSHOT)
    a_res = json_of(conn.orchestration.get(
        f"/stacks/{a_name}/{a_id}/resources/cfg"))["resource"]
    config_id = a_res["physical_resource_id"]
    server_id = "00000000-5afe-4000-8000-%012d" % secrets.randbelow(10**12)
    dep_id = heat.deployment(config_id, server_id)
    return {"prefix": prefix, "a": (a_name, a_id), "b": (b_name, b_id),
            "snapshot": snap, "config_id": config_id, "server_id": server_id,
            "deployment_id": dep_id}


def by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def expected_calls(tables, k):
    """The documented formula of a first poll, from what it read:
    4 + C + sum over s of (4 + R_s + min(E_s, K))."""
    total = 4 + len(tables["software_configs"])
    for stack in tables["stacks"]:
        resources = len(by(tables["resources"], stack_id=stack["id"]))
        events = len(by(tables["events"], stack_id=stack["id"]))
        total += 4 + resources + min(events, k)
    return total


def steady_calls(before, after, k):
    """The documented steady-state formula: 4 + C_new + sum over changed
    stacks of (4 + R_s + min(En_s, K)), from what two polls read."""
    def mark(stack):
        return (stack["stack_name"], stack["updated_time"],
                stack["stack_status"])
    old = {s["id"]: mark(s) for s in before["stacks"]}
    old_events = {e["id"] for e in before["events"]}
    old_configs = {c["id"] for c in before["software_configs"]}
    total = 4 + len([c for c in after["software_configs"]
                     if c["id"] not in old_configs])
    for stack in after["stacks"]:
        if old.get(stack["id"]) == mark(stack) and not stack[
                "stack_status"].endswith("_IN_PROGRESS"):
            continue
        new = [e for e in by(after["events"], stack_id=stack["id"])
               if e["id"] not in old_events]
        resources = len(by(after["resources"], stack_id=stack["id"]))
        total += 4 + resources + min(len(new), k)
    return total


class Spy:
    """The real proxy, recording which of its methods are called."""

    def __init__(self, proxy):
        self._proxy = proxy
        self.used = []

    def __getattr__(self, name):
        self.used.append(name)
        return getattr(self._proxy, name)


def test_every_table_matches_what_was_created(conn, built):
    a_name, a_id = built["a"]
    b_name, b_id = built["b"]
    prefix = built["prefix"]
    before = json_of(conn.orchestration.get(
        f"/stacks/{a_name}/{a_id}/events", params={"nested_depth": 5}))

    spy = Spy(conn.orchestration)
    spy_conn = mock.Mock(spec=["orchestration"], orchestration=spy)
    result = HeatDatasource(spy_conn, max_workers=4).poll()
    t = result.tables
    ours = {a_id, b_id}
    assert [e for e in result.errors
            if e["stack_id"] in ours or e["stack_id"] is None] == []

    # read-only: only GETs were made, and Heat saw no change
    assert set(spy.used) == {"get"}
    after = json_of(conn.orchestration.get(
        f"/stacks/{a_name}/{a_id}/events", params={"nested_depth": 5}))
    assert len(after["events"]) == len(before["events"])

    # the bounded number of calls, as documented
    if not result.errors:
        assert result.calls == expected_calls(t, 10)

    # stacks, parameters, outputs, links
    (a,) = by(t["stacks"], id=a_id)
    (b,) = by(t["stacks"], id=b_id)
    assert a["stack_name"] == a_name and b["stack_name"] == b_name
    assert a["stack_status"] == "CREATE_COMPLETE"
    assert b["stack_status"] == "SNAPSHOT_COMPLETE"     # its last action
    assert a["description"] == DESCRIPTION
    assert a["timeout_mins"] == 5
    assert json.loads(b["tags"]) == ["fullstack", "stackvault"]
    params = {r["name"]: r["value"] for r in by(t["stack_parameters"],
                                                stack_id=a_id)}
    assert params["net_name"] == f"{prefix}-net"
    assert params["OS::stack_name"] == a_name
    assert by(t["stack_parameters"], stack_id=b_id, name="greeting")[0][
        "value"] == GREETING
    outputs = {r["output_key"]: r for r in by(t["stack_outputs"],
                                              stack_id=a_id)}
    assert outputs["cfg_id"]["output_value"] == built["config_id"]
    assert outputs["cfg_id"]["description"] == "the config"
    assert by(t["stack_outputs"], stack_id=b_id)[0]["output_value"] == \
        GREETING
    (link,) = by(t["stacks_links"], stack_id=a_id)
    assert link["rel"] == "self" and link["href"].endswith(
        f"/stacks/{a_name}/{a_id}")

    # snapshots
    (snap,) = by(t["snapshots"], stack_id=b_id)
    assert snap["id"] == built["snapshot"]["id"]
    assert (snap["name"], snap["status"]) == (SNAPSHOT, "COMPLETE")
    assert snap["action"] == "CREATE"           # what Heat records
    assert by(t["snapshots"], stack_id=a_id) == []

    # resources, nested ones included, and their links
    a_rows = by(t["resources"], stack_id=a_id)
    assert sorted((r["nested_path"], r["resource_name"], r["resource_type"])
                  for r in a_rows) == [
        ("", "cfg", "OS::Heat::SoftwareConfig"),
        ("", "child", "nested.yaml"),
        ("", "net", "OS::Neutron::Net"),
        ("", "rnd", "OS::Heat::RandomString"),
        ("child", "cnet", "OS::Neutron::Net"),
        ("child", "crnd", "OS::Heat::RandomString"),
        ("child", "cval", "OS::Heat::Value")]
    assert all(r["resource_status"] == "CREATE_COMPLETE" for r in a_rows)
    res = {r["resource_name"]: r for r in a_rows}
    child_stack = res["child"]["nested_stack_id"]
    assert child_stack == res["child"]["physical_resource_id"]
    assert res["cnet"]["owner_stack_id"] == child_stack
    assert res["cnet"]["parent_resource"] == "child"
    assert res["net"]["owner_stack_id"] == a_id
    assert conn.network.get_network(
        res["net"]["physical_resource_id"]).name == f"{prefix}-net"
    assert conn.network.get_network(
        res["cnet"]["physical_resource_id"]).name == f"{prefix}-cnet"
    assert json.loads(res["crnd"]["required_by"]) == ["cval"]
    assert {r["rel"] for r in by(t["resources_links"],
                                 resource_id=res["child"]["id"])} == {
        "self", "stack", "nested"}
    assert [r["resource_name"] for r in by(t["resources"],
                                           stack_id=b_id)] == ["val"]

    # resource data (attributes) and metadata
    def attrs(name):
        return {r["name"]: r["value"] for r in by(
            t["resource_attributes"], resource_id=res[name]["id"])}
    secret = attrs("crnd")["value"]
    assert len(secret) == 12
    assert outputs["child_secret"]["output_value"] == secret
    assert attrs("cval")["value"] == secret
    assert len(attrs("rnd")["value"]) == 10
    assert attrs("cfg")["config"] == "#!/bin/sh\necho stackvault"
    assert attrs("net")["name"] == f"{prefix}-net"
    meta = {r["key"]: r["value"] for r in by(
        t["resource_metadata"], resource_id=res["rnd"]["id"])}
    assert meta == {"owner": "fullstack", "tier": "[1, 2]",
                    "propriétaire": "Zoë ✓"}
    assert by(t["resource_metadata"], resource_id=res["net"]["id"]) == []

    # resource types
    types = {r["resource_type"] for r in t["resource_types"]}
    assert {"OS::Heat::RandomString", "OS::Heat::SoftwareConfig",
            "OS::Neutron::Net", "OS::Nova::Server"} <= types

    # events (nested too), their links and the details of the newest
    a_events = by(t["events"], stack_id=a_id)
    assert len(a_events) == len(before["events"])
    assert {(e["resource_name"], e["resource_status"]) for e in a_events} >= {
        ("net", "CREATE_COMPLETE"), ("cnet", "CREATE_COMPLETE"),
        (a_name, "CREATE_COMPLETE")}
    assert {e["owner_stack_id"] for e in a_events} == {a_id, child_stack}
    (net_done,) = by(a_events, resource_name="net",
                     resource_status="CREATE_COMPLETE")
    assert {r["rel"] for r in by(t["events_links"],
                                 event_id=net_done["id"])} >= {
        "self", "resource", "stack"}
    details = {d["event_id"]: d for d in t["event_details"]}
    detailed = [e for e in a_events if e["id"] in details]
    assert len(detailed) == min(10, len(a_events))
    newest = max(a_events, key=lambda e: (e["event_time"], e["id"]))
    assert newest["id"] in details
    for event in detailed:
        if event["resource_name"] == "net":
            assert details[event["id"]]["resource_type"] == \
                "OS::Neutron::Net"

    # software configs and deployments
    (cfg,) = by(t["software_configs"], id=built["config_id"])
    assert cfg["group"] == "script"
    assert cfg["config"] == "#!/bin/sh\necho stackvault"
    assert [r["name"] for r in by(t["software_config_inputs"],
                                  config_id=cfg["id"])] == ["foo"]
    assert [r["name"] for r in by(t["software_config_outputs"],
                                  config_id=cfg["id"])] == ["result"]
    (dep,) = by(t["software_deployments"], id=built["deployment_id"])
    assert (dep["config_id"], dep["server_id"], dep["status"]) == (
        built["config_id"], built["server_id"], "COMPLETE")
    assert {r["name"]: r["value"] for r in by(
        t["deployment_input_values"], deployment_id=dep["id"])} == {
        "foo": "bar"}
    assert {r["name"]: r["value"] for r in by(
        t["deployment_output_values"], deployment_id=dep["id"])} == {
        "result": "ok", "deploy_status_code": 0}

    # real Heat fills every column, in one of our rows at least
    ours = {"stacks": [a, b], "snapshots": [snap], "resources": a_rows,
            "events": a_events, "software_configs": [cfg],
            "event_details": [details[e["id"]] for e in detailed],
            "software_deployments": [dep]}
    may_be_empty = {("software_configs", "options")}   # none declared
    for table, rows in ours.items():
        for column in HeatDatasource.tables()[table].columns:
            if (table, column) not in may_be_empty:
                assert any(r[column] not in (None, "") for r in rows), (
                    table, column)


def test_only_and_isolation_on_real_heat(conn, built):
    a_name, a_id = built["a"]
    b_name, b_id = built["b"]
    source = HeatDatasource(conn)
    only = source.poll(only=["resource_types"])
    assert only.calls == 1 and only.tables["resource_types"]
    stacks = source.poll(only=["stacks"])
    assert stacks.calls == 1 + len(stacks.tables["stacks"]) + len(
        stacks.errors)

    # the opt-in templates table: Heat's own template, one call a stack
    templates = source.poll(only=["templates"])
    assert templates.calls == 1 + len(templates.tables["templates"]) + len(
        templates.errors)
    (row,) = by(templates.tables["templates"], stack_id=a_id)
    assert json.loads(row["template"]) == json_of(conn.orchestration.get(
        f"/stacks/{a_name}/{a_id}/template"))
    assert (row["template_version"], row["description"]) == (
        "2018-08-31", DESCRIPTION)

    # a call that fails for stack A: A's rows of that call are missing,
    # and nothing else is
    real_get = conn.orchestration.get

    def get(path, *args, **kwargs):
        if path == f"/stacks/{a_name}/{a_id}":
            return real_get(f"/stacks/{a_name}/no-such-id", *args, **kwargs)
        return real_get(path, *args, **kwargs)
    with mock.patch.object(conn.orchestration, "get", side_effect=get):
        result = source.poll(only=["stacks", "resources"])
    assert by(result.tables["stacks"], id=a_id) == []
    assert by(result.tables["stacks"], id=b_id)
    assert "stacks" in result.incomplete     # no earlier poll to keep
    assert len(by(result.tables["resources"], stack_id=a_id)) == 7
    (error,) = [e for e in result.errors if e["stack_id"] == a_id]
    assert error["call"] == f"GET /stacks/{a_name}/{a_id}"
    assert error["tables"] == "stacks"
    assert error["reason"].startswith("HTTP 404")


class Recorder:
    """Calls conn.orchestration.get, recording (path, params); ``fail``
    answers a 404 for one path."""

    def __init__(self, conn):
        self.real_get = conn.orchestration.get
        self.seen = []
        self.fail = None

    def __call__(self, path, *args, **kwargs):
        self.seen.append((path, dict(kwargs.get("params") or {})))
        if path == self.fail:
            path = "/stacks/no-such-stack/no-such-id"
        return self.real_get(path, *args, **kwargs)

    def paths_of(self, stack_id):
        return [(p, q) for p, q in self.seen if stack_id in p]


def ours(change, ids):
    """The rows of a TableDiff that belong to the given stacks."""
    rows = change.added + change.removed + [new for _o, new in
                                            change.changed]
    return [r for r in rows if ids & {r.get("stack_id"), r.get("id")}]


def test_polling_again_with_one_object_on_real_heat(conn, built, waits):
    a_name, a_id = built["a"]
    b_name, b_id = built["b"]
    source = HeatDatasource(conn, full_refresh_polls=100)
    first = source.poll()
    record = Recorder(conn)

    # nothing of ours changed: neither stack is read again
    with mock.patch.object(conn.orchestration, "get", side_effect=record):
        second = source.poll()
    assert not second.full and second.reused
    assert record.paths_of(a_id) == [] and record.paths_of(b_id) == []
    if not second.errors:
        assert second.calls == steady_calls(first.tables, second.tables, 10)
    for table, change in polling.diff(first, second).items():
        assert ours(change, {a_id, b_id}) == [], table

    # B is updated: only B is read, its events after the newest one read
    patched = conn.orchestration.patch(f"/stacks/{b_name}/{b_id}", json={
        "parameters": {"greeting": "hallo ✓"}})
    assert patched.status_code == 202, patched.text[:500]
    Heat(conn, None, waits).wait(f"/stacks/{b_name}/{b_id}", "stack",
                                 "stack_status", "UPDATE_COMPLETE",
                                 "UPDATE_FAILED")
    record.seen.clear()
    with mock.patch.object(conn.orchestration, "get", side_effect=record):
        third = source.poll()
    assert record.paths_of(a_id) == []
    ((_path, params),) = [(p, q) for p, q in record.paths_of(b_id)
                          if p.endswith("/events")]
    assert params["marker"] in {e["id"] for e in by(
        second.tables["events"], stack_id=b_id)}
    heat_events = json_of(record.real_get(
        f"/stacks/{b_name}/{b_id}/events",
        params={"nested_depth": 5}))["events"]
    assert sorted(e["id"] for e in by(third.tables["events"],
                                      stack_id=b_id)) == sorted(
        e["id"] for e in heat_events)
    assert by(third.tables["stack_parameters"], stack_id=b_id,
              name="greeting")[0]["value"] == "hallo ✓"
    changes = polling.diff(second, third)
    (new_b,) = [new for _old, new in changes["stacks"].changed
                if new["id"] == b_id]
    assert new_b["stack_status"] == "UPDATE_COMPLETE"
    if not third.errors:
        assert third.calls == steady_calls(second.tables, third.tables, 10)

    # GET /stacks fails: every stack's rows are kept, marked stale
    record.fail = "/stacks"
    with mock.patch.object(conn.orchestration, "get", side_effect=record):
        fourth = source.poll()
    assert {"stacks", "resources", "events", "snapshots"} <= fourth.stale
    for table, column in (("stacks", "id"), ("resources", "stack_id"),
                          ("events", "stack_id"), ("snapshots",
                                                   "stack_id")):
        for stack_id in (a_id, b_id):
            assert by(fourth.tables[table], **{column: stack_id}) == by(
                third.tables[table], **{column: stack_id}), table
    (error,) = [e for e in fourth.errors if e["call"] == "GET /stacks"]
    assert error["reason"].startswith("HTTP 404") and error["kept_rows"]


def test_stack_physical_resources_on_real_heat(conn, built):
    a_name, a_id = built["a"]
    found = heat_ds.stack_physical_resources(conn, a_id)
    nets = {(p.name, p.nested_path): p for p in found
            if p.resource_type == "OS::Neutron::Net"}
    assert set(nets) == {("net", ""), ("cnet", "child")}
    for p in nets.values():
        assert conn.network.get_network(p.physical_resource_id).id == \
            p.physical_resource_id
        assert p.status == "CREATE_COMPLETE"
    assert heat_ds.stack_physical_resources(conn, a_id, nested_depth=0,
                                            stack_name=a_name) == [
        p for p in found if p.nested_path == ""]


def test_cli_shows_a_real_table(conn, built):
    a_name, a_id = built["a"]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(["datasource", "show", "heat", "resources",
                     "--column", f"stack_id={a_id}",
                     "--column", "nested_path=child", "-f", "json"],
                    stdout, stderr)
    assert code == 0, stderr.getvalue()
    rows = json.loads(stdout.getvalue())
    assert sorted(r["resource_name"] for r in rows) == ["cnet", "crnd",
                                                        "cval"]
