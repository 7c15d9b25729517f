"""Reading a checkpoint's index and manifest, and telling when they are
damaged.

A damaged checkpoint is one whose ``index.json`` or ``manifest.json``
cannot be trusted: unreadable, not valid JSON, not the expected shape
(``[]``, a truncated file), or not matching its hash (``index.sha256`` for
the index, the index's ``manifest_sha256`` for the manifest). Reading never
raises for damage: :func:`read` returns it as a reason naming the object, so
one damaged checkpoint never hides the others in a listing.
"""

import dataclasses
import json
import typing

from protection import exceptions
from protection.bank import base
from protection.checkpoint import integrity
from protection.model.graph import ResourceGraph

FORMAT_VERSION = 2
# Format 2 added the owning project, user and plan (index.json's
# ``project_id``, ``user_id``, ``plan_id``); a format 1 index has none and
# is read as owned by no project (doc/checkpoint-format.rst).
# Format 3 is format 2 signed with the bank key ([bank] key_file,
# protection.checkpoint.integrity): written whenever a key is configured.
SIGNED_FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# From this version on an index without index.sha256 (or without
# ``index_hash``) is damaged: every writer of format 2 wrote the chain, so
# its absence can only be a strip (a format 1 index may predate it).
CHAIN_REQUIRED_FROM = 2
# index.json's key for what the protect was asked for (its name, root
# resources, parameters and tags such as the plan it ran for). Stored as
# ``plan`` since format 1; the code calls it the request, as "plan" means
# a scheduled plan (protection.plans).
REQUEST = "plan"
INDEX = "index.json"
INDEX_HASH = "index.sha256"
MANIFEST = "manifest.json"

OLD_INDEX_WARNING = (f"{INDEX}: not covered by a hash (written by a "
                     f"stackvault older than {INDEX_HASH})")


UNCHECKED_SIGNATURE_WARNING = (
    f"{INDEX}: signed (format {SIGNED_FORMAT_VERSION}) but not checked: no "
    "[bank] key_file is configured; only its sha256 chain was checked")


class Damage(Exception):
    """Why an object cannot be trusted (the message names no object)."""


@dataclasses.dataclass
class Loaded:
    index: dict
    index_sha256: typing.Optional[str] = None
    graph: typing.Optional[ResourceGraph] = None
    manifest_objects: dict = dataclasses.field(default_factory=dict)
    damage: typing.Optional[str] = None
    # The checkpoint's own key is proven (format 3 checked with the key).
    signed: bool = False
    index_readable: bool = True
    deletable: bool = True
    warnings: list = dataclasses.field(default_factory=list)


def _json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Damage(f"not valid JSON ({exc})") from None


def parse_index(raw):
    """The index as a dict and its graph; raises Damage."""
    index = _json(raw)
    if not isinstance(index, dict):
        raise Damage(f"not a JSON object (found {type(index).__name__})")
    version = index.get("format_version")
    if version not in READABLE_VERSIONS:
        return index, None
    if not isinstance(index.get("status"), str):
        raise Damage("no status")
    if not isinstance(index.get(REQUEST), dict):
        raise Damage("no plan")
    for field in ("created_at", "name"):
        if not isinstance(index.get(field), (str, type(None))):
            raise Damage(f"'{field}' is not a string")
    if not isinstance(index.get("resources", {}), dict):
        raise Damage("'resources' is not an object")
    try:
        graph = ResourceGraph.from_dict(index["graph"])
    except Exception as exc:      # noqa: BLE001 - any shape error is damage
        raise Damage(f"graph is malformed ({type(exc).__name__}: "
                     f"{exc})") from None
    return index, graph


def parse_manifest(raw):
    """The manifest's ``objects``; raises Damage."""
    manifest = _json(raw)
    objects = manifest.get("objects") if isinstance(manifest, dict) else None
    if not isinstance(objects, dict):
        raise Damage("no 'objects' map")
    for name, entry in objects.items():
        if not (isinstance(entry, dict)
                and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("size"), int)):
            raise Damage(f"entry {name!r} has no sha256 and size")
        if not isinstance(entry.get("fingerprint", ""), str):
            raise Damage(f"entry {name!r} has a fingerprint that is not "
                         "a string")
    return objects


def read_hashes(bank, hash_key):
    """``(index.sha256 as a dict or None when missing, problem)``."""
    try:
        hashes = bank.get_json(hash_key)
    except exceptions.ObjectNotFound:
        return None, None
    except ValueError:
        return None, f"{INDEX_HASH}: not valid JSON"
    if not isinstance(hashes, dict):
        return None, f"{INDEX_HASH}: malformed"
    return hashes, None


