"""Checkpoints: one protect operation's saved state in a bank.

Layout under ``checkpoints/<id>/`` (the format is documented in
``doc/checkpoint-format.rst``)::

    index.json                                   plan, status, graph, times
    index.sha256                                 sha256 of index.json
    manifest.json                                sha256, size of each object
    resources/<type>/<id>/metadata.json          what the plugin saved
    resources/<type>/<id>/<object>               data objects of the plugin

``<type>`` and ``<id>`` are the resource's, each made a key part by
:func:`protection.bank.keys.encode_part`
(:func:`protection.checkpoint.section.section_prefix`).

The index reaches ``available`` only after every object and the manifest
are written; the index records the manifest's own sha256, ``index.sha256``
the index's. While ``protecting`` or ``deleting`` the index names its owner
(operation, host, pid: :mod:`protection.checkpoint.owner`); a protect
commits only a checkpoint that is still its own and complete.
"""

import dataclasses
import datetime
import io
import json
import logging
import threading
import time
import typing
import uuid

from protection.checkpoint import integrity
from protection.checkpoint import load
from protection.checkpoint import owner as owners
from protection.checkpoint.manifest import Manifest
from protection.checkpoint.manifest import hash_problem
from protection.checkpoint.section import ResourceSection
from protection.heartbeat import Heartbeat
from protection import exceptions
from protection.bank import base
from protection.bank import keys
from protection.model.graph import ResourceGraph

LOG = logging.getLogger(__name__)

FORMAT_VERSION = load.FORMAT_VERSION
SIGNED_FORMAT_VERSION = load.SIGNED_FORMAT_VERSION
PREFIX = "checkpoints"

PROTECTING = "protecting"
AVAILABLE = "available"
ERROR = "error"
DELETING = "deleting"
ERROR_DELETING = "error_deleting"
# Shown, never stored: a protect whose owner died; an unreadable checkpoint.
INTERRUPTED = "interrupted"
DAMAGED = "damaged"

INDEX = load.INDEX
INDEX_HASH = load.INDEX_HASH
MANIFEST = load.MANIFEST


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


