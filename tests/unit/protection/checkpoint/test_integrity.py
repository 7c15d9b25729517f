"""Keyed integrity: HKDF purpose keys, signed indexes and manifests
(format 3), and what a writer of the bank without the key can no longer
do unnoticed (issue #23 item 3)."""

import os

import pytest

from protection import exceptions
from protection.bank import base
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import check
from protection.checkpoint import integrity
from protection.checkpoint import load
from protection.checkpoint import store as cp
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource

SERVER = Resource("OS::Nova::Server", "srv-1", "web")
KEY = integrity.BankKey(b"k" * 32)
OTHER_KEY = integrity.BankKey(b"o" * 32)


@pytest.fixture
def bank(tmp_path):
    return FileSystemBank(str(tmp_path / "bank"))


def _store(bank, key=KEY):
    return cp.CheckpointStore(bank, bank_key=key)


def _committed(store):
    graph = ResourceGraph.build([SERVER], lambda r: [])
    checkpoint = store.create({"name": "n"}, graph,
                              tenancy=cp.Tenancy("proj-a", "u", "plan-1"))
    checkpoint.section(SERVER).save_metadata({"flavor": "m1.small"})
    checkpoint.commit()
    return checkpoint


def _forge_index(bank, checkpoint, change, rehash=True):
    """What someone who can write the bank but lacks the key does: edit
    the index and recompute its sha256 in index.sha256."""
    index = bank.get_json(checkpoint.key(cp.INDEX))
    change(index)
    data = base.encode_json(index)
    bank.put(checkpoint.key(cp.INDEX), data)
    if rehash:
        hashes = bank.get_json(checkpoint.key(cp.INDEX_HASH))
        hashes["sha256"] = base.sha256_hex(data)
        bank.put_json(checkpoint.key(cp.INDEX_HASH), hashes)


# -- keys ---------------------------------------------------------------------
def test_hkdf_matches_rfc_5869_test_cases_1_and_3():
    ikm = bytes([0x0B] * 22)
    assert integrity.hkdf_sha256(
        ikm, bytes(range(0xF0, 0xFA)), 42, bytes(range(13))).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        "34007208d5b887185865")
    assert integrity.hkdf_sha256(ikm, b"", 42).hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        "9d201395faa4b61a96c8")


def test_each_purpose_gets_its_own_key():
    derived = {integrity.derive(b"s" * 32, p) for p in integrity.PURPOSES}
    assert len(derived) == len(integrity.PURPOSES)
    with pytest.raises(ValueError):
        integrity.derive(b"s" * 32, b"stackvault something else")


def _key_file(tmp_path, content, mode=0o600):
    path = tmp_path / "bank.key"
    path.write_bytes(content)
    os.chmod(path, mode)
    return str(path)


def test_a_key_file_is_read_when_private_and_long_enough(tmp_path):
    key = integrity.load_key_file(_key_file(tmp_path, b"k" * 32))
    assert key.key_id == KEY.key_id


@pytest.mark.parametrize("content, mode, reason", [
    (b"k" * 32, 0o644, "chmod 600"),
    (b"k" * 31, 0o600, "at least 32 bytes"),
])
def test_a_bad_key_file_is_one_config_error(tmp_path, content, mode, reason):
    with pytest.raises(exceptions.ConfigError, match=reason):
        integrity.load_key_file(_key_file(tmp_path, content, mode))


def test_a_missing_key_file_is_one_config_error(tmp_path):
    with pytest.raises(exceptions.ConfigError, match="cannot read it"):
        integrity.load_key_file(str(tmp_path / "none"))


# -- signing ------------------------------------------------------------------
def test_a_checkpoint_made_with_a_key_is_format_3_and_signed(bank):
    checkpoint = _committed(_store(bank))
    index = bank.get_json(checkpoint.key(cp.INDEX))
    hashes = bank.get_json(checkpoint.key(cp.INDEX_HASH))
    assert index["format_version"] == 3
    assert hashes["key_id"] == KEY.key_id
    assert KEY.verifies(integrity.INDEX_MAC, hashes["sha256"], hashes["mac"])
    manifest = bank.get_bytes(checkpoint.key(cp.MANIFEST))
    assert KEY.verifies(integrity.MANIFEST_MAC, manifest,
                        index["manifest_mac"])
    found = _store(bank).get(checkpoint.id)
    assert found.damage is None and found.warnings == []
    check.check_before_restore(found)


def test_the_previous_index_stays_valid_after_a_crash_between_writes(bank):
    checkpoint = _committed(_store(bank))
    before = bank.get_bytes(checkpoint.key(cp.INDEX))
    checkpoint.index["errors"] = ["x"]
    checkpoint.save_index()
    bank.put(checkpoint.key(cp.INDEX), before)  # index.json not yet written
    assert _store(bank).get(checkpoint.id).damage is None


@pytest.mark.parametrize("field, value", [
    ("status", "error"), ("project_id", "proj-b"), ("plan_id", "x"),
    ("created_at", "2020-01-01T00:00:00+00:00"), ("manifest_sha256", "0"),
    ("manifest_mac", "0"), ("plan", {"name": "forged"}),
    ("errors", ["planted"]), ("id", "other"),
])
def test_an_index_edited_and_rehashed_without_the_key_is_damaged(
        bank, field, value):
    checkpoint = _committed(_store(bank))
    _forge_index(bank, checkpoint, lambda index: index.update({field: value}))
    found = _store(bank).get(checkpoint.id)
    assert found.status == cp.DAMAGED
    assert found.damage == "index.sha256: signature does not match the index"
    with pytest.raises(exceptions.CheckpointDamaged, match="signature"):
        check.check_before_restore(found)


