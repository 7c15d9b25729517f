"""Damage a checkpoint's index and manifest field by field (a key
deleted, a wrong type, a huge value, unicode, truncated JSON), with and
without its hashes rewritten to match (as anyone who can write the bank
can): listing still shows every other checkpoint, in the CLI and the
API, and show, restore and delete of the damaged one end on one clear
line (issue #23, item 9)."""

import hashlib
import json
import shutil

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.fakes import api as fake_api
from tests.fakes import cli as fake_cli
from tests.fakes import fuzz

pytestmark = pytest.mark.fuzz

FILES = ("index.json", "manifest.json")


class Bank:
    """A bank with two good checkpoints and a victim, whose pristine
    files are copied back before each damage."""

    def __init__(self, directory):
        self.run = fake_cli.Cli(directory, own_database=True)
        self.good = [self.run.protect("Test::Network=net", name="good-1"),
                     self.run.protect("Test::Server=web", name="good-2")]
        self.victim = self.run.protect("Test::Server=db", name="victim")
        self.path = self.run.bank_path / "checkpoints" / self.victim
        self.pristine = directory / "pristine"
        shutil.copytree(self.path, self.pristine)
        self.api = fake_api.Api(self.run.bank_path)

    def reset(self):
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.copytree(self.pristine, self.path)

    def read(self, name):
        return (self.path / name).read_bytes()

    def write(self, name, data):
        (self.path / name).write_bytes(data)

    def rehash(self, name):
        """Make the hashes cover the edited ``name`` again."""
        if name == "manifest.json":
            try:
                index = json.loads(self.read("index.json"))
                index["manifest_sha256"] = _sha(self.read(name))
                self.write("index.json", json.dumps(index).encode())
            except (ValueError, TypeError):
                return
        self.write("index.sha256", json.dumps(
            {"sha256": _sha(self.read("index.json"))}).encode())


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return Bank(tmp_path_factory.mktemp("fuzz-bank"))


def _paths(value, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    children = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


def _edit(document, path, action, value):
    if not path:
        return value
    here = document
    for key in path[:-1]:
        here = here[key]
    if action == "delete":
        del here[path[-1]]
    else:
        here[path[-1]] = value
    return document


@st.composite
def damages(draw, pristine):
    """(file, new bytes, rehash): one field of the file edited, or the
    whole file truncated or replaced."""
    name = draw(st.sampled_from(FILES))
    raw = (pristine / name).read_bytes()
    kind = draw(st.sampled_from(["field", "field", "field", "truncate",
                                 "bytes"]))
    if kind == "truncate":
        data = raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif kind == "bytes":
        data = draw(st.binary(max_size=64))
    else:
        document = json.loads(raw)
        path = draw(st.sampled_from(list(_paths(document))))
        action = draw(st.sampled_from(["delete", "set"])) if path \
            else "set"
        value = draw(fuzz.json_values())
        data = json.dumps(_edit(document, path, action, value)).encode()
    return name, data, draw(st.booleans())


def assert_clear(run, argv):
    run(*argv)
    where = f"stackvault {argv!r} -> {run.code}: {run.err}"
    assert "internal error" not in run.err, where
    assert "Traceback" not in run.err, where
    if run.code != 0:
        assert run.err.count("\n") == 1, where


@settings(max_examples=60)
@given(data=st.data())
def test_a_damaged_checkpoint_never_hides_the_others(bank, data):
    name, damaged, rehash = data.draw(damages(bank.pristine))
    fuzz.count(f"bank: {name}")
    bank.reset()
    bank.write(name, damaged)
    if rehash:
        bank.rehash(name)
    run = bank.run
    listed = {c["ID"] for c in run.json("checkpoint", "list")}
    assert set(bank.good) <= listed
    resp = bank.api.call("GET", "/v1/checkpoints?all_projects=true",
                         persona="admin")
    assert resp.status_code == 200, resp.text
    assert set(bank.good) <= {c["id"] for c in resp.json["checkpoints"]}
    resp = bank.api.call("GET", f"/v1/checkpoints/{bank.victim}",
                         persona="admin")
    assert resp.status_code < 500, resp.text
    for argv in (("checkpoint", "show", bank.victim),
                 ("checkpoint", "verify", "--offline", bank.victim),
                 ("restore", bank.victim, "--dry-run"),
                 ("restore", bank.victim),
                 ("checkpoint", "delete", bank.victim)):
        assert_clear(run, argv)
