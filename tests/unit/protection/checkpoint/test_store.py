"""Checkpoints in a bank: layout, statuses, manifest, verify, store."""

import hashlib
import json
import os
import threading

import mock
import pytest

from protection.checkpoint import section
from protection.checkpoint import manifest as manifest_mod
from protection.checkpoint import store as cp
from protection.checkpoint import verify as checkpoint_verify
from protection import exceptions
from protection.bank.filesystem import FileSystemBank
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource

SERVER = Resource("OS::Nova::Server", "srv-1", "web")
VOLUME = Resource("OS::Cinder::Volume", "vol-1", "data", {"boot": True})


@pytest.fixture
def bank(tmp_path):
    return FileSystemBank(str(tmp_path / "bank"))


@pytest.fixture
def store(bank):
    return cp.CheckpointStore(bank)


def make_graph():
    children = {SERVER.key: [VOLUME]}
    return ResourceGraph.build([SERVER], lambda r: children.get(r.key, []))


def protect(store, name="nightly", data=b"volume-bytes"):
    """What a protect does: create, write per-resource objects, commit."""
    checkpoint = store.create({"name": name, "resources": [list(SERVER.key)],
                               "parameters": {}}, make_graph())
    vol = checkpoint.section(VOLUME)
    vol.save_metadata({"backup_id": "b-1", "size": 1})
    vol.put("data", data)
    srv = checkpoint.section(SERVER)
    srv.save_metadata({"flavor": "m1.small"})
    return checkpoint


def committed(store, **kwargs):
    checkpoint = protect(store, **kwargs)
    checkpoint.commit()
    return store.get(checkpoint.id)


def object_path(bank, checkpoint, relative):
    return os.path.join(bank.root, *checkpoint.key(relative).split("/"))


def sha(data):
    return hashlib.sha256(data).hexdigest()


# -- create / commit / fail --------------------------------------------------
def test_create_writes_a_protecting_index(store, bank):
    checkpoint = store.create({"name": "n"}, make_graph())
    index = bank.get_json(f"checkpoints/{checkpoint.id}/index.json")
    assert index["status"] == cp.PROTECTING
    assert index["format_version"] == cp.FORMAT_VERSION
    assert index["id"] == checkpoint.id
    assert index["plan"] == {"name": "n"}
    assert index["created_at"] and index["updated_at"]
    assert index["graph"] == make_graph().to_dict()
    assert "manifest_sha256" not in index
    assert not bank.exists(f"checkpoints/{checkpoint.id}/manifest.json")


def test_commit_writes_manifest_and_marks_available(store, bank):
    checkpoint = protect(store)
    checkpoint.commit()
    prefix = f"checkpoints/{checkpoint.id}/"
    assert bank.list(prefix) == sorted([
        prefix + "index.json",
        prefix + "index.sha256",
        prefix + "manifest.json",
        prefix + "resources/OS::Cinder::Volume/vol-1/data",
        prefix + "resources/OS::Cinder::Volume/vol-1/metadata.json",
        prefix + "resources/OS::Nova::Server/srv-1/metadata.json",
    ])
    index = bank.get_json(prefix + "index.json")
    assert index["status"] == cp.AVAILABLE
    manifest_bytes = bank.get_bytes(prefix + "manifest.json")
    assert index["manifest_sha256"] == sha(manifest_bytes)
    manifest = json.loads(manifest_bytes)
    assert manifest["format_version"] == cp.FORMAT_VERSION
    data_entry = manifest["objects"]["resources/OS::Cinder::Volume/vol-1/data"]
    assert data_entry == {"sha256": sha(b"volume-bytes"), "size": 12}
    # Every object except the index, its hash and the manifest is in the
    # manifest, with its real hash.
    assert sorted(manifest["objects"]) == sorted(
        k[len(prefix):] for k in bank.list(prefix)
        if not k.endswith(("/index.json", "/index.sha256",
                           "/manifest.json")))
    hashes = bank.get_json(prefix + "index.sha256")
    assert hashes["sha256"] == sha(bank.get_bytes(prefix + "index.json"))
    for relative, entry in manifest["objects"].items():
        assert bank.sha256(prefix + relative) == (entry["size"],
                                                  entry["sha256"])


