"""Restore checks the bank first; damaged checkpoints are listed and
deleted; index.json is covered by index.sha256. Real bank on disk, fake
plugins."""

import json

import pytest

from protection.checkpoint import store as cp
from protection import exceptions
from tests.fakes.fake_cloud import ROOTS

DATA = "resources/Test::Volume/vol-db/data"
METADATA = "resources/Test::Volume/vol-db/metadata.json"


def _path(bank_path, checkpoint_id, relative):
    return bank_path / "checkpoints" / checkpoint_id / relative


def _flip(path):
    """Flip the lowest bit of one byte: a digit when there is one (so JSON
    stays valid and only a hash can tell), else the middle byte."""
    raw = bytearray(path.read_bytes())
    digits = [i for i, b in enumerate(raw) if chr(b).isdigit()]
    at = digits[len(digits) // 2] if digits else len(raw) // 2
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def _flip_current_hash(path):
    """Change the hash index.sha256 gives for the index now (a flipped
    ``previous`` is harmless: the current hash still covers the index)."""
    hashes = json.loads(path.read_text())
    current = hashes["sha256"]
    hashes["sha256"] = current[:-1] + ("0" if current[-1] != "0" else "1")
    path.write_text(json.dumps(hashes))


def _truncate(path):
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])


def _remove(path):
    path.unlink()


def _empty_list(path):
    path.write_bytes(b"[]")


TAMPER = {"flipped": _flip, "truncated": _truncate, "missing": _remove,
          "empty-list": _empty_list, "current-hash": _flip_current_hash}

# (object, how it is tampered with, what the refusal must say)
CASES = [
    ("index.json", "flipped", "index.json: sha256 does not match "
                              "index.sha256"),
    ("index.json", "truncated", "index.json: not valid JSON"),
    ("index.json", "empty-list", "index.json: not a JSON object"),
    ("index.sha256", "current-hash", "index.json: sha256 does not match "
                                     "index.sha256"),
    ("index.sha256", "truncated", "index.sha256: not valid JSON"),
    ("index.sha256", "empty-list", "index.sha256: malformed"),
    ("index.sha256", "missing", "index.sha256: missing"),
    ("manifest.json", "flipped", "manifest.json"),
    ("manifest.json", "truncated", "manifest.json: not valid JSON"),
    ("manifest.json", "missing", "manifest.json: missing"),
    ("manifest.json", "empty-list", "manifest.json: no 'objects' map"),
    (METADATA, "flipped", f"{METADATA}: sha256 mismatch"),
    (METADATA, "truncated", f"{METADATA}: sha256 mismatch"),
    (METADATA, "missing", f"{METADATA}: missing"),
    (METADATA, "empty-list", f"{METADATA}: sha256 mismatch"),
    (DATA, "flipped", f"{DATA}: sha256 mismatch"),
    (DATA, "truncated", f"{DATA}: sha256 mismatch"),
    (DATA, "missing", f"{DATA}: missing"),
]


@pytest.mark.parametrize("relative,how,said", CASES,
                         ids=[f"{c[0].rsplit('/', 1)[-1]}-{c[1]}"
                              for c in CASES])
def test_restore_refuses_a_tampered_object_before_creating_anything(
        service, cloud, checkpoint_id, bank_path, relative, how, said):
    TAMPER[how](_path(bank_path, checkpoint_id, relative))
    with pytest.raises(exceptions.OperationError) as caught:
        service.restore(checkpoint_id, cloud)
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)
    assert cloud.created() == []
    assert not [e for e in cloud.log if e[0].startswith("restore")]


def test_an_object_the_manifest_does_not_list_is_refused(
        service, cloud, checkpoint_id, bank_path):
    extra = _path(bank_path, checkpoint_id,
                  "resources/Test::Image/img/data-extra")
    extra.write_bytes(b"planted")
    with pytest.raises(exceptions.CheckpointCorrupt,
                       match="img/data-extra: not in the manifest"):
        service.restore(checkpoint_id, cloud)
    assert cloud.created() == []


def test_metadata_edited_to_another_backup_id_is_refused(
        service, cloud, checkpoint_id, bank_path):
    """The ids a plugin restores from (a volume's backup_id) live in its
    metadata.json, whose hash the manifest pins: an edit is refused."""
    path = _path(bank_path, checkpoint_id, METADATA)
    metadata = json.loads(path.read_text())
    metadata["backup_id"] = "someone-elses-backup"
    path.write_text(json.dumps(metadata))
    with pytest.raises(exceptions.CheckpointCorrupt,
                       match=f"{METADATA}: sha256 mismatch"):
        service.restore(checkpoint_id, cloud)
    assert cloud.created() == []


