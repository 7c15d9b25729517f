"""Checkpoints whose index fields are wrong but whose hashes were
rewritten to match (anyone who can write the bank can): what the fuzz
suite (tests/functional/test_fuzz_bank.py) found, one test each."""

import pytest

from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import store as cp
from tests.fakes import cli as fake_cli


@pytest.fixture
def run(tmp_path):
    return fake_cli.CliRunner(tmp_path)


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
