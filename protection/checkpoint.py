"""Checkpoints: one protect operation's saved state in a bank.

Layout under ``checkpoints/<id>/`` (the format is documented in
``doc/checkpoint-format.rst``)::

    index.json                                   plan, status, graph, times
    manifest.json                                sha256, size of each object
    resources/<type>/<id>/metadata.json          what the plugin saved
    resources/<type>/<id>/<object>               data objects of the plugin

The index reaches ``available`` only after every object and the manifest
are written; the index records the manifest's own sha256.
"""

import datetime
import logging
import threading
import uuid

from protection import exceptions
from protection.bank import keys
from protection.graph import ResourceGraph

LOG = logging.getLogger(__name__)

FORMAT_VERSION = 1
PREFIX = "checkpoints"

PROTECTING = "protecting"
AVAILABLE = "available"
ERROR = "error"
DELETING = "deleting"
ERROR_DELETING = "error_deleting"

INDEX = "index.json"
MANIFEST = "manifest.json"
METADATA = "metadata.json"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


class Manifest:
    """Thread-safe record of the objects a checkpoint holds."""

    def __init__(self, objects=None):
        self._objects = dict(objects or {})
        self._lock = threading.Lock()

    def record(self, relative_key, info):
        with self._lock:
            self._objects[relative_key] = {"sha256": info.sha256,
                                           "size": info.size}

    def forget(self, relative_key):
        with self._lock:
            self._objects.pop(relative_key, None)

    def objects(self):
        with self._lock:
            return dict(self._objects)

    def to_dict(self):
        return {"format_version": FORMAT_VERSION, "objects": self.objects()}


class ResourceSection:
    """The part of a checkpoint that belongs to one resource.

    This is what a plugin sees as ``ctx.bank``: names are relative to
    ``resources/<type>/<id>/``, and every object put here is hashed into the
    checkpoint's manifest.
    """

    def __init__(self, checkpoint, resource):
        self._checkpoint = checkpoint
        self.resource = resource
        self.prefix = f"resources/{resource.type}/{resource.id}/"

    def _relative(self, name):
        keys.validate_key(name)
        return self.prefix + name

    def put(self, name, data):
        return self._checkpoint.put_object(self._relative(name), data)

    def get(self, name, **kwargs):
        return self._checkpoint.get_object(self._relative(name), **kwargs)

    def put_json(self, name, obj):
        return self._checkpoint.put_json(self._relative(name), obj)

    def get_json(self, name):
        return self._checkpoint.get_json(self._relative(name))

    def delete(self, name):
        self._checkpoint.delete_object(self._relative(name))

    def list(self):
        """Names of this resource's objects (relative to the section)."""
        return [k[len(self.prefix):]
                for k in self._checkpoint.list_objects(self.prefix)]

    def save_metadata(self, metadata):
        return self.put_json(METADATA, metadata)

    def load_metadata(self):
        try:
            return self.get_json(METADATA)
        except exceptions.ObjectNotFound:
            return {}

    def delete_metadata(self):
        """Drop ``metadata.json`` (the revert of saving it)."""
        self.delete(METADATA)


class Checkpoint:
    def __init__(self, bank, checkpoint_id, index, manifest=None):
        self.bank = bank
        self.id = checkpoint_id
        self.index = index
        self.manifest = manifest or Manifest()
        self._graph = None

    # -- keys -----------------------------------------------------------
    def key(self, relative):
        return f"{PREFIX}/{self.id}/{relative}"

    # -- properties -------------------------------------------------------
    @property
    def status(self):
        return self.index["status"]

    @property
    def name(self):
        return self.index["plan"].get("name", "")

    @property
    def graph(self):
        if self._graph is None:
            self._graph = ResourceGraph.from_dict(self.index["graph"])
        return self._graph

    def section(self, resource):
        return ResourceSection(self, resource)

    def metadata_of(self, rtype, rid):
        """What protect saved for one resource (``{}`` when nothing)."""
        return self.section(self.graph.resource((rtype, rid))).load_metadata()

    # -- objects ------------------------------------------------------------
    def put_object(self, relative, data):
        info = self.bank.put(self.key(relative), data)
        self.manifest.record(relative, info)
        return info

    def put_json(self, relative, obj):
        info = self.bank.put_json(self.key(relative), obj)
        self.manifest.record(relative, info)
        return info

    def get_object(self, relative, **kwargs):
        return self.bank.get(self.key(relative), **kwargs)

    def get_json(self, relative):
        return self.bank.get_json(self.key(relative))

    def delete_object(self, relative):
        self.bank.delete(self.key(relative))
        self.manifest.forget(relative)

    def list_objects(self, relative_prefix=""):
        start = len(self.key(""))
        return [k[start:] for k in self.bank.list(self.key(relative_prefix))]

    # -- index ----------------------------------------------------------------
    def save_index(self):
        self.index["updated_at"] = utcnow()
        self.bank.put_json(self.key(INDEX), self.index)

    def set_resource_status(self, resource, status, reason=None):
        entry = {"status": status}
        if reason:
            entry["reason"] = reason
        self.index["resources"][f"{resource.type}#{resource.id}"] = entry

    def _write_manifest(self):
        info = self.bank.put_json(self.key(MANIFEST), self.manifest.to_dict())
        self.index["manifest_sha256"] = info.sha256

    def commit(self):
        """Write the manifest, then mark the checkpoint available."""
        self._write_manifest()
        self.index["status"] = AVAILABLE
        self.save_index()

    def fail(self, reasons):
        """Mark the checkpoint ``error``; what was written stays listed."""
        self._write_manifest()
        self.index["status"] = ERROR
        self.index["errors"] = list(reasons)
        self.save_index()

    def to_summary(self):
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created_at": self.index.get("created_at"),
            "resources": len(self.index["graph"]["nodes"]),
        }