def test_index_is_available_only_after_the_manifest(store, bank):
    checkpoint = protect(store)
    order = []
    real_put = bank.put

    def put(key, data):
        info = real_put(key, data)
        if key.endswith(("index.json", "manifest.json")):
            order.append((key.rsplit("/", 1)[1],
                          json.loads(bank.get_bytes(key)).get("status")))
        return info

    bank.put = put
    checkpoint.commit()
    assert order == [("manifest.json", None), ("index.json", cp.AVAILABLE)]


def test_fail_leaves_error_with_reasons(store, bank):
    checkpoint = protect(store)
    checkpoint.fail(["OS::Cinder::Volume vol-1: step backup: quota exceeded"])
    got = store.get(checkpoint.id)
    assert got.status == cp.ERROR
    assert got.index["errors"] == [
        "OS::Cinder::Volume vol-1: step backup: quota exceeded"]
    # What was written stays listed, so delete can find it.
    assert "resources/OS::Cinder::Volume/vol-1/data" in got.manifest.objects()


def test_get_round_trips_the_checkpoint(store):
    checkpoint = committed(store, name="weekly")
    assert checkpoint.name == "weekly"
    assert checkpoint.status == cp.AVAILABLE
    assert [r.key for r in checkpoint.graph] == [SERVER.key, VOLUME.key]
    vol = checkpoint.graph.resource(VOLUME.key)
    assert vol.extra == {"boot": True}
    summary = checkpoint.to_summary()
    assert summary["id"] == checkpoint.id
    assert summary["name"] == "weekly"
    assert summary["status"] == cp.AVAILABLE
    assert summary["resources"] == 2


def test_set_resource_status_is_saved(store):
    checkpoint = protect(store)
    checkpoint.set_resource_status(VOLUME, "error", "backup failed")
    checkpoint.set_resource_status(SERVER, "available")
    checkpoint.commit()
    got = store.get(checkpoint.id)
    assert got.index["resources"] == {
        "OS::Cinder::Volume#vol-1": {"status": "error",
                                     "reason": "backup failed"},
        "OS::Nova::Server#srv-1": {"status": "available"},
    }


# -- resource sections --------------------------------------------------------
def test_section_objects_are_relative_and_in_the_manifest(store):
    checkpoint = protect(store)
    vol = checkpoint.section(VOLUME)
    assert vol.list() == ["data", "metadata.json"]
    assert b"".join(vol.get("data")) == b"volume-bytes"
    assert vol.load_metadata() == {"backup_id": "b-1", "size": 1}
    vol.put_json("extra.json", {"k": 1})
    assert vol.get_json("extra.json") == {"k": 1}
    assert "resources/OS::Cinder::Volume/vol-1/extra.json" in \
        checkpoint.manifest.objects()
    vol.delete("extra.json")
    assert "resources/OS::Cinder::Volume/vol-1/extra.json" not in \
        checkpoint.manifest.objects()
    assert vol.list() == ["data", "metadata.json"]


def test_section_metadata_missing_is_empty(store):
    checkpoint = store.create({"name": "n"}, make_graph())
    assert checkpoint.section(VOLUME).load_metadata() == {}


@pytest.mark.parametrize("name", ["../../other/data", "/abs", "a/../../b"])
def test_section_cannot_escape_its_resource(store, name):
    checkpoint = protect(store)
    with pytest.raises(exceptions.InvalidBankKey):
        checkpoint.section(VOLUME).put(name, b"x")


KEYPAIR = "OS::Nova::KeyPair"
# Ids bank keys refuse as they are, and ids that look like their encodings.
ODD_IDS = ["my key", "my%20key", "a/b", "a", "..", ".", "../../escape",
           "caf\u00e9 \U0001f511", "50%", "tab\tand\nline"]


