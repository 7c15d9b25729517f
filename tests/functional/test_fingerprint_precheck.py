"""Restore's pre-check by the bank's fingerprints, with a real bank on
disk that keeps one (as Swift's listing does) and real TaskFlow engines.

``ListingBank`` is a FileSystemBank whose listing reports, for each
object, its size and a fingerprint it recorded when the object was put:
like a Swift container listing, it reports without reading the objects.
``honest`` recomputes the fingerprint of what is on disk now (what Swift
does on every write); a dishonest listing keeps the one of the original
write, which is what an md5 collision forgery, or silent corruption under
Swift's listing, would look like to stackvault.
"""

import hashlib
import json
import pathlib

import pytest
from oslo_config import cfg

from protection.checkpoint import check as checkpoint_check
from protection.checkpoint import verify as checkpoint_verify
from protection import config
from protection import exceptions
from protection.bank import base
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud
from tests.fakes.fake_cloud import ROOTS

DATA = "resources/Test::Volume/vol-db/data"
METADATA = "resources/Test::Volume/vol-db/metadata.json"


class ListingBank(FileSystemBank):
    def __init__(self, path, honest=True):
        super().__init__(path)
        self.honest = honest
        self.recorded = {}
        self.reads = []

    def _fingerprint(self, key):
        return "md5:" + hashlib.md5(self.get_bytes(key)).hexdigest()

    def put(self, key, data):
        info = super().put(key, data)
        fingerprint = self._fingerprint(key)
        self.recorded[key] = fingerprint
        return base.ObjectInfo(info.key, info.size, info.sha256, fingerprint)

    def get(self, key, **kwargs):
        self.reads.append(key)
        return super().get(key, **kwargs)

    def fingerprints(self, prefix=""):
        listed = {}
        for key in self.list(prefix):
            path = pathlib.Path(self._path(key))
            if self.honest:
                fingerprint = "md5:" + hashlib.md5(
                    path.read_bytes()).hexdigest()
            else:
                fingerprint = self.recorded.get(key)
            listed[key] = base.Listed(path.stat().st_size, fingerprint)
        return listed


@pytest.fixture(params=[True, False], ids=["honest", "stale"])
def bank(request, bank_path):
    return ListingBank(str(bank_path), honest=request.param)


@pytest.fixture
def service(bank):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    return ProtectionService(
        conf, PluginRegistry([p() for p in fake_cloud.ALL]), bank)


@pytest.fixture
def checkpoint_id(service, cloud):
    return service.protect(cloud, "app", ROOTS).checkpoint_id


def _path(bank_path, checkpoint_id, relative):
    return bank_path / "checkpoints" / checkpoint_id / relative


def _flip(path):
    """One byte changed, the size kept: a digit when there is one (JSON
    stays valid), else the middle byte."""
    raw = bytearray(path.read_bytes())
    digits = [i for i, b in enumerate(raw) if chr(b).isdigit()]
    at = digits[0] if digits else len(raw) // 2
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def test_protect_records_the_fingerprint_the_listing_reports(
        service, checkpoint_id, bank):
    checkpoint = service.checkpoints.get(checkpoint_id)
    listed = bank.fingerprints(checkpoint.key(""))
    objects = checkpoint.manifest.objects()
    assert objects
    for relative, entry in objects.items():
        assert entry["fingerprint"] == listed[checkpoint.key(relative)] \
            .fingerprint


def test_objects_a_resumed_protect_adopts_keep_their_fingerprints(
        service, checkpoint_id, bank):
    checkpoint = service.checkpoints.get(checkpoint_id)
    recorded = checkpoint.manifest.objects()
    checkpoint.manifest = type(checkpoint.manifest)()     # none recorded
    checkpoint.adopt_objects()
    adopted = checkpoint.manifest.objects()
    assert set(adopted) == {r for r in recorded if r.startswith("resources/")}
    for relative, entry in adopted.items():
        assert entry["fingerprint"] == recorded[relative]["fingerprint"]
        assert entry["sha256"] == recorded[relative]["sha256"]