def index_hash_problem(hashes, index, sha256):
    """``None`` when ``index.sha256`` (``hashes``; ``None``: missing)
    covers the index; else why not.

    An index of format 1 written before the hash existed (no
    ``index_hash`` field and no hash object) is no problem here:
    :func:`read` warns about it. From :data:`CHAIN_REQUIRED_FROM` on the
    chain is required: stripping it is damage.
    """
    if hashes is None:
        if index.get("index_hash"):
            return f"{INDEX_HASH}: missing"
        if _version(index) >= CHAIN_REQUIRED_FROM:
            return (f"{INDEX_HASH}: missing (format "
                    f"{index['format_version']} always has it)")
        return None
    if sha256 in (hashes.get("sha256"), hashes.get("previous")):
        return None
    return f"{INDEX}: sha256 does not match {INDEX_HASH}"


def _version(index):
    version = index.get("format_version")
    return version if version in READABLE_VERSIONS else 0


def signature_problem(key, checkpoint_id, index, hashes, sha256):
    """Why a readable index is not proven by the bank key (``None``:
    it is). With no key nothing can be proven and nothing is asked."""
    if key is None:
        return None
    if _version(index) < SIGNED_FORMAT_VERSION:
        return (f"{INDEX}: not signed (format {index['format_version']}); "
                "with [bank] key_file set only signed checkpoints (format "
                f"{SIGNED_FORMAT_VERSION}) are trusted")
    if hashes is None:
        return f"{INDEX_HASH}: missing (a signed checkpoint always has it)"
    problem = integrity.index_signature_problem(key, hashes, sha256)
    if problem is None and index.get("id") != checkpoint_id:
        # A signed index copied under another id (a replay).
        return (f"{INDEX}: signed for checkpoint {index.get('id')!r}, "
                f"found as {checkpoint_id!r}")
    return problem


def _read_index(bank, key_of, key, checkpoint_id):
    """Parse the index; re-read once when its hash or signature does not
    match (an update may have landed between reading the index and its
    hash)."""
    for attempt in (1, 2):
        raw = bank.get_bytes(key_of(INDEX))   # ObjectNotFound: no checkpoint
        index, graph = parse_index(raw)
        sha = base.sha256_hex(raw)
        problem = None
        if graph is not None:
            hashes, problem = read_hashes(bank, key_of(INDEX_HASH))
            problem = problem or index_hash_problem(hashes, index, sha) or \
                signature_problem(key, checkpoint_id, index, hashes, sha)
        if problem is None or attempt == 2:
            return index, graph, sha, problem


def _read_manifest(bank, key_of, index, loaded, key):
    expected = index.get("manifest_sha256")
    try:
        raw = bank.get_bytes(key_of(MANIFEST))
    except exceptions.ObjectNotFound:
        if expected is not None:
            loaded.damage = f"{MANIFEST}: missing"
        return
    try:
        loaded.manifest_objects = parse_manifest(raw)
    except Damage as exc:
        loaded.damage = f"{MANIFEST}: {exc}"
        return
    if expected is not None and base.sha256_hex(raw) != expected:
        loaded.damage = f"{MANIFEST}: sha256 does not match the index"
    elif expected is not None and key is not None:
        loaded.damage = integrity.manifest_signature_problem(key, index, raw)


def read(bank, key_of, key=None, checkpoint_id=None):
    """Read and check a checkpoint's index and manifest.

    ``key_of(relative)`` gives the bank key of an object of the
    checkpoint. ``key`` (a :class:`~protection.checkpoint.integrity.
    BankKey`, or ``None``): with one, only a checkpoint it signed (as
    ``checkpoint_id``) is trusted. Raises ObjectNotFound when there is no
    index at all.
    """
    try:
        index, graph, sha, problem = _read_index(bank, key_of, key,
                                                 checkpoint_id)
    except Damage as exc:
        return Loaded(index={}, damage=f"{INDEX}: {exc}",
                      index_readable=False)
    version = index.get("format_version")
    if version not in READABLE_VERSIONS:
        # A newer stackvault's checkpoint: not ours to read, nor to delete
        # without its plugins.
        readable = ", ".join(str(v) for v in READABLE_VERSIONS[:-1]) + \
            f" and {READABLE_VERSIONS[-1]}"
        return Loaded(index={}, index_readable=False, deletable=False,
                      damage=f"{INDEX}: format {version!r}; this stackvault "
                             f"reads formats {readable}")
    loaded = Loaded(index=index, index_sha256=sha, graph=graph,
                    damage=problem)
    if not index.get("index_hash") and problem is None:
        loaded.warnings.append(OLD_INDEX_WARNING)
    if version == SIGNED_FORMAT_VERSION and key is None:
        loaded.warnings.append(UNCHECKED_SIGNATURE_WARNING)
    if loaded.damage is None:
        _read_manifest(bank, key_of, index, loaded, key)
    loaded.signed = key is not None and loaded.damage is None
    return loaded