def test_each_id_has_its_own_section_inside_the_checkpoint(store, bank):
    resources = [Resource(KEYPAIR, rid) for rid in ODD_IDS]
    graph = ResourceGraph.build(resources, lambda r: [])
    checkpoint = store.create({"name": "keys"}, graph)
    for resource in resources:
        checkpoint.section(resource).save_metadata({"name": resource.id})
    checkpoint.commit()
    got = store.get(checkpoint.id)
    for rid in ODD_IDS:
        assert got.metadata_of(KEYPAIR, rid) == {"name": rid}
        assert got.section(Resource(KEYPAIR, rid)).list() == [
            "metadata.json"]
    assert checkpoint_verify.verify_objects(got) == []
    assert section.section_prefix(Resource(KEYPAIR, "my key")) == \
        f"resources/{KEYPAIR}/my%20key/"
    assert section.section_prefix(VOLUME) == \
        "resources/OS::Cinder::Volume/vol-1/"
    # one directory per id, every file inside the checkpoint's directory
    top = os.path.join(bank.root, "checkpoints", checkpoint.id)
    found = []
    for root, _dirs, files in os.walk(bank.root):
        found += [os.path.relpath(os.path.join(root, f), top) for f in files]
    sections = sorted(f.split(os.sep)[2] for f in found
                      if f.endswith("metadata.json"))
    assert sections == sorted(
        ["my%20key", "my%2520key", "a%2Fb", "a", "%2E%2E", "%2E",
         "..%2F..%2Fescape", "caf%C3%A9%20%F0%9F%94%91", "50%25",
         "tab%09and%0Aline"])
    assert all(not f.startswith("..") for f in found)


# -- verify -------------------------------------------------------------------
def test_verify_of_an_intact_checkpoint_finds_nothing(store):
    assert checkpoint_verify.verify_objects(committed(store)) == []


def test_verify_hashes_several_objects_at_once(store, bank):
    """Objects are hashed VERIFY_WORKERS at a time: three objects meet at
    a barrier inside their reads, only possible when they run at once."""
    checkpoint = committed(store)
    barrier = threading.Barrier(3, timeout=10)
    real_sha256 = bank.sha256

    def sha256(key):
        if "/resources/" in key:          # not the manifest, hashed first
            barrier.wait()
        return real_sha256(key)

    assert len(checkpoint.manifest.objects()) == 3
    with mock.patch.object(bank, "sha256", side_effect=sha256):
        assert checkpoint_verify.verify_objects(checkpoint) == []


def test_verify_reports_problems_in_the_objects_order(store, bank):
    checkpoint = committed(store)
    for relative in checkpoint.manifest.objects():
        os.unlink(object_path(bank, checkpoint, relative))
    assert checkpoint_verify.verify_objects(store.get(checkpoint.id)) == [
        f"{relative}: missing"
        for relative in sorted(checkpoint.manifest.objects())]


def test_verify_detects_a_flipped_byte(store, bank):
    checkpoint = committed(store)
    path = object_path(bank, checkpoint,
                       "resources/OS::Cinder::Volume/vol-1/data")
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0x01]))
    problems = checkpoint_verify.verify_objects(store.get(checkpoint.id))
    assert len(problems) == 1
    assert problems[0].startswith(
        "resources/OS::Cinder::Volume/vol-1/data: sha256 mismatch")


def test_verify_detects_a_truncated_object(store, bank):
    checkpoint = committed(store)
    path = object_path(bank, checkpoint,
                       "resources/OS::Cinder::Volume/vol-1/data")
    with open(path, "wb") as handle:
        handle.write(b"volume")
    problems = checkpoint_verify.verify_objects(store.get(checkpoint.id))
    assert len(problems) == 1
    assert "6 bytes" in problems[0] and "12 bytes" in problems[0]


def test_verify_detects_a_missing_object(store, bank):
    checkpoint = committed(store)
    os.unlink(object_path(bank, checkpoint,
                          "resources/OS::Nova::Server/srv-1/metadata.json"))
    assert checkpoint_verify.verify_objects(store.get(checkpoint.id)) == [
        "resources/OS::Nova::Server/srv-1/metadata.json: missing"]


