"""Restore's pre-check by Swift's fingerprints: a checkpoint protected
into a SwiftBank whose openstacksdk object store is the in-memory
``FakeObjectStore`` (tests/fakes/fake_swift.py), checked by
``check_before_restore`` (fast) and ``verify_objects`` (deep)."""

import hashlib
import io
import json
import os
import urllib.parse

import mock
import pytest

from protection.checkpoint import manifest as manifest_mod
from protection.checkpoint import store as cp
from protection.checkpoint import check as checkpoint_check
from protection.checkpoint import verify as checkpoint_verify
from protection import exceptions
from protection.bank.swift import SwiftBank
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource
from tests.fakes.fake_swift import FakeObjectStore

MiB = 1024 * 1024
IMAGE = Resource("OS::Glance::Image", "img-1", "base")
DATA = "resources/OS::Glance::Image/img-1/data/00000000"
BIG = "resources/OS::Glance::Image/img-1/data/00000001"
EMPTY = "resources/OS::Glance::Image/img-1/empty"
METADATA = "resources/OS::Glance::Image/img-1/metadata.json"


@pytest.fixture
def store():
    return FakeObjectStore()


@pytest.fixture
def bank(store):
    conn = mock.Mock(object_store=store)
    return SwiftBank(conn, container="sv", segment_size=4 * MiB, page_size=2)


@pytest.fixture
def checkpoint(bank):
    """An available checkpoint: a plain object, an SLO (9 MiB in 4 MiB
    segments), an empty object and metadata.json."""
    checkpoints = cp.CheckpointStore(bank)
    graph = ResourceGraph.build([IMAGE], lambda r: [])
    new = checkpoints.create({"name": "n"}, graph)
    section = new.section(IMAGE)
    section.put("data/00000000", os.urandom(MiB))
    section.put("data/00000001", io.BytesIO(os.urandom(9 * MiB + 5)))
    section.put("empty", b"")
    section.save_metadata({"size": 10 * MiB + 5})
    new.commit()
    return checkpoints.get(new.id)


@pytest.fixture
def reads(store):
    """The names of the objects GET from the store, in order."""
    names = []
    real = store.stream_object

    def stream_object(name, container=None, chunk_size=1024):
        names.append(urllib.parse.unquote(name))
        return real(name, container=container, chunk_size=chunk_size)
    with mock.patch.object(store, "stream_object", stream_object):
        yield names


def _key(checkpoint, relative):
    return checkpoint.key(relative)


def _replace(store, checkpoint, relative, data):
    """Another object put at the key (Swift lists its new ETag)."""
    store.containers["sv"][_key(checkpoint, relative)] = data
    store.manifests.pop(("sv", _key(checkpoint, relative)), None)


def _rewrite_manifest(checkpoint, objects):
    """A manifest saved again with ``objects``, the index's hash too."""
    checkpoint.manifest = manifest_mod.Manifest(objects)
    checkpoint.write_manifest()
    checkpoint.save_index()


def test_protect_records_what_the_listing_reports(checkpoint, bank):
    objects = checkpoint.manifest.objects()
    listed = bank.fingerprints(checkpoint.key(""))
    assert objects[BIG]["fingerprint"].startswith("slo:")
    assert objects[DATA]["fingerprint"].startswith("etag:")
    for relative, entry in objects.items():
        assert (entry["size"], entry["fingerprint"]) == (
            listed[_key(checkpoint, relative)].size,
            listed[_key(checkpoint, relative)].fingerprint)


def test_the_pre_check_reads_only_the_manifest_and_empty_objects(
        checkpoint, reads):
    checkpoint_check.check_before_restore(checkpoint)
    assert sorted(reads) == sorted([checkpoint.key("manifest.json"),
                                    _key(checkpoint, EMPTY)])


def test_checkpoint_verify_reads_every_object(checkpoint, reads):
    assert checkpoint_verify.verify_objects(checkpoint) == []
    assert set(reads) >= {_key(checkpoint, r)
                          for r in checkpoint.manifest.objects()}