class Checkpoint:
    """One checkpoint as read from (or being written to) the bank.

    ``damage`` is ``None``, or why the index or manifest cannot be trusted
    (the object named); ``index_readable`` says whether the request and graph
    could still be read. ``warnings`` are things verify reports without
    failing (a format 1 index written before ``index.sha256`` existed).
    ``bank_key`` (:class:`~protection.checkpoint.integrity.BankKey`): what
    every index and manifest write is signed with (``None``: unsigned).
    """

    def __init__(self, bank, checkpoint_id, index, manifest=None,
                 owner_timeout=owners.DEFAULT_OWNER_TIMEOUT, bank_key=None,
                 catalog=None):
        self.bank = bank
        self.bank_key = bank_key
        self.catalog = catalog
        self.id = checkpoint_id
        self.index = index
        self.manifest = manifest or Manifest()
        self.owner_timeout = owner_timeout
        self.damage = None
        self.index_readable = True
        self.deletable = True
        self.warnings = []
        self.index_sha256 = None
        self._graph = None
        self._index_lock = threading.Lock()

    # -- keys -----------------------------------------------------------
    def key(self, relative):
        return f"{PREFIX}/{self.id}/{relative}"

    # -- properties -------------------------------------------------------
    @property
    def status(self):
        """The stored status, or ``damaged``."""
        if self.damage is not None:
            return DAMAGED
        return self.index["status"]

    @property
    def display_status(self):
        """What ``checkpoint list`` shows: a dead protect is
        ``interrupted``."""
        status = self.status
        if status == PROTECTING and not self.owner_alive():
            return INTERRUPTED
        return status

    @property
    def owner(self):
        return self.index.get("owner") if self.index_readable else None

    @property
    def operation_id(self):
        return (self.owner or {}).get("operation_id")

    def owner_alive(self):
        """Whether the process that protects or deletes it may be running."""
        if self.owner is None:
            return False
        return owners.is_alive(self.owner, self.index.get("updated_at"),
                               self.owner_timeout)

    def require_available(self):
        """Raise unless the checkpoint can be restored or verified."""
        if self.damage is not None:
            raise exceptions.CheckpointDamaged(self.id, self.damage)
        if self.status != AVAILABLE:
            raise exceptions.CheckpointNotAvailable(self.id, self.status)

    @property
    def request(self):
        """What the protect was asked for: ``name``, ``resources`` (the
        roots), ``parameters`` and tags such as the plan it ran for
        (index.json's ``plan``, :data:`protection.checkpoint.load.REQUEST`);
        ``{}`` when the index has none."""
        request = self.index.get(load.REQUEST) \
            if isinstance(self.index, dict) else None
        return request if isinstance(request, dict) else {}

    @property
    def format_version(self):
        """The format an index update writes: signed (3) with a key, else
        at least 2 (a format 1 index that is rewritten gains the tenancy
        fields' format)."""
        if self.bank_key is not None:
            return SIGNED_FORMAT_VERSION
        version = self.index.get("format_version")
        return version if version in load.READABLE_VERSIONS and \
            version > FORMAT_VERSION else FORMAT_VERSION

    @property
    def project_id(self):
        """The project that owns the checkpoint (format 2); ``None`` for
        one written before projects were recorded, or unreadable."""
        return self.index.get("project_id") if self.index_readable else None

    @property
    def plan_id(self):
        """The plan whose run made the checkpoint, or ``None``."""
        return self.index.get("plan_id") if self.index_readable else None

    @property
    def name(self):
        if not self.index_readable:
            return ""
        return self.request.get("name", "")

    @property
    def graph(self):
        if not self.index_readable:
            raise exceptions.CheckpointDamaged(self.id, self.damage)
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

    def get_json(self, relative, verified=False):
        """The object as JSON. ``verified`` (restore's reads): first
        checked against the manifest's size and sha256, raising
        CheckpointDamaged, so what restore reads is what protect wrote
        even where its pre-check trusted the bank's fingerprint
        (:func:`protection.checkpoint.verify.verify_objects`)."""
        if not verified:
            return self.bank.get_json(self.key(relative))
        data = self.bank.get_bytes(self.key(relative))
        expected = self.manifest.objects().get(relative)
        problem = f"{relative}: not in the manifest" if expected is None \
            else hash_problem(relative, expected, len(data),
                              base.sha256_hex(data))
        if problem:
            raise exceptions.CheckpointDamaged(self.id, problem)
        return json.loads(data.decode("utf-8"))

    def delete_object(self, relative):
        self.bank.delete(self.key(relative))
        self.manifest.forget(relative)

    def list_objects(self, relative_prefix=""):
        start = len(self.key(""))
        return [k[start:] for k in self.bank.list(self.key(relative_prefix))]

    def adopt_objects(self):
        """Record in the manifest every resource object already in the
        bank: a protect resumed by another process did not see the dead
        one's writes, and each of them is whole (banks write objects
        atomically); an atom that was cut short runs again and rewrites
        its objects. Where the bank keeps fingerprints, each object's is
        taken from the listing made before it is read (the protect owns the
        checkpoint: nothing else writes it meanwhile), so a restore's
        pre-check need not read adopted objects either."""
        listed = self.bank.fingerprints(self.key("resources/")) or {}
        for relative in self.list_objects("resources/"):
            key = self.key(relative)
            size, sha = self.bank.sha256(key)
            found = listed.get(key)
            fingerprint = found.fingerprint \
                if found is not None and found.size == size else None
            self.manifest.record(relative, base.ObjectInfo(
                key, size, sha, fingerprint))

    # -- index ----------------------------------------------------------------
    def save_index(self):
        """Rewrite the index; ``index.sha256`` first, naming the new hash
        and the one it replaces, so a crash between the two writes leaves
        an index that one of the two hashes covers."""
        with self._index_lock:
            self.index["updated_at"] = utcnow()
            self.index["index_hash"] = INDEX_HASH
            data = base.encode_json(self.index)
            new = base.sha256_hex(data)
            hashes = {"sha256": new}
            if self.index_sha256 and self.index_sha256 != new:
                hashes["previous"] = self.index_sha256
            if self.bank_key is not None:
                integrity.sign_hashes(self.bank_key, hashes)
            self.bank.put_json(self.key(INDEX_HASH), hashes)
            self.bank.put(self.key(INDEX), data)
            self.index_sha256 = new
            # Under the lock: the catalog gets the index writes of this
            # process in their order (a heartbeat never overwrites the
            # commit that followed it).
            note_in_catalog(self.catalog, "record", self)

    def claim(self, status, operation_id=None, generation=None):
        """Mark the checkpoint ``status`` (protecting, deleting), owned by
        this process for ``operation_id`` (a new id when ``None``) at the
        operation's ``generation`` (its fencing token: a process that
        owned an older generation of the same operation no longer owns
        the checkpoint, see :meth:`lost_ownership`)."""
        self.index["status"] = status
        self.index["owner"] = owners.new_owner(
            operation_id or str(uuid.uuid4()), utcnow())
        if generation is not None:
            self.index["owner"]["generation"] = generation
        self.save_index()

    def unclaim(self, status):
        """Give back a claim that must not go ahead: ``status`` (what the
        index said before the claim), no owner."""
        self._release(status)

    def _release(self, status):
        self.index["status"] = status
        self.index.pop("owner", None)
        self.save_index()

    def set_resource_status(self, resource, status, reason=None):
        entry = {"status": status}
        if reason:
            entry["reason"] = reason
        self.index["resources"][f"{resource.type}#{resource.id}"] = entry

    def write_manifest(self):
        """Write ``manifest.json`` from :attr:`manifest`; the index records
        its hash (and, with a key, its MAC): save the index after."""
        data = base.encode_json(self.manifest.to_dict(
            self.index.get("format_version", FORMAT_VERSION)))
        info = self.bank.put(self.key(MANIFEST), io.BytesIO(data))
        self.index["manifest_sha256"] = info.sha256
        if self.bank_key is not None:
            self.index["manifest_mac"] = self.bank_key.sign(
                integrity.MANIFEST_MAC, data)

    def lost_ownership(self):
        """Why the checkpoint in the bank is no longer this operation's
        (``None`` when it still is): deleted, or claimed by another."""
        try:
            current = self.bank.get_json(self.key(INDEX))
        except exceptions.ObjectNotFound:
            return "its index.json is gone (the checkpoint was deleted)"
        except ValueError:
            return "its index.json is no longer readable"
        if not isinstance(current, dict):
            return "its index.json is no longer readable"
        owner = current.get("owner") or {}
        mine = self.index.get("owner") or {}
        if current.get("status") != self.index["status"] or \
                owner.get("operation_id") != self.operation_id or \
                owner.get("generation") != mine.get("generation"):
            return (f"it is now {current.get('status')!r}, owned by "
                    f"{owners.describe(current.get('owner'))}")
        return None

    def heartbeat(self):
        """Refresh ``updated_at`` while the checkpoint is still ours."""
        if self.lost_ownership() is None:
            self.save_index()

    def keep_alive(self):
        """A context manager that beats :meth:`heartbeat` while an
        operation that owns the checkpoint runs."""
        return Heartbeat(
            self.heartbeat, owners.heartbeat_interval(self.owner_timeout),
            name=f"checkpoint {self.id} heartbeat")

    def _remove_orphans(self):
        """The checkpoint was deleted under this protect: what it wrote
        since belongs to no index; remove it (a checkpoint claimed by
        another operation is that operation's to clean)."""
        if self.bank.exists(self.key(INDEX)):
            return
        for key in self.bank.list(self.key("")):
            self.bank.delete(key)

    def missing_objects(self):
        """Objects the manifest lists that the bank does not hold.

        A listing may lag behind writes (Swift's container listings are
        eventually consistent), so what it misses is asked for one by one
        (a HEAD in Swift) before it counts as missing: a good protect is
        never refused for a listing that is late."""
        unlisted = set(self.manifest.objects()) - set(self.list_objects())
        return sorted(relative for relative in unlisted
                      if not self.bank.exists(self.key(relative)))

    def commit(self, still_ours=None):
        """Write the manifest, then mark the checkpoint available: only
        when the checkpoint is still this protect's and complete.

        Raises CommitRefused otherwise; a checkpoint deleted or claimed by
        another operation is left as it is, an incomplete one of ours is
        marked ``error``. ``still_ours()``, called just before the first
        write, raises when the operation's generation moved (the
        operations database's fence, :mod:`protection.operations.fence`):
        then nothing is written.
        """
        lost = self.lost_ownership()
        if lost:
            self._remove_orphans()
            raise exceptions.CommitRefused(
                f"protect of checkpoint {self.id} was not committed: {lost}; "
                "it is not available")
        missing = self.missing_objects()
        if missing:
            reason = (f"{len(missing)} object(s) of the manifest are missing "
                      f"from the bank, first {missing[0]}")
            self.fail([f"commit refused: {reason}"])
            raise exceptions.CommitRefused(
                f"protect of checkpoint {self.id} was not committed: "
                f"{reason}; it is marked 'error'")
        if still_ours is not None:
            still_ours()
        self.write_manifest()
        self._release(AVAILABLE)

    def fail(self, reasons):
        """Mark the checkpoint ``error``; what was written stays listed.

        A checkpoint deleted or claimed by another operation meanwhile is
        not touched (writing its index would bring it back).
        """
        lost = self.lost_ownership()
        if lost:
            LOG.warning("checkpoint %s not marked 'error': %s", self.id, lost)
            self._remove_orphans()
            return
        self.write_manifest()
        self.index["errors"] = list(reasons)
        self._release(ERROR)

    def adopt(self, tenancy):
        """Record ``tenancy``'s project and user in an index that has no
        project (written before format 2, or by the embedded CLI); the
        index becomes format 2. Refused (CheckpointBusy) while a protect
        or delete owns it, and for a checkpoint that has a project."""
        if not self.index_readable:
            raise exceptions.CheckpointDamaged(self.id, self.damage)
        if self.project_id is not None:
            raise exceptions.CheckpointBusy(
                f"checkpoint {self.id} already belongs to project "
                f"{self.project_id}")
        if self.status in (PROTECTING, DELETING):
            raise exceptions.CheckpointBusy(
                f"checkpoint {self.id} is {self.status!r}: adopt it once "
                "that ends")
        if self.bank_key is None and \
                self.index.get("format_version") == SIGNED_FORMAT_VERSION:
            raise exceptions.CheckpointBusy(
                f"checkpoint {self.id} is signed: adopt it with the bank "
                "key configured ([bank] key_file), or its signature is lost")
        self.index.update(format_version=self.format_version,
                          project_id=tenancy.project_id,
                          user_id=tenancy.user_id)
        self.index.setdefault("plan_id", None)
        self.save_index()

    def fail_delete(self, reasons):
        """A delete failed: ``error_deleting``, owner released."""
        self.index["errors"] = list(reasons)
        self._release(ERROR_DELETING)

    def to_summary(self):
        nodes = self.index.get("graph", {}).get("nodes", []) \
            if self.index_readable else []
        return {
            "id": self.id,
            "name": self.name,
            "status": self.display_status,
            "created_at": self.index.get("created_at"),
            "resources": len(nodes),
            "project_id": self.project_id,
            "plan_id": self.plan_id,
        }