def test_verify_detects_an_extra_object(store, bank):
    checkpoint = committed(store)
    bank.put(checkpoint.key("resources/OS::Nova::Server/srv-1/smuggled"),
             b"x")
    assert checkpoint_verify.verify_objects(store.get(checkpoint.id)) == [
        "resources/OS::Nova::Server/srv-1/smuggled: not in the manifest"]


def test_verify_detects_a_tampered_manifest(store, bank):
    checkpoint = committed(store)
    key = checkpoint.key("manifest.json")
    manifest = bank.get_json(key)
    entry = manifest["objects"]["resources/OS::Cinder::Volume/vol-1/data"]
    # Someone rewrites the data and "fixes" the manifest to match.
    bank.put(checkpoint.key("resources/OS::Cinder::Volume/vol-1/data"),
             b"evil-bytes")
    entry["sha256"] = sha(b"evil-bytes")
    entry["size"] = 10
    bank.put_json(key, manifest)
    problems = checkpoint_verify.verify_objects(store.get(checkpoint.id))
    assert problems == ["manifest.json: sha256 does not match the index"]


def test_verify_detects_a_missing_manifest(store, bank):
    checkpoint = committed(store)
    bank.delete(checkpoint.key("manifest.json"))
    got = store.get(checkpoint.id)
    problems = checkpoint_verify.verify_objects(got)
    assert "manifest.json: missing" in problems
    # Without the manifest, every object is unaccounted for.
    assert any("not in the manifest" in p for p in problems)


def test_verify_reports_a_manifest_entry_that_escapes(store, bank):
    checkpoint = committed(store)
    key = checkpoint.key("manifest.json")
    manifest = bank.get_json(key)
    manifest["objects"]["../../../etc/passwd"] = {"sha256": "0" * 64,
                                                 "size": 1}
    bank.put_json(key, manifest)
    problems = checkpoint_verify.verify_objects(store.get(checkpoint.id))
    assert "manifest.json: sha256 does not match the index" in problems
    assert any(p.startswith("../../../etc/passwd:") for p in problems)


def test_verify_of_an_unfinished_checkpoint(store):
    checkpoint = protect(store)
    problems = checkpoint_verify.verify_objects(store.get(checkpoint.id))
    assert problems[0].startswith("index records no manifest")


# -- store --------------------------------------------------------------------
@pytest.mark.parametrize("checkpoint_id", [
    "0d7e5a3c-0000-4000-8000-000000000000", "", "..", "../bank",
    "a/../../etc", "/etc", "a b", "x\n"])
def test_get_of_unknown_or_invalid_id_is_checkpoint_not_found(
        store, checkpoint_id):
    committed(store)
    with pytest.raises(exceptions.CheckpointNotFound) as err:
        store.get(checkpoint_id)
    assert err.value.checkpoint_id == checkpoint_id


def test_get_does_not_take_a_nested_path_for_a_checkpoint_id(store):
    checkpoint = committed(store)
    # A plugin may legitimately store an object called index.json.
    checkpoint.section(VOLUME).put_json("index.json", checkpoint.index)
    nested = f"{checkpoint.id}/resources/OS::Cinder::Volume/vol-1"
    with pytest.raises(exceptions.CheckpointNotFound):
        store.get(nested)


def test_get_rejects_an_unknown_format_version(store, bank):
    checkpoint = committed(store)
    index = bank.get_json(checkpoint.key("index.json"))
    index["format_version"] = cp.SIGNED_FORMAT_VERSION + 1
    bank.put_json(checkpoint.key("index.json"), index)
    found = store.get(checkpoint.id)
    assert found.status == cp.DAMAGED
    assert "format 4; this stackvault reads formats 1, 2 and 3" in \
        found.damage
    assert not found.deletable       # a newer stackvault's plugins must
    with pytest.raises(exceptions.CheckpointDamaged, match="format"):
        found.require_available()


