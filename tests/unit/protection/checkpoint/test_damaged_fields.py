"""Checkpoints whose index fields are wrong but whose hashes were
rewritten to match (anyone who can write the bank can): what the fuzz
suite (tests/functional/test_fuzz_bank.py) found, one test each."""

import pytest

from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import store as cp
from tests.fakes import cli as fake_cli


@pytest.fixture
def run(tmp_path):
    return fake_cli.Cli(tmp_path)


def _rewrite_index(run, checkpoint_id, edit):
    """Edit the index and save it with matching hashes."""
    checkpoint = cp.CheckpointStore(FileSystemBank(str(run.bank_path))) \
        .get(checkpoint_id)
    edit(checkpoint.index)
    checkpoint.save_index()


def test_a_null_created_at_does_not_break_listing(run):
    good = run.protect("Test::Network=net", name="good")
    odd = run.protect("Test::Network=net", name="odd")
    _rewrite_index(run, odd, lambda index: index.update(created_at=None))
    listed = run.json("checkpoint", "list")
    assert {c["ID"] for c in listed} == {good, odd}


def _first_node(index):
    return index["graph"]["nodes"][0]["resource"]


@pytest.mark.parametrize("field,value", [
    ("children", 1), ("child_types", "x"), ("child_types", {"net": []})])
def test_resource_data_a_hook_cannot_read_fails_the_preflight(
        run, field, value):
    checkpoint_id = run.protect("Test::Server=web")
    _rewrite_index(run, checkpoint_id,
                   lambda index: _first_node(index)["extra"].update(
                       {field: value}))
    assert run("restore", checkpoint_id, "--dry-run") == 1
    assert "internal error" not in run.err
    assert run.err.count("\n") == 1, run.err
    assert "pre-flight" in run.err and "the hook failed" in run.err


def test_a_failing_check_quoting_a_newline_stays_one_line(run):
    checkpoint_id = run.protect("Test::Server=web")
    _rewrite_index(run, checkpoint_id,
                   lambda index: _first_node(index)["extra"].update(
                       children=["a\nb"]))
    assert run("restore", checkpoint_id, "--dry-run") == 1
    assert run.err.count("\n") == 1, run.err
    assert "a\\nb" in run.err
