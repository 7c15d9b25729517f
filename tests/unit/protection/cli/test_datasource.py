"""``stackvault datasource list|tables|show`` over a fake Heat, and the
csv output format."""

import csv
import io
import json

import mock
import pytest
import yaml
from openstack.orchestration.v1 import _proxy

from protection.cli import main as cli
from protection.cli import output
from tools.cloudkit.fake_heat import FakeHeat
from tools.cloudkit.fake_heat import response


class Cli:
    def __init__(self, tmp_path):
        self.heat = FakeHeat.sample(n_stacks=2, resources=1)
        proxy = mock.create_autospec(_proxy.Proxy, instance=True)
        proxy.get.side_effect = self.heat.get
        self.conn = mock.Mock(spec=["orchestration"], orchestration=proxy)
        self.connect = mock.Mock(return_value=self.conn)
        self.config = tmp_path / "stackvault.conf"
        self.config.write_text("[heat_datasource]\nmax_workers = 2\n")
        self.out = self.err = ""

    def __call__(self, *argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        with mock.patch.object(cli.cloud, "connect", self.connect):
            code = cli.main(["--config-file", str(self.config)]
                            + list(argv), stdout, stderr)
        self.out, self.err = stdout.getvalue(), stderr.getvalue()
        return code

    def json(self, *argv):
        code = self(*argv, "-f", "json")
        assert code == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def run(tmp_path):
    return Cli(tmp_path)


def test_list_shows_the_installed_datasources(run):
    (heat,) = [d for d in run.json("datasource", "list")
               if d["Name"] == "heat"]
    assert heat["Tables"] == 21
    assert heat["Description"].startswith("Heat's read API")
    run.connect.assert_not_called()


def test_tables_lists_every_table_with_its_columns(run):
    tables = {t["Table"]: t for t in run.json("datasource", "tables",
                                              "heat")}
    assert tables["stacks"]["Columns"][:2] == ["id", "stack_name"]
    assert tables["resources_links"]["Columns"] == ["resource_id", "href",
                                                    "rel"]
    assert run("datasource", "tables", "heat") == 0
    assert "| stack_parameters" in run.out
    run.connect.assert_not_called()


def test_show_prints_a_table_reading_only_what_it_needs(run):
    rows = run.json("datasource", "show", "heat", "stacks")
    assert sorted(r["stack_name"] for r in rows) == ["stack0", "stack1"]
    assert len(run.heat.calls) == 3          # the list and two shows
    assert run("datasource", "show", "heat", "resource_types") == 0
    assert "| resource_type" in run.out and "OS::Nova::Server" in run.out


def test_show_filters_on_columns(run):
    s1 = run.heat.stacks[1]
    rows = run.json("datasource", "show", "heat", "resources",
                    "--column", f"stack_id={s1.id}",
                    "--column", "nested_path=child")
    assert [(r["resource_name"], r["resource_type"]) for r in rows] == [
        ("net", "OS::Neutron::Net")]
    rows = run.json("datasource", "show", "heat", "stacks",
                    "--column", "disable_rollback=true")
    assert len(rows) == 2
    assert run.json("datasource", "show", "heat", "stacks",
                    "--column", "stack_name=nope") == []


@pytest.mark.parametrize("fmt", ["csv", "yaml", "value", "table"])
def test_show_in_every_format(run, fmt):
    assert run("datasource", "show", "heat", "stack_parameters",
               "--column", "name=size", "-f", fmt) == 0, run.err
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(run.out)))
        assert rows[0] == ["stack_id", "name", "value"]
        assert sorted(r[2] for r in rows[1:]) == ["1", "2"]
    elif fmt == "yaml":
        assert sorted(r["value"] for r in yaml.safe_load(run.out)) == [
            "1", "2"]
    elif fmt == "value":
        assert sorted(line.split()[-1] for line in
                      run.out.splitlines()) == ["1", "2"]
    else:
        assert run.out.startswith("+") and "| stack_id" in run.out


