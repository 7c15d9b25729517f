"""SwiftBank against the cloud's real Swift (devcloud's, or OS_CLOUD's).

Each test uses its own container (and ``<container>_segments``), deleted
with everything in it at teardown.
"""

import hashlib
import io
import os
import secrets

import mock
import pytest
from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.bank import base
from protection.bank.swift import SwiftBank
from tools.cloudkit.waits import wait_gone
from tests.fullstack.service_fixtures import make_service

IMAGE = "OS::Glance::Image"
MiB = 1024 * 1024


def sha(data):
    return hashlib.sha256(data).hexdigest()


def _empty_container(conn, name):
    try:
        for obj in list(conn.object_store.objects(name)):
            conn.object_store.delete_object(obj.name, container=name,
                                            ignore_missing=True)
        conn.object_store.delete_container(name, ignore_missing=True)
    except sdk_exceptions.NotFoundException:
        pass


def _delete_checkpoint(service, checkpoint_id, conn):
    try:
        service.delete(checkpoint_id, conn)
    except exceptions.CheckpointNotFound:
        pass


@pytest.fixture
def make_bank(conn, cleanup):
    if not conn.has_service("object-store"):
        pytest.skip("the cloud has no object-store (Swift) service")

    def make(**kwargs):
        container = f"sv-fullstack-{secrets.token_hex(4)}"
        cleanup(_empty_container, conn, container)
        cleanup(_empty_container, conn, container + "_segments")
        return SwiftBank(conn, container=container, **kwargs)
    return make


@pytest.fixture
def bank(make_bank):
    return make_bank(segment_size=2 * MiB, page_size=5)


def test_put_get_list_delete_round_trip(bank, conn):
    key = "checkpoints/c1/resources/OS::Glance::Image/abc-1/data/00000000"
    data = os.urandom(MiB + 7)
    info = bank.put(key, data)
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert b"".join(bank.get(key)) == data
    assert bank.sha256(key) == (len(data), sha(data))
    # the name is stored as it is, colons and all
    stored = [o.name for o in conn.object_store.objects(bank.container)]
    assert stored == [key]

    bank.put_json("checkpoints/c1/index.json", {"status": "available"})
    assert bank.get_json("checkpoints/c1/index.json") == {
        "status": "available"}
    bank.put("checkpoints/c1/from-iterable", iter([b"ab", b"", b"cd"]))
    bank.put("checkpoints/c1/from-file", io.BytesIO(b"file"))
    assert bank.list("checkpoints/c1/") == sorted([
        key, "checkpoints/c1/index.json", "checkpoints/c1/from-iterable",
        "checkpoints/c1/from-file"])
    assert bank.get_bytes("checkpoints/c1/from-iterable") == b"abcd"
    assert bank.exists(key)

    bank.put(key, b"replaced")
    assert bank.get_bytes(key) == b"replaced"

    for name in bank.list():
        bank.delete(name)
    bank.delete(key)                       # already gone: fine
    assert bank.list() == []
    assert not bank.exists(key)
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get(key)


def test_an_encoded_key_part_is_stored_under_its_literal_name(bank, conn):
    # "my%20key" is the key part of the id "my key": Swift must store the
    # '%' itself, never decode it (or "a%2Fb" would become "a/b").
    key = "checkpoints/c1/resources/OS::Nova::KeyPair/my%20key%2F..%25/x"
    bank.put(key, b"small")
    big = os.urandom(2 * MiB + 3)                      # an SLO, segments
    bank.put(key + "-big", big)
    stored = [o.name for o in conn.object_store.objects(bank.container)]
    assert stored == [key, key + "-big"]
    assert bank.list("checkpoints/c1/resources/OS::Nova::KeyPair/my%20") \
        == [key, key + "-big"]
    assert bank.get_bytes(key) == b"small"
    assert bank.sha256(key + "-big") == (len(big), sha(big))
    assert bank.exists(key)
    bank.delete(key)
    bank.delete(key + "-big")
    assert bank.list() == []
    assert list(conn.object_store.objects(bank.container + "_segments")) \
        == []


def test_an_unused_bank_is_empty(make_bank):
    bank = make_bank()
    assert bank.list() == []
    assert not bank.exists("x")
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get("x")
    bank.delete("x")