def test_list_is_sorted_by_creation_time(store, bank):
    made = [committed(store, name=f"cp{i}") for i in range(4)]
    # Creation times that disagree with the (random) id order.
    times = ["2026-01-03T00:00:00+00:00", "2026-01-01T00:00:00+00:00",
             "2026-01-04T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    for checkpoint, when in zip(made, times):
        checkpoint.index["created_at"] = when
        bank.put_json(checkpoint.key("index.json"), checkpoint.index)
    assert [c.name for c in store.list()] == ["cp1", "cp3", "cp0", "cp2"]


def test_list_only_counts_checkpoint_indexes(store, bank):
    one = committed(store)
    bank.put("checkpoints/stray-file", b"x")
    bank.put("elsewhere/c/index.json", b"{}")
    assert [c.id for c in store.list()] == [one.id]


def test_list_of_an_empty_bank(store):
    assert store.list() == []


def test_remove_deletes_everything_index_last(store, bank):
    keep = committed(store, name="keep")
    gone = committed(store, name="gone")
    deleted = []
    real_delete = bank.delete

    def delete(key):
        deleted.append(key)
        return real_delete(key)

    bank.delete = delete
    store.remove(gone)
    assert deleted[-2:] == [gone.key("index.sha256"),
                            gone.key("index.json")]
    assert len(deleted) == 6
    assert bank.list(f"checkpoints/{gone.id}/") == []
    assert not os.path.exists(os.path.join(bank.root, "checkpoints",
                                           gone.id))
    with pytest.raises(exceptions.CheckpointNotFound):
        store.get(gone.id)
    assert [c.id for c in store.list()] == [keep.id]
    assert checkpoint_verify.verify_objects(store.get(keep.id)) == []


def test_manifest_is_safe_to_record_from_threads():
    import threading

    manifest = manifest_mod.Manifest()

    class Info:
        sha256 = "s"
        size = 1
        fingerprint = None

    def work(n):
        for i in range(200):
            manifest.record(f"t{n}/o{i}", Info)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(manifest.objects()) == 1600
    assert manifest.to_dict()["format_version"] == cp.FORMAT_VERSION


def test_a_damaged_index_does_not_hide_the_other_checkpoints(tmp_path):
    bank = FileSystemBank(str(tmp_path))
    store = cp.CheckpointStore(bank)
    graph = ResourceGraph.build([Resource("OS::T::X", "a")], lambda r: [])
    good = store.create({"name": "good"}, graph)
    bad = store.create({"name": "bad"}, graph)
    bank.put(f"checkpoints/{bad.id}/index.json", b"{not json")
    listed = {c.id: c for c in store.list()}
    assert listed[good.id].status == cp.PROTECTING
    assert listed[bad.id].status == cp.DAMAGED
    assert listed[bad.id].damage.startswith("index.json: not valid JSON")
    with pytest.raises(exceptions.CheckpointDamaged, match="not valid JSON"):
        store.get(bad.id).require_available()


@pytest.mark.parametrize("field, value", [("created_at", 1700000000),
                                          ("name", ["x"])])
def test_an_index_field_of_the_wrong_type_is_damage_not_a_failed_list(
        tmp_path, field, value):
    # An integer created_at (hashes and all, as a writer of the bank can
    # make it) made `checkpoint list` fail for everyone: sorting compared
    # it with the others' strings (issue #23, reproduced).
    bank = FileSystemBank(str(tmp_path))
    store = cp.CheckpointStore(bank)
    graph = ResourceGraph.build([Resource("OS::T::X", "a")], lambda r: [])
    good = store.create({"name": "good"}, graph)
    bad = store.create({"name": "bad"}, graph)
    bad.index[field] = value
    bad.save_index()
    listed = {c.id: c for c in store.list()}
    assert listed[good.id].status == cp.PROTECTING
    assert listed[bad.id].status == cp.DAMAGED
    assert listed[bad.id].damage == f"index.json: '{field}' is not a string"