@dataclasses.dataclass(frozen=True)
class Tenancy:
    """Who an operation works for: the caller's project and user (from
    its token, through the API) and the plan it runs for. ``None`` where
    unknown: the embedded CLI acts for whoever can read the bank."""

    project_id: typing.Optional[str] = None
    user_id: typing.Optional[str] = None
    plan_id: typing.Optional[str] = None


def note_in_catalog(catalog, action, argument, *more):
    """Tell the catalog (:mod:`protection.checkpoint.catalog`) what the
    bank now holds: ``record`` a checkpoint, ``forget`` an id or
    ``mark_damaged`` one (with when the read began). The bank
    is the truth and has been written: a catalog that cannot be written is
    logged, never the operation's failure (``stackvault-manage catalog
    rebuild`` mends it)."""
    if catalog is None:
        return
    try:
        getattr(catalog, action)(argument, *more)
    except Exception as exc:  # noqa: BLE001 - the bank was written
        LOG.warning("the checkpoint catalog was not updated (%s %s): "
                    "%s: %s; 'stackvault-manage catalog rebuild' mends it",
                    action, getattr(argument, "id", argument),
                    type(exc).__name__, exc)


class CheckpointStore:
    """Create, find, list and remove checkpoints in one bank.

    ``catalog`` (an object with ``record(checkpoint)``,
    ``forget(checkpoint_id)`` and ``mark_damaged(checkpoint_id,
    read_at)``, :class:`protection.checkpoint.catalog.Catalog`), when
    given, is told of every index written, every checkpoint removed and
    every one found damaged."""

    def __init__(self, bank, owner_timeout=owners.DEFAULT_OWNER_TIMEOUT,
                 bank_key=None, catalog=None):
        self.bank = bank
        self.owner_timeout = owner_timeout
        # With a key (protection.checkpoint.integrity) new checkpoints are
        # signed (format 3) and only signed ones are trusted.
        self.bank_key = bank_key
        self.catalog = catalog

    def create(self, request, graph, operation_id=None, tenancy=None):
        """A new ``protecting`` checkpoint owned by this process;
        ``request``: what the protect was asked for (:attr:`Checkpoint.
        request`).

        ``tenancy`` (a :class:`Tenancy`) names the project and user it is
        made for and the plan that made it; recorded in the index so that
        the API shows it to that project only (embedded use: none)."""
        checkpoint_id = str(uuid.uuid4())
        now = utcnow()
        tenancy = tenancy or Tenancy()
        index = {
            "format_version": SIGNED_FORMAT_VERSION if self.bank_key
            else FORMAT_VERSION,
            "id": checkpoint_id,
            "project_id": tenancy.project_id,
            "user_id": tenancy.user_id,
            "plan_id": tenancy.plan_id,
            "status": PROTECTING,
            load.REQUEST: request,
            "graph": graph.to_dict(),
            "resources": {},
            "created_at": now,
            "updated_at": now,
        }
        checkpoint = Checkpoint(self.bank, checkpoint_id, index,
                                owner_timeout=self.owner_timeout,
                                bank_key=self.bank_key,
                                catalog=self.catalog)
        checkpoint._graph = graph
        checkpoint.claim(PROTECTING, operation_id)
        return checkpoint

    def get(self, checkpoint_id):
        """The checkpoint; a damaged one is returned with ``damage`` set."""
        try:
            keys.validate_key(checkpoint_id)
        except exceptions.InvalidBankKey:
            raise exceptions.CheckpointNotFound(checkpoint_id) from None
        if "/" in checkpoint_id:
            # One key part: "<id>/resources/<type>/<rid>" is not a checkpoint
            # even when a plugin stored an object named index.json there.
            raise exceptions.CheckpointNotFound(checkpoint_id)
        checkpoint = Checkpoint(self.bank, checkpoint_id, {},
                                owner_timeout=self.owner_timeout,
                                bank_key=self.bank_key,
                                catalog=self.catalog)
        read_at = time.time()
        try:
            loaded = load.read(self.bank, checkpoint.key, self.bank_key,
                               checkpoint_id)
        except exceptions.ObjectNotFound:
            # The bank is the truth: a catalog row of a checkpoint removed
            # elsewhere (another database, another deployment) goes too.
            note_in_catalog(self.catalog, "forget", checkpoint_id)
            raise exceptions.CheckpointNotFound(checkpoint_id) from None
        checkpoint.index = loaded.index
        checkpoint.index_sha256 = loaded.index_sha256
        checkpoint._graph = loaded.graph
        checkpoint.manifest = Manifest(loaded.manifest_objects)
        checkpoint.damage = loaded.damage
        if loaded.damage is not None:
            # Damaged since it was listed (forged, truncated, stripped of
            # its signature): the catalog lists it so from now on.
            note_in_catalog(self.catalog, "mark_damaged", checkpoint_id,
                            read_at)
        checkpoint.index_readable = loaded.index_readable
        checkpoint.deletable = loaded.deletable
        checkpoint.warnings = loaded.warnings
        return checkpoint

    def list(self):
        """Every checkpoint, damaged ones included (status ``damaged``)."""
        found = []
        for key in self.bank.list(PREFIX + "/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == INDEX:
                try:
                    found.append(self.get(parts[1]))
                except exceptions.CheckpointNotFound:
                    continue      # deleted while we listed
        # "or": an index may hold null (a damaged one holds nothing)
        return sorted(found, key=lambda c: (c.index.get("created_at")
                                            or "", c.id))

    def remove(self, checkpoint):
        """Delete every object of the checkpoint; its index hash, then its
        index last (a crash on the way leaves a listed, damaged
        checkpoint that can be deleted again, never unlisted objects)."""
        index_keys = (checkpoint.key(INDEX_HASH), checkpoint.key(INDEX))
        for key in self.bank.list(checkpoint.key("")):
            if key not in index_keys:
                self.bank.delete(key)
        for key in index_keys:
            self.bank.delete(key)
        note_in_catalog(self.catalog, "forget", checkpoint.id)