def test_large_ish_stream_is_one_object(bank, conn):
    block = os.urandom(MiB)
    expected = hashlib.sha256()

    def stream():
        for i in range(24):
            chunk = i.to_bytes(4, "big") + block[4:]
            expected.update(chunk)
            yield chunk

    info = bank.put("big-stream", stream())
    assert info.size == 24 * MiB and info.sha256 == expected.hexdigest()
    assert bank.sha256("big-stream") == (24 * MiB, expected.hexdigest())
    meta = conn.object_store.get_object_metadata("big-stream",
                                                 container=bank.container)
    assert not meta.is_static_large_object


def test_large_known_size_object_is_an_slo_with_segments(bank, conn):
    data = os.urandom(5 * MiB + 3)
    info = bank.put("ckpt/big", io.BytesIO(data))
    assert (info.size, info.sha256) == (len(data), sha(data))
    meta = conn.object_store.get_object_metadata("ckpt/big",
                                                 container=bank.container)
    assert meta.is_static_large_object
    segments = [o.name for o in
                conn.object_store.objects(bank.segment_container)]
    assert len(segments) == 3 and all(s.startswith("ckpt/big/")
                                      for s in segments)
    assert bank.get_bytes("ckpt/big") == data
    assert bank.list("ckpt/") == ["ckpt/big"]

    bank.put("ckpt/big", b"small")           # overwrite: old segments go
    assert list(conn.object_store.objects(bank.segment_container)) == []
    bank.put("ckpt/big", io.BytesIO(data))
    bank.delete("ckpt/big")                  # delete: segments go too
    assert list(conn.object_store.objects(bank.segment_container)) == []
    assert bank.list() == []


