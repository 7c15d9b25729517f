"""``stackvault plan ...`` and ``checkpoint prune``, end to end over the
fake cloud, a real bank and a real database."""

import pytest

from tests.fakes.cli import Cli
from tests.fakes.cli import assert_one_line_error


@pytest.fixture
def run(tmp_path):
    return Cli(tmp_path)


def _create(run, *extra):
    return run.json("plan", "create", "nightly", "Test::Server=web",
                    "--schedule", "* * * * *", "--keep", "2", *extra)


def test_create_show_list_update_delete(run):
    created = _create(run, "--parameter", "Test::Volume:mode=incremental",
                      "--cloud", "prod")
    assert created["resources"] == ["Test::Server=web"]
    assert created["parameters"] == {"Test::Volume": {"mode": "incremental"}}
    assert (created["keep"], created["cloud"]) == (2, "prod")
    assert created["next_run"].endswith(":00+00:00")
    assert run.json("plan", "show", "nightly") == created
    listed = run.json("plan", "list")
    assert [(p["Name"], p["Schedule"]) for p in listed] == \
        [("nightly", "* * * * *")]
    updated = run.json("plan", "update", "nightly", "Test::Server=db",
                       "--no-schedule", "--keep-days", "7")
    assert updated["resources"] == ["Test::Server=db"]
    assert (updated["schedule"], updated["next_run"]) == (None, None)
    assert (updated["keep"], updated["keep_days"]) == (2, 7.0)
    assert updated["parameters"] == created["parameters"]
    assert run("plan", "delete", "nightly") == 0
    assert run.json("plan", "list") == []


@pytest.mark.parametrize("argv,words", [
    (["--schedule", "61 * * * *"], ["invalid schedule '61 * * * *'"]),
    (["--keep", "0"], ["--keep must be from 1 to 100000, not 0"]),
    # past 2**63 it was an internal error, exit 1 (issue #23, reproduced)
    (["--keep", "99999999999999999999"], ["--keep must be from 1 to"]),
    (["--keep-days", "-1"], ["--keep-days must be more than 0"]),
    (["--keep-days", "inf"], ["--keep-days must be more than 0 and at "
                              "most 36500, not inf"]),
    (["--keep-days", "nan"], ["--keep-days must be more than 0"]),
    (["--parameter", "Test::Volume:mode=differential"],
     ["invalid parameter 'mode'", "Test::Volume"]),
    (["--parameter", "Nope::Thing:x=1"], ["no protection plugin",
                                          "Nope::Thing"]),
    (["--keep", "two"], ["invalid int value"]),
])
def test_bad_settings_exit_2_with_one_line(run, argv, words):
    assert run("plan", "create", "nightly", "Test::Server=web", *argv) == 2
    assert_one_line_error(run, *words)
    assert run.json("plan", "list") == []


def test_unknown_type_duplicate_and_missing_plans_exit_2(run):
    assert run("plan", "create", "p", "Nope::Thing=x") == 2
    assert_one_line_error(run, "no protection plugin for resource type")
    _create(run)
    assert run("plan", "create", "nightly", "Test::Server=db") == 2
    assert_one_line_error(run, "plan 'nightly' already exists")
    for argv in (["plan", "show", "gone"], ["plan", "run", "gone"],
                 ["plan", "delete", "gone"], ["plan", "update", "gone"],
                 ["checkpoint", "prune", "--plan", "gone"]):
        assert run(*argv) == 2
        assert_one_line_error(run, "plan 'gone' does not exist")
    assert run("plan", "run-due", "--now", "tomorrow") == 2
    assert_one_line_error(run, "expected an ISO 8601 time")


def test_run_due_with_an_explicit_time_and_prune(run):
    _create(run)
    first = run.json("plan", "run-due", "--now", "2030-01-01T00:00:00Z")
    assert [(r["Plan"], r["Status"]) for r in first] == \
        [("nightly", "succeeded")]
    assert run.json("plan", "run-due", "--now", "2030-01-01T00:00:30") == []
    assert run("plan", "run-due", "--now", "2030-01-01T00:00:40") == 0
    assert run.out == ""          # nothing due: quiet under cron
    run.json("plan", "run", "nightly")
    third = run.json("plan", "run-due", "--now", "2030-01-01T00:07:00")
    assert third[0]["Deleted"] == first[0]["Checkpoint"]
    mine = run.json("checkpoint", "list", "--plan", "nightly")
    assert len(mine) == 2 and {c["Name"] for c in mine} == {"nightly"}
    run.protect("Test::Server=db", name="by-hand")
    assert len(run.json("checkpoint", "list")) == 3
    assert run("plan", "update", "nightly", "--keep", "1") == 0
    dry = run.json("checkpoint", "prune", "--plan", "nightly", "--dry-run")
    assert [d["Action"] for d in dry] == ["keep", "delete"]
    assert len(run.json("checkpoint", "list", "--plan", "nightly")) == 2
    pruned = run.json("checkpoint", "prune", "--plan", "nightly")
    assert [d["Action"] for d in pruned] == ["keep", "deleted"]
    assert sorted(c["Name"] for c in run.json("checkpoint", "list")) == \
        ["by-hand", "nightly"]
    shown = run.json("plan", "show", "nightly")
    assert shown["last_status"] == "succeeded"
    assert shown["next_run"] == "2030-01-01T00:08:00+00:00"


def test_a_run_whose_resource_is_gone_exits_1_with_one_line(run):
    _create(run)
    del run.cloud.records["web"]
    assert run("plan", "run", "nightly") == 1
    assert "Traceback" not in run.err
    assert run.err.count("\n") == 1
    assert "plan nightly: run failed: Test::Server web not found: it was " \
           "deleted from the cloud" in run.err
    assert run.json("plan", "show", "nightly")["last_status"] == "failed"
