"""OpenStack-client style output and the terminal progress printer."""

import io
import json

import pytest
import yaml

from protection.model import progress
from protection.cli import output
from protection.cli.progress_printer import ProgressPrinter
from protection.model.resource import Resource

COLUMNS = ["Type", "ID", "Name"]
ROWS = [("OS::Cinder::Volume", "v1", "data"),
        ("OS::Nova::Server", "s1", None)]


@pytest.fixture(autouse=True)
def terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")


# -- lists --------------------------------------------------------------------
def test_list_as_table():
    text = output.render_list(COLUMNS, ROWS, "table")
    assert text.splitlines() == [
        "+--------------------+----+------+",
        "| Type               | ID | Name |",
        "+--------------------+----+------+",
        "| OS::Cinder::Volume | v1 | data |",
        "| OS::Nova::Server   | s1 |      |",
        "+--------------------+----+------+",
    ]


def test_empty_list_as_table_has_the_header():
    assert output.render_list(COLUMNS, [], "table").splitlines() == [
        "+------+----+------+",
        "| Type | ID | Name |",
        "+------+----+------+",
        "+------+----+------+",
    ]


def test_list_as_json():
    data = json.loads(output.render_list(COLUMNS, ROWS, "json"))
    assert data == [
        {"Type": "OS::Cinder::Volume", "ID": "v1", "Name": "data"},
        {"Type": "OS::Nova::Server", "ID": "s1", "Name": None}]
    assert json.loads(output.render_list(COLUMNS, [], "json")) == []


def test_list_as_yaml():
    data = yaml.safe_load(output.render_list(COLUMNS, ROWS, "yaml"))
    assert data == [
        {"Type": "OS::Cinder::Volume", "ID": "v1", "Name": "data"},
        {"Type": "OS::Nova::Server", "ID": "s1", "Name": None}]


def test_list_as_value():
    assert output.render_list(COLUMNS, ROWS, "value") == \
        "OS::Cinder::Volume v1 data\nOS::Nova::Server s1 "
    assert output.render_list(COLUMNS, [], "value") == ""


def test_list_keeps_numbers_as_numbers_in_json_and_yaml():
    rows = [("c1", 3)]
    assert json.loads(output.render_list(["ID", "N"], rows, "json")) == \
        [{"ID": "c1", "N": 3}]
    assert yaml.safe_load(output.render_list(["ID", "N"], rows, "yaml")) == \
        [{"ID": "c1", "N": 3}]
    assert output.render_list(["ID", "N"], rows, "value") == "c1 3"


def test_structured_cells_are_json_in_table_and_value():
    rows = [("a", {"k": [1, 2]})]
    assert '{"k": [1, 2]}' in output.render_list(["X", "Y"], rows, "table")
    assert output.render_list(["X", "Y"], rows, "value") == \
        'a {"k": [1, 2]}'


# -- one object ---------------------------------------------------------------
DOC = {"id": "c1", "status": "available", "restored": {"T::A#1": "n1"},
       "failures": [], "errors": ["first", "second"], "nothing": None}


def test_one_as_json_and_yaml_round_trip():
    assert json.loads(output.render_one(DOC, "json")) == DOC
    assert yaml.safe_load(output.render_one(DOC, "yaml")) == DOC


def test_one_as_value():
    assert output.render_one(DOC, "value").split("\n") == [
        "c1", "available", '{"T::A#1": "n1"}', "[]", '["first", "second"]',
        ""]


def test_one_as_table_with_multi_line_cells():
    lines = output.render_one(DOC, "table").splitlines()
    assert lines == [
        "+----------+------------+",
        "| Field    | Value      |",
        "+----------+------------+",
        "| id       | c1         |",
        "| status   | available  |",
        "| restored | T::A#1: n1 |",
        "| failures |            |",
        "| errors   | first      |",
        "|          | second     |",
        "| nothing  |            |",
        "+----------+------------+",
    ]


def test_long_values_wrap_to_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")       # 60 - 30 = 30 characters
    text = output.render_one({"id": "x" * 75}, "table")
    rows = [line for line in text.splitlines() if "x" in line]
    assert len(rows) == 3
    assert rows[0].split("|")[2].strip() == "x" * 30
    assert rows[2].split("|")[2].strip() == "x" * 15


def test_long_values_are_not_cut_in_json():
    assert json.loads(output.render_one({"id": "x" * 500}, "json")) == \
        {"id": "x" * 500}


def test_formats_are_the_openstack_client_ones():
    assert output.FORMATS == ("table", "json", "yaml", "value", "csv")


# -- progress printer ---------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


VOL = Resource("OS::Cinder::Volume", "v1", "data")


def event(state, **kwargs):
    return progress.ProgressEvent("protect", VOL, state, **kwargs)


def test_progress_printer_one_line_per_state_change():
    stream, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(stream, clock=clock)
    printer(event(progress.RUNNING))
    clock.now += 2.5
    printer(event(progress.STEP, step="create-backup", message="b-1"))
    printer(event(progress.FAILED, step="wait"))
    printer(progress.ProgressEvent("protect", None, progress.RUNNING))
    assert stream.getvalue().splitlines() == [
        "    0.0s  protect  OS::Cinder::Volume v1 (data): running",
        "    2.5s  protect  OS::Cinder::Volume v1 (data): create-backup: b-1",
        "    2.5s  protect  OS::Cinder::Volume v1 (data): failed at wait",
    ]


def test_progress_printer_throttles_byte_counts_per_resource():
    stream, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(stream, clock=clock)
    total = 100 * 2**20
    for i in range(10):                       # ten updates in 0.9 s
        printer(event(progress.BYTES, done=i * 2**20, total=total))
        clock.now += 0.1
    other = Resource("OS::Glance::Image", "i1")
    printer(progress.ProgressEvent("protect", other, progress.BYTES,
                                   done=2**20))
    clock.now += 1.0
    printer(event(progress.BYTES, done=50 * 2**20, total=total))
    printer(event(progress.BYTES, done=total, total=total))   # always shown
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "0.0/100.0 MiB", "1.0 MiB", "50.0/100.0 MiB", "100.0/100.0 MiB"]
    assert "OS::Glance::Image i1:" in lines[1]