def test_a_stream_over_the_limit_stores_nothing(bank):
    bank._max_object_size = MiB               # stands for Swift's 5 GiB

    def stream():
        for _ in range(3):
            yield os.urandom(MiB // 2)

    with pytest.raises(exceptions.BankError, match="nothing was stored"):
        bank.put("too-big", stream())
    # Swift discarded the aborted chunked upload: no partial object
    assert bank.list() == []


def test_an_aborted_upload_leaves_the_old_object(bank):
    bank.put("k", b"old contents")

    def broken():
        yield b"new contents, first part"
        raise RuntimeError("source failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        bank.put("k", broken())
    assert bank.get_bytes("k") == b"old contents"


def test_list_by_prefix_pages_with_marker(bank, conn):
    names = [f"checkpoints/p/{i:03d}" for i in range(12)]
    for name in names + ["checkpoints/q/000", "other"]:
        bank.put(name, name.encode())
    store = conn.object_store
    with mock.patch.object(store, "get", wraps=store.get) as get:
        assert bank.list("checkpoints/p/") == names
    queries = [c.kwargs["params"] for c in get.call_args_list]
    assert [q.get("marker") for q in queries] == [None, names[4], names[9]]
    assert all(q["limit"] == 5 for q in queries)
    assert len(bank.list()) == 14


def test_fingerprints_listed_are_those_put_returned(bank, conn):
    """Swift's listing reports, for a plain object, an SLO and an empty
    object, the fingerprint the put took from Swift's PUT response."""
    plain, big = os.urandom(MiB + 1), os.urandom(5 * MiB + 3)
    infos = [bank.put("c/plain", plain), bank.put("c/slo", io.BytesIO(big)),
             bank.put("c/empty", b""), bank.put("c/page", b"p"),
             bank.put("c/pages", b"q"), bank.put("c/paged", b"r")]
    assert infos[0].fingerprint == "etag:" + hashlib.md5(plain).hexdigest()
    meta = conn.object_store.get_object_metadata("c/slo",
                                                 container=bank.container)
    assert meta.is_static_large_object
    assert infos[1].fingerprint == "slo:" + meta.etag.strip('"')
    assert infos[2].fingerprint == "etag:" + hashlib.md5(b"").hexdigest()
    listed = bank.fingerprints("c/")       # two pages of five
    assert listed == {info.key: base.Listed(info.size, info.fingerprint)
                      for info in infos}
    assert listed["c/slo"].size == len(big)
    bank.put("c/plain", os.urandom(MiB + 1))
    assert bank.fingerprints("c/")["c/plain"].fingerprint != \
        infos[0].fingerprint


def test_protect_and_restore_an_image_with_the_swift_bank(
        make_bank, conn, cleanup, random_image, tmp_path):
    bank = make_bank()
    service = make_service(tmp_path / "unused", bank=bank, overrides={
        ("image_data", "object_size_mib"): 1})
    original, data = random_image(size=2 * MiB + 99)
    result = service.protect(conn, "fullstack-swift", [(IMAGE, original.id)])
    checkpoint_id = result.checkpoint_id
    cleanup(_delete_checkpoint, service, checkpoint_id, conn)
    service.verify(checkpoint_id, conn)
    keys = bank.list(f"checkpoints/{checkpoint_id}/")
    assert sum("/data/" in k for k in keys) == 3
    assert f"checkpoints/{checkpoint_id}/index.json" in keys
    # Every object's fingerprint is recorded, as Swift lists it.
    checkpoint = service.checkpoints.get(checkpoint_id)
    listed = bank.fingerprints(checkpoint.key(""))
    for relative, entry in checkpoint.manifest.objects().items():
        assert entry["fingerprint"] == \
            listed[checkpoint.key(relative)].fingerprint

    conn.image.delete_image(original.id)
    wait_gone(lambda: conn.image.get_image(original.id),
              what=f"image {original.id}")
    with mock.patch.object(bank, "get", wraps=bank.get) as get:
        restored = service.restore(checkpoint_id, conn, {
            IMAGE: {"restore_name":
                    f"fullstack-swift-{secrets.token_hex(3)}"}})
    # Each data object is read once: by the upload, not by the pre-check.
    data_reads = [c.args[0] for c in get.call_args_list
                  if "/data/" in c.args[0]]
    assert sorted(data_reads) == sorted(k for k in keys if "/data/" in k)
    new_id = restored.restored[f"{IMAGE}#{original.id}"]
    cleanup(conn.image.delete_image, new_id, ignore_missing=True)
    response = conn.image.download_image(new_id, stream=True)
    try:
        assert b"".join(response.iter_content(MiB)) == data
    finally:
        response.close()

    service.delete(checkpoint_id, conn)
    assert bank.list() == []


def test_restore_refuses_an_object_replaced_in_swift_before_creating(
        make_bank, conn, cleanup, random_image, tmp_path):
    """An image data object replaced in Swift (same size) after protect:
    restore's pre-check refuses it from the listing, before any image is
    created, without reading the data objects."""
    bank = make_bank()
    service = make_service(tmp_path / "unused", bank=bank, overrides={
        ("image_data", "object_size_mib"): 1})
    original, _data = random_image(size=2 * MiB + 99)
    checkpoint_id = service.protect(
        conn, "fullstack-swift-tamper", [(IMAGE, original.id)]).checkpoint_id
    cleanup(_delete_checkpoint, service, checkpoint_id, conn)
    victim = [k for k in bank.list(f"checkpoints/{checkpoint_id}/")
              if k.endswith("/data/00000001")][0]
    conn.object_store.create_object(
        bank.container, victim.replace("%", "%25"), data=os.urandom(MiB))
    name = f"fullstack-swift-tamper-{secrets.token_hex(3)}"
    with mock.patch.object(bank, "get", wraps=bank.get) as get:
        with pytest.raises(exceptions.CheckpointCorrupt) as caught:
            service.restore(checkpoint_id, conn,
                            {IMAGE: {"restore_name": name}})
    relative = victim[len(f"checkpoints/{checkpoint_id}/"):]
    assert f"{relative}: not what protect wrote" in str(caught.value)
    assert not [c for c in get.call_args_list if "/data/" in c.args[0]]
    assert list(conn.image.images(name=name)) == []
    # The deep check reads it and names it too.
    with pytest.raises(exceptions.OperationFailed,
                       match=f"{relative}: sha256 mismatch"):
        service.verify(checkpoint_id, conn)


def test_a_replaced_slo_segment_is_not_listed_but_fails_its_read(bank, conn):
    """What the pre-check cannot see (doc/banks/swift.rst): a segment
    replaced in <container>_segments leaves the SLO's listing as it was,
    and Swift refuses to serve the SLO whole (its manifest names each
    segment's etag): the read at use fails and the restore reverts."""
    data = os.urandom(5 * MiB + 3)
    info = bank.put("ckpt/big", io.BytesIO(data))
    segment = sorted(o.name for o in
                     conn.object_store.objects(bank.segment_container))[1]
    conn.object_store.create_object(bank.segment_container, segment,
                                    data=os.urandom(2 * MiB))
    assert bank.fingerprints("ckpt/")["ckpt/big"].fingerprint == \
        info.fingerprint
    # Swift cuts the body after the last good segment.
    with pytest.raises(exceptions.BankError,
                       match="reading 'ckpt/big' .* was cut short: "
                             ".*IncompleteRead"):
        bank.sha256("ckpt/big")