def test_a_manifest_rewritten_with_the_whole_chain_rehashed_is_damaged(bank):
    checkpoint = _committed(_store(bank))
    manifest = bank.get_json(checkpoint.key(cp.MANIFEST))
    for entry in manifest["objects"].values():
        entry["sha256"] = "0" * 64
    info = bank.put_json(checkpoint.key(cp.MANIFEST), manifest)
    _forge_index(bank, checkpoint,
                 lambda index: index.update(manifest_sha256=info.sha256))
    assert _store(bank).get(checkpoint.id).status == cp.DAMAGED


def test_a_manifest_whose_signature_is_wrong_is_damaged(bank):
    store = _store(bank)
    checkpoint = _committed(store)
    checkpoint.index["manifest_mac"] = "0" * 64
    checkpoint.save_index()         # a validly signed index, wrong manifest
    found = store.get(checkpoint.id)
    assert found.damage == "manifest.json: signature does not match the index"


@pytest.mark.parametrize("strip, reason", [
    (lambda bank, c: bank.delete(c.key(cp.INDEX_HASH)),
     "index.sha256: missing"),
    (lambda bank, c: (bank.delete(c.key(cp.INDEX_HASH)), _forge_index(
        bank, c, lambda index: index.pop("index_hash"), rehash=False)),
     "index.sha256: missing"),
    (lambda bank, c: _forge_index(bank, c, lambda index: index.update(
        format_version=2)), "not signed (format 2)"),
    (lambda bank, c: bank.put_json(c.key(cp.INDEX_HASH), {
        "sha256": base.sha256_hex(bank.get_bytes(c.key(cp.INDEX)))}),
     "index.sha256: not signed"),
])
def test_a_stripped_signature_or_chain_is_damaged(bank, strip, reason):
    checkpoint = _committed(_store(bank))
    strip(bank, checkpoint)
    found = _store(bank).get(checkpoint.id)
    assert found.status == cp.DAMAGED
    assert reason in found.damage


def test_a_checkpoint_signed_with_another_key_is_damaged(bank):
    checkpoint = _committed(_store(bank, OTHER_KEY))
    found = _store(bank).get(checkpoint.id)
    assert "signed with another key" in found.damage
    assert OTHER_KEY.key_id in found.damage


def test_a_signed_checkpoint_copied_under_another_id_is_damaged(bank):
    checkpoint = _committed(_store(bank))
    for key in bank.list(checkpoint.key("")):
        bank.put(key.replace(checkpoint.id, "copy"), bank.get_bytes(key))
    found = _store(bank).get("copy")
    assert "signed for checkpoint" in found.damage


# -- old formats, and no key --------------------------------------------------
@pytest.mark.parametrize("version", [1, 2])
def test_unsigned_formats_are_damaged_with_a_key(bank, version):
    checkpoint = _committed(_store(bank, None))
    checkpoint.index["format_version"] = version
    checkpoint.save_index()
    assert _store(bank, None).get(checkpoint.id).damage is None
    found = _store(bank).get(checkpoint.id)
    assert found.damage.startswith(f"index.json: not signed (format "
                                   f"{version})")


def test_without_a_key_a_format_1_index_without_hash_only_warns(bank):
    checkpoint = _committed(_store(bank, None))
    _forge_index(bank, checkpoint, lambda index: (
        index.update(format_version=1), index.pop("index_hash")),
        rehash=False)
    bank.delete(checkpoint.key(cp.INDEX_HASH))
    found = _store(bank, None).get(checkpoint.id)
    assert found.damage is None
    assert found.warnings == [load.OLD_INDEX_WARNING]


def test_without_a_key_a_format_2_index_stripped_of_its_chain_is_damaged(
        bank):
    """Reproduced before: stripping index.sha256 and index_hash gave only
    a warning; format 2 was always written with its chain."""
    checkpoint = _committed(_store(bank, None))
    _forge_index(bank, checkpoint, lambda index: index.pop("index_hash"),
                 rehash=False)
    bank.delete(checkpoint.key(cp.INDEX_HASH))
    found = _store(bank, None).get(checkpoint.id)
    assert found.damage == "index.sha256: missing (format 2 always has it)"


def test_without_a_key_a_signed_checkpoint_is_read_with_a_warning(bank):
    checkpoint = _committed(_store(bank))
    found = _store(bank, None).get(checkpoint.id)
    assert found.damage is None
    assert found.warnings == [load.UNCHECKED_SIGNATURE_WARNING]


def test_adopting_a_signed_checkpoint_needs_the_key(bank):
    store = _store(bank)
    graph = ResourceGraph.build([SERVER], lambda r: [])
    checkpoint = store.create({"name": "n"}, graph)
    checkpoint.commit()
    with pytest.raises(exceptions.CheckpointBusy, match="key_file"):
        _store(bank, None).get(checkpoint.id).adopt(cp.Tenancy("p", "u"))
    store.get(checkpoint.id).adopt(cp.Tenancy("p", "u"))
    found = store.get(checkpoint.id)
    assert found.damage is None and found.project_id == "p"
    assert found.index["format_version"] == 3