def test_the_pre_check_reads_only_objects_without_a_fingerprint(
        service, checkpoint_id, bank):
    checkpoint = service.checkpoints.get(checkpoint_id)
    bank.reads.clear()
    checkpoint_check.check_before_restore(checkpoint)
    empty = {checkpoint.key(r) for r, e in
             checkpoint.manifest.objects().items() if e["size"] == 0}
    assert set(bank.reads) == {checkpoint.key("manifest.json")} | empty
    # checkpoint verify is the deep check: every object is read.
    bank.reads.clear()
    assert checkpoint_verify.verify_objects(checkpoint) == []
    assert set(bank.reads) >= {checkpoint.key(r)
                               for r in checkpoint.manifest.objects()}


# (listing honest, object tampered with, what the refusal must say)
REPLACED = [
    (True, DATA, f"{DATA}: not what protect wrote"),
    (True, METADATA, f"{METADATA}: not what protect wrote"),
    # The listing vouches for it; its read at restore is checked (a fake
    # plugin's data is read unchecked: image data's check at use is
    # tests/unit/plugins/image/test_image's).
    (False, METADATA, f"{METADATA}: sha256 mismatch"),
]


@pytest.mark.parametrize("honest,relative,said", REPLACED,
                         ids=[f"{'honest' if c[0] else 'stale'}-"
                              f"{c[1].rsplit('/', 1)[-1]}" for c in REPLACED])
def test_a_replaced_object_is_refused_before_anything_is_created(
        cloud, bank_path, honest, relative, said):
    bank = ListingBank(str(bank_path), honest=honest)
    conf = config.load_config([], conf=cfg.ConfigOpts())
    service = ProtectionService(
        conf, PluginRegistry([p() for p in fake_cloud.ALL]), bank)
    checkpoint_id = service.protect(cloud, "app", ROOTS).checkpoint_id
    _flip(_path(bank_path, checkpoint_id, relative))
    with pytest.raises(exceptions.OperationError) as caught:
        service.restore(checkpoint_id, cloud)
    assert said in str(caught.value)
    assert cloud.created() == []
    assert not [e for e in cloud.log if e[0].startswith("restore")]


def test_checkpoint_verify_finds_what_a_stale_listing_hides(
        service, cloud, checkpoint_id, bank_path, bank):
    _flip(_path(bank_path, checkpoint_id, DATA))
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.verify(checkpoint_id)
    assert f"{DATA}: sha256 mismatch" in str(caught.value)


def test_missing_and_extra_objects_are_refused(
        service, cloud, checkpoint_id, bank_path):
    _path(bank_path, checkpoint_id, DATA).unlink()
    _path(bank_path, checkpoint_id, "resources/Test::Volume/vol-db/x") \
        .write_bytes(b"planted")
    with pytest.raises(exceptions.CheckpointCorrupt) as caught:
        service.restore(checkpoint_id, cloud)
    assert caught.value.problems == [
        f"{DATA}: missing",
        "resources/Test::Volume/vol-db/x: not in the manifest"]
    assert cloud.created() == []


def test_an_intact_checkpoint_restores(service, cloud, checkpoint_id):
    assert len(service.restore(checkpoint_id, cloud).restored) == 6


def test_a_checkpoint_without_fingerprints_is_read_whole(
        service, cloud, checkpoint_id, bank_path, bank):
    """A checkpoint written before fingerprints: its manifest (and the
    index's hash of it) without them."""
    checkpoint = service.checkpoints.get(checkpoint_id)
    for entry in checkpoint.manifest._objects.values():
        entry.pop("fingerprint")
    checkpoint.write_manifest()
    checkpoint.save_index()
    manifest = json.loads(_path(bank_path, checkpoint_id,
                                "manifest.json").read_text())
    assert not [e for e in manifest["objects"].values()
                if "fingerprint" in e]
    _flip(_path(bank_path, checkpoint_id, DATA))
    bank.reads.clear()
    with pytest.raises(exceptions.CheckpointCorrupt,
                       match=f"{DATA}: sha256 mismatch"):
        service.restore(checkpoint_id, cloud)
    assert checkpoint.key(DATA) in bank.reads
    assert cloud.created() == []