class CheckpointStore:
    """Create, find, list and remove checkpoints in one bank."""

    def __init__(self, bank):
        self.bank = bank

    def create(self, plan, graph):
        checkpoint_id = str(uuid.uuid4())
        now = utcnow()
        index = {
            "format_version": FORMAT_VERSION,
            "id": checkpoint_id,
            "status": PROTECTING,
            "plan": plan,
            "graph": graph.to_dict(),
            "resources": {},
            "created_at": now,
            "updated_at": now,
        }
        checkpoint = Checkpoint(self.bank, checkpoint_id, index)
        checkpoint._graph = graph
        checkpoint.save_index()
        return checkpoint

    def get(self, checkpoint_id):
        try:
            keys.validate_key(checkpoint_id)
        except exceptions.InvalidBankKey:
            raise exceptions.CheckpointNotFound(checkpoint_id) from None
        if "/" in checkpoint_id:
            # One key part: "<id>/resources/<type>/<rid>" is not a checkpoint
            # even when a plugin stored an object named index.json there.
            raise exceptions.CheckpointNotFound(checkpoint_id)
        index_key = f"{PREFIX}/{checkpoint_id}/{INDEX}"
        try:
            index = self.bank.get_json(index_key)
        except exceptions.ObjectNotFound:
            raise exceptions.CheckpointNotFound(checkpoint_id) from None
        except ValueError as exc:
            raise exceptions.StackvaultError(
                f"checkpoint {checkpoint_id}: index.json is not valid JSON "
                f"({exc})") from None
        version = index.get("format_version")
        if version != FORMAT_VERSION:
            raise exceptions.StackvaultError(
                f"checkpoint {checkpoint_id} has format {version!r}; this "
                f"stackvault reads format {FORMAT_VERSION}")
        checkpoint = Checkpoint(self.bank, checkpoint_id, index)
        try:
            manifest = self.bank.get_json(checkpoint.key(MANIFEST))
            checkpoint.manifest = Manifest(manifest.get("objects"))
        except exceptions.ObjectNotFound:
            pass
        return checkpoint

    def list(self):
        found = []
        for key in self.bank.list(PREFIX + "/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == INDEX:
                try:
                    found.append(self.get(parts[1]))
                except exceptions.CheckpointNotFound:
                    continue      # deleted while we listed
                except exceptions.StackvaultError as exc:
                    # One damaged checkpoint must not hide the others.
                    LOG.warning("skipping %s", exc)
        return sorted(found, key=lambda c: (c.index.get("created_at", ""),
                                            c.id))

    def remove(self, checkpoint):
        """Delete every object of the checkpoint, the index last."""
        index_key = checkpoint.key(INDEX)
        for key in self.bank.list(checkpoint.key("")):
            if key != index_key:
                self.bank.delete(key)
        self.bank.delete(index_key)


def verify_objects(checkpoint):
    """Recompute every hash of the checkpoint; return a list of problems.

    An empty list means every object in the manifest is present with the
    recorded size and sha256, the manifest matches the sha256 in the index,
    and no object is present that the manifest does not list.
    """
    problems = []
    bank = checkpoint.bank
    expected_manifest = checkpoint.index.get("manifest_sha256")
    if expected_manifest is None:
        problems.append("index records no manifest (checkpoint never "
                        "finished)")
    else:
        try:
            _, sha = bank.sha256(checkpoint.key(MANIFEST))
            if sha != expected_manifest:
                problems.append("manifest.json: sha256 does not match the "
                                "index")
        except exceptions.ObjectNotFound:
            problems.append("manifest.json: missing")
    listed = checkpoint.manifest.objects()
    for relative, expected in sorted(listed.items()):
        try:
            size, sha = bank.sha256(checkpoint.key(relative))
        except exceptions.ObjectNotFound:
            problems.append(f"{relative}: missing")
            continue
        except exceptions.InvalidBankKey:
            problems.append(f"{relative}: not a valid object name")
            continue
        if sha != expected["sha256"] or size != expected["size"]:
            problems.append(
                f"{relative}: sha256 mismatch (expected {expected['sha256']}"
                f", {expected['size']} bytes; found {sha}, {size} bytes)")
    for relative in checkpoint.list_objects():
        if relative not in listed and relative not in (INDEX, MANIFEST):
            problems.append(f"{relative}: not in the manifest")
    return problems
