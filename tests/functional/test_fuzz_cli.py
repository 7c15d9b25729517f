"""Fuzz every ``stackvault`` command with hostile values: a mistake is
exit 2 on one line, never an internal error or a traceback (issue #23,
item 9). Inputs tried are counted and printed at the session's end."""

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.fakes import cli as fake_cli
from tests.fakes import fuzz

pytestmark = pytest.mark.fuzz

V = "{v}"      # where the fuzzed value goes in a command line

COMMANDS = [
    ("resource", "list", "--type", V),
    ("resource", "show", V, "web"),
    ("resource", "show", "Test::Server", V),
    ("protect", "--name", V, "Test::Network=net"),
    ("protect", "--name", "n", V),
    ("protect", "--name", "n", "Test::Network=net", "--parameter", V),
    ("restore", V),
    ("restore", "{cp}", "--parameter", V),
    ("restore", "{cp}", "--only", V, "--dry-run"),
    ("restore", "{cp}", "--exclude", V, "--dry-run"),
    ("restore", "{cp}", "--on-failure", V),
    ("restore", "{cp}", "--target-cloud", V, "--dry-run"),
    ("checkpoint", "list", "--plan", V),
    ("checkpoint", "show", V),
    ("checkpoint", "delete", V),
    ("checkpoint", "verify", "--offline", V),
    ("checkpoint", "sign", V),
    ("checkpoint", "prune", "--plan", V, "--dry-run"),
    ("checkpoint", "prune", "--plan", "p", "--now", V, "--dry-run"),
    ("datasource", "tables", V),
    ("datasource", "show", V, V),
    ("operation", "show", V),
    ("operation", "resume", V),
    ("operation", "abort", V),
    ("plan", "create", V, "Test::Network=net"),
    ("plan", "create", "p", V),
    ("plan", "create", "p", "Test::Network=net", "--keep", V),
    ("plan", "create", "p", "Test::Network=net", "--keep-days", V),
    ("plan", "create", "p", "Test::Network=net", "--schedule", V),
    ("plan", "create", "p", "Test::Network=net", "--parameter", V),
    ("plan", "update", V, "--keep", "3"),
    ("plan", "show", V),
    ("plan", "delete", V),
    ("plan", "run", V),
    ("plugin", "show", V),
    ("audit", "list", "--limit", V),
    ("checkpoint", "list", "-f", V),
    (V,),
    ("checkpoint", V),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runner = fake_cli.Cli(tmp_path_factory.mktemp("fuzz-cli"),
                          own_database=True)
    runner.checkpoint_id = runner.protect("Test::Network=net")
    return runner


def _argv(template, value, checkpoint_id):
    return [value if part == V else
            checkpoint_id if part == "{cp}" else part
            for part in template]


def assert_no_internal_error(run, argv):
    where = f"stackvault {argv!r}"
    assert run.code in (0, 1, 2), where
    assert "Traceback" not in run.err, where
    assert "internal error" not in run.err, f"{where}: {run.err}"
    if run.code == 2:
        assert run.err.count("\n") == 1, f"{where}: {run.err}"


@pytest.mark.parametrize("template", COMMANDS, ids=" ".join)
@settings(max_examples=25)
@given(value=fuzz.text())
def test_a_hostile_value_is_a_clear_mistake(run, template, value):
    argv = _argv(template, value, run.checkpoint_id)
    fuzz.count("cli: " + " ".join(template[:2]))
    run(*argv)
    assert_no_internal_error(run, argv)


@given(argv=st.lists(fuzz.text(), max_size=6))
def test_any_command_line_is_a_clear_mistake(run, argv):
    fuzz.count("cli: random argv")
    run(*argv)
    assert_no_internal_error(run, argv)