def test_an_intact_checkpoint_still_restores(service, cloud, checkpoint_id):
    assert len(service.restore(checkpoint_id, cloud).restored) == 6


def test_a_format_2_checkpoint_stripped_of_its_hash_is_damaged(
        service, cloud, checkpoint_id, bank_path):
    """Format 2 was always written with index.sha256 and index_hash:
    without them it was stripped (this gave only a warning before)."""
    index_path = _path(bank_path, checkpoint_id, "index.json")
    index = json.loads(index_path.read_text())
    del index["index_hash"]
    index_path.write_text(json.dumps(index))
    _remove(_path(bank_path, checkpoint_id, "index.sha256"))
    with pytest.raises(exceptions.CheckpointDamaged,
                       match="index.sha256: missing"):
        service.restore(checkpoint_id, cloud)
    assert cloud.created() == []


# -- damaged checkpoints: listed, shown, deleted -----------------------------
def test_a_damaged_checkpoint_is_listed_and_hides_nothing(
        service, cloud, checkpoint_id, bank_path):
    other = service.protect(cloud, "other", ROOTS).checkpoint_id
    _truncate(_path(bank_path, checkpoint_id, "manifest.json"))
    listed = {c.id: c.to_summary() for c in service.list_checkpoints()}
    assert listed[other]["status"] == "available"
    assert listed[checkpoint_id]["status"] == "damaged"
    assert listed[checkpoint_id]["name"] == "app"
    shown = service.show_checkpoint(checkpoint_id)
    assert shown.damage.startswith("manifest.json: not valid JSON")
    with pytest.raises(exceptions.CheckpointDamaged, match="manifest.json"):
        service.verify(checkpoint_id)


def test_delete_of_a_checkpoint_with_an_unreadable_index(
        service, cloud, checkpoint_id, bank_path):
    _empty_list(_path(bank_path, checkpoint_id, "index.json"))
    result = service.delete(checkpoint_id, cloud)
    assert result.ok
    assert "delete flows could not run" in result.warnings[0]
    assert "by hand" in result.to_dict()["warnings"][0]
    assert not [e for e in cloud.log if e[0] == "delete"]
    assert not (bank_path / "checkpoints" / checkpoint_id).exists()


def test_delete_of_a_checkpoint_with_a_damaged_manifest_runs_the_plugins(
        service, cloud, checkpoint_id, bank_path):
    _remove(_path(bank_path, checkpoint_id, "manifest.json"))
    service.delete(checkpoint_id, cloud)
    deleted = {rid for what, rid in cloud.log if what == "delete"}
    assert deleted == {"web", "db", "vol-web", "vol-db", "net", "img"}
    assert not (bank_path / "checkpoints" / checkpoint_id).exists()


# -- index.sha256 ------------------------------------------------------------
def test_a_crash_between_the_index_hash_and_the_index_is_harmless(
        service, cloud, checkpoint_id, bank_path):
    """index.sha256 is written first and names the hash it replaces: an
    index that was not rewritten yet still matches."""
    checkpoint = service.show_checkpoint(checkpoint_id)
    service.bank.put_json(checkpoint.key("index.sha256"),
                          {"sha256": "0" * 64,
                           "previous": checkpoint.index_sha256})
    assert service.show_checkpoint(checkpoint_id).damage is None
    assert len(service.restore(checkpoint_id, cloud).restored) == 6


def test_a_format_1_checkpoint_without_index_hash_is_read_with_a_warning(
        service, cloud, checkpoint_id, bank_path):
    index_path = _path(bank_path, checkpoint_id, "index.json")
    index = json.loads(index_path.read_text())
    # As a stackvault before index.sha256 wrote it: format 1, no tenancy.
    del index["index_hash"]
    for key in ("project_id", "user_id", "plan_id"):
        del index[key]
    index["format_version"] = 1
    index_path.write_text(json.dumps(index))
    _remove(_path(bank_path, checkpoint_id, "index.sha256"))
    result = service.verify(checkpoint_id, cloud)
    assert result.ok
    assert result.to_dict()["warnings"] == [
        "index.json: not covered by a hash (written by a stackvault older "
        "than index.sha256)"]
    assert len(service.restore(checkpoint_id, cloud).restored) == 6


def test_status_changes_keep_the_index_covered(service, cloud,
                                               checkpoint_id):
    cloud.fail.add(("delete", "vol-web"))
    with pytest.raises(exceptions.OperationFailed):
        service.delete(checkpoint_id, cloud)
    checkpoint = service.show_checkpoint(checkpoint_id)
    assert checkpoint.status == cp.ERROR_DELETING
    assert checkpoint.damage is None
    assert checkpoint.owner is None