def test_failed_calls_are_warned_about_and_exit_1(run):
    s0 = run.heat.stacks[0]
    run.heat.fail(rf"^/stacks/stack0/{s0.id}$", status=500)
    assert run("datasource", "show", "heat", "stacks", "-f", "json") == 1
    assert [r["stack_name"] for r in json.loads(run.out)] == ["stack1"]
    (line,) = run.err.splitlines()
    assert line.startswith(f"stackvault: warning: GET /stacks/stack0/"
                           f"{s0.id} (stack stack0) failed: HTTP 500")
    # a table that the failed call does not feed is not affected
    assert run("datasource", "show", "heat", "snapshots") == 0
    assert run.err == ""


def test_show_poll_errors_polls_everything(run):
    run.heat.fail(r"/snapshots$", status=403)
    rows = run.json("datasource", "show", "heat", "poll_errors")
    assert len(rows) == 2          # one per stack
    assert {r["tables"] for r in rows} == {"snapshots"}
    assert all(r["reason"].startswith("HTTP 403") for r in rows)


def test_show_polls_again_and_says_when_a_table_is_stale(run):
    run.config.write_text("[heat_datasource]\nfull_refresh_polls = 1\n")
    s0 = run.heat.stacks[0]
    real_get = run.heat.get
    lists = []

    def get(path, params=None, **kwargs):
        lists.extend(["list"] if path == "/stacks" else [])
        if len(lists) > 1 and path == f"/stacks/stack0/{s0.id}":
            return response(500, None, path)
        return real_get(path, params, **kwargs)
    run.conn.orchestration.get.side_effect = get
    assert run("datasource", "show", "heat", "stacks", "--polls", "2",
               "--interval", "0", "-f", "value") == 1
    first, second, warning = run.err.splitlines()
    assert first == ("stackvault: poll 1/2: table stacks complete, 2 rows, "
                     "3 calls")
    assert second == ("stackvault: poll 2/2: table stacks stale, 2 rows, "
                      "3 calls")
    assert warning.startswith(f"stackvault: warning: GET /stacks/stack0/"
                              f"{s0.id} (stack stack0) failed: HTTP 500")
    assert warning.endswith("; 1 row(s) of the previous poll kept (stale)")
    assert run.out.count("stack0") == 2      # printed after each poll


@pytest.mark.parametrize("argv,message", [
    (["datasource", "show", "heat", "stack"], "has no table 'stack'"),
    (["datasource", "show", "nova", "servers"], "no datasource 'nova'"),
    (["datasource", "tables", "nova"], "no datasource 'nova'"),
    (["datasource", "show", "heat", "stacks", "--column", "colour=red"],
     "table 'stacks' has no column 'colour'"),
    (["datasource", "show", "heat", "stacks", "--column", "noequals"],
     "expected COLUMN=VALUE"),
    (["datasource"], "required"),
    (["datasource", "show", "heat", "stacks", "--polls", "0"],
     "must be at least 1"),
    (["datasource", "show", "heat", "stacks", "--interval", "-1"],
     "must be between 0 and 86400"),
    (["datasource", "show", "heat", "stacks", "-f", "xml"],
     "invalid choice"),
])
def test_mistakes_are_one_line_usage_errors(run, argv, message):
    assert run(*argv) == 2
    assert message in run.err
    assert len(run.err.strip().splitlines()) == 1
    run.connect.assert_not_called()


def test_csv_output_for_lists_and_single_objects():
    text = output.render_list(["a", "b"], [(1, {"x": [1]}), (None, 'q"t')],
                              "csv")
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b"], ["1", '{"x": [1]}'], ["", 'q"t']]
    one = output.render_one({"id": "c1", "tags": ["a"]}, "csv")
    assert list(csv.reader(io.StringIO(one))) == [
        ["Field", "Value"], ["id", "c1"], ["tags", '["a"]']]