@pytest.mark.parametrize("relative", [DATA, BIG, METADATA])
def test_an_object_replaced_with_the_same_size_is_refused_unread(
        checkpoint, store, reads, relative):
    size = checkpoint.manifest.objects()[relative]["size"]
    _replace(store, checkpoint, relative, b"x" * size)
    with pytest.raises(exceptions.CheckpointCorrupt) as caught:
        checkpoint_check.check_before_restore(checkpoint)
    assert caught.value.problems == [
        f"{relative}: not what protect wrote (expected {size} bytes, "
        f"{checkpoint.manifest.objects()[relative]['fingerprint']}; the "
        f"bank lists {size} bytes, etag:"
        f"{hashlib.md5(b'x' * size).hexdigest()})"]
    assert _key(checkpoint, relative) not in reads


def test_a_missing_object_is_refused(checkpoint, store):
    del store.containers["sv"][_key(checkpoint, DATA)]
    with pytest.raises(exceptions.CheckpointCorrupt) as caught:
        checkpoint_check.check_before_restore(checkpoint)
    assert caught.value.problems == [f"{DATA}: missing"]


def test_an_extra_object_is_refused(checkpoint, store):
    store.containers["sv"][_key(checkpoint, "resources/x/y/z")] = b"1"
    with pytest.raises(exceptions.CheckpointCorrupt) as caught:
        checkpoint_check.check_before_restore(checkpoint)
    assert caught.value.problems == ["resources/x/y/z: not in the manifest"]


def test_an_object_the_listing_does_not_show_yet_is_read(
        checkpoint, bank, reads):
    """A listing that lags a write: the object is read, not refused."""
    real = bank.fingerprints
    with mock.patch.object(bank, "fingerprints", lambda prefix: {
            k: v for k, v in real(prefix).items()
            if not k.endswith(DATA)}):
        checkpoint_check.check_before_restore(checkpoint)
    assert _key(checkpoint, DATA) in reads


def test_entries_without_a_fingerprint_are_read_and_hashed(
        checkpoint, store, reads):
    """A checkpoint written before fingerprints."""
    _rewrite_manifest(checkpoint, {
        relative: {"sha256": e["sha256"], "size": e["size"]}
        for relative, e in checkpoint.manifest.objects().items()})
    checkpoint_check.check_before_restore(checkpoint)
    assert set(reads) >= {_key(checkpoint, r)
                          for r in checkpoint.manifest.objects()}
    _replace(store, checkpoint, DATA, b"x" * MiB)
    with pytest.raises(exceptions.CheckpointCorrupt,
                       match=f"{DATA}: sha256 mismatch"):
        checkpoint_check.check_before_restore(checkpoint)


def test_an_empty_object_is_read_whatever_the_listing_says(
        checkpoint, store):
    """A DLO manifest lists as 0 bytes with the md5 of nothing; a GET
    returns its segments."""
    real = store._data

    def data(container, name):
        if name == _key(checkpoint, EMPTY):
            return b"planted through a DLO"
        return real(container, name)
    with mock.patch.object(store, "_data", data):
        with pytest.raises(exceptions.CheckpointCorrupt,
                           match=f"{EMPTY}: sha256 mismatch"):
            checkpoint_check.check_before_restore(checkpoint)


def test_a_listing_that_vouches_for_a_forgery_is_caught_at_use(
        checkpoint, store):
    """An md5 collision (or corruption under Swift's listing): the
    pre-check passes, restore's checked read of metadata.json refuses."""
    listed_before = dict(store.containers["sv"])
    forged = json.dumps({"size": 1}).encode()
    real_entry = store._entry

    def entry(container, name):
        if name == _key(checkpoint, METADATA):
            blob = listed_before[name]
            return {"name": name, "bytes": len(blob),
                    "hash": hashlib.md5(blob).hexdigest()}
        return real_entry(container, name)
    _replace(store, checkpoint, METADATA, forged)
    with mock.patch.object(store, "_entry", entry):
        checkpoint_check.check_before_restore(checkpoint)
    section = checkpoint.section(IMAGE)
    assert section.load_metadata() == {"size": 1}     # an unchecked read
    with pytest.raises(exceptions.CheckpointDamaged,
                       match=f"{METADATA}: sha256 mismatch"):
        section.load_metadata(verified=True)


def test_a_malformed_fingerprint_damages_the_manifest(checkpoint, bank):
    objects = checkpoint.manifest.objects()
    objects[DATA] = dict(objects[DATA], fingerprint=12)
    _rewrite_manifest(checkpoint, objects)
    got = cp.CheckpointStore(bank).get(checkpoint.id)
    assert got.damage == (f"manifest.json: entry {DATA!r} has a "
                          "fingerprint that is not a string")
