"""Image data between Glance and a checkpoint's bank section.

Plain functions that plugins call from their own tasks (the image plugin
for an image, the server plugin for a server's root-disk snapshot), so the
data format, the hashes and the checks have one home:

- :func:`describe_image` reads an image as Glance stores it and keeps what a
  new image needs (:func:`saved_image` is the part a plugin saves);
- :func:`save_image_data` streams the data into the bank as objects
  ``data/00000000`` ... of ``[image_data] object_size_mib``, up to
  ``[image_data] concurrency`` objects being stored at once with bounded
  memory (:mod:`protection.transfer.pipeline`; all transfers of the process
  together hold at most ``[image_data] process_concurrency`` objects in
  flight), the bank computing the sha256 of
  each object, and checks Glance's own hash (``os_hash_value``, else the
  md5 ``checksum``); :func:`delete_image_data` removes those objects;
- :func:`create_image` makes a new image (queued, no data) from a saved
  record, :func:`upload_image_data` streams the objects back into it, the
  next ones read ahead concurrently, each checked against its saved
  sha256, :func:`wait_image_active` and :func:`check_restored_image` wait
  for Glance and compare its hash of what it received with the saved one;
- :func:`verify_image_data` recomputes every object's sha256 from the
  bank.

Integrity end to end, without a second hash of the whole image: Glance's
hash proves the download, each object's sha256 (also in the checkpoint's
manifest) what the bank holds and what restore sends, and Glance's hash of
the restored image what it received. A whole-image ``sha256`` is computed
only when Glance recorded no hash, or free when Glance's hash is sha256.

``data`` below is what :func:`save_image_data` returns and a plugin keeps in
its ``metadata.json``: size, Glance's hashes, ``sha256`` where computed
(see above; checkpoints written before 2026-12 have it always), the object
size and, per object, its name, size and sha256.
"""

import hashlib
import logging

from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import image as sdk_image
from oslo_config import cfg

from protection import config
from protection import exceptions
from protection.transfer import pipeline
from protection.plugin import checks
from protection.transfer import streaming
from protection.plugin import tasks

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK_SIZE = 4 * MiB
DATA_PREFIX = "data/"
JSON_PATCH = "application/openstack-images-v2.1-json-patch"
# Glance's statuses that end a wait for ``active`` at once.
IMAGE_FAILURES = ("killed", "deleted", "pending_delete", "deactivated")
# Image attributes that Glance computes or owns, or that a new image gets
# from its own fields: never copied as properties.
NOT_PROPERTIES = frozenset((
    "id", "name", "status", "visibility", "protected", "os_hidden",
    "checksum", "os_hash_algo", "os_hash_value", "owner", "size",
    "virtual_size", "min_disk", "min_ram", "disk_format", "container_format",
    "tags", "created_at", "updated_at", "deleted", "deleted_at",
    "locations", "direct_url", "file", "schema", "self", "stores",
))
# Glance reserves this namespace; a client may not set these.
RESERVED_PREFIX = "os_glance_"
# Fields of describe_image's record that belong to the data, not the image.
DATA_FIELDS = ("size", "checksum", "os_hash_algo", "os_hash_value")

# JSON Schemas of what a plugin saves with these functions, for the
# plugins' metadata_schema: the image record and the data record.
IMAGE_SCHEMA = {
    "type": "object",
    "required": ["name", "disk_format", "container_format", "min_disk",
                 "min_ram", "tags", "os_hidden", "properties"],
    "properties": {
        "name": {"type": "string"},
        "disk_format": {"type": ["string", "null"]},
        "container_format": {"type": ["string", "null"]},
        "min_disk": {"type": "integer", "minimum": 0},
        "min_ram": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "os_hidden": {"type": "boolean"},
        "properties": {"type": "object"},
    },
}
DATA_SCHEMA = {
    "type": "object",
    "required": ["size", "objects"],
    "properties": {
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "objects": {"type": "array", "items": {
            "type": "object", "required": ["name", "size", "sha256"],
            "properties": {"name": {"type": "string"},
                           "size": {"type": "integer", "minimum": 0},
                           "sha256": {"type": "string"}}}},
    },
}

class ImageNotActive(exceptions.StackvaultError):
    pass


class ImageDataMismatch(exceptions.StackvaultError):
    """Bytes that do not hash to what Glance or the checkpoint recorded."""


def _option(conf, name, default):
    """``[image_data] name``, or ``default`` without a configuration or
    when the framework's options are not registered."""
    try:
        return getattr(conf.image_data, name)
    except (AttributeError, cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return default


def object_size(conf):
    """``[image_data] object_size_mib`` in bytes."""
    return _option(conf, "object_size_mib",
                   config.DEFAULT_OBJECT_SIZE_MIB) * MiB


def concurrency(conf):
    """``[image_data] concurrency``: objects of one image moved at once."""
    return _option(conf, "concurrency", config.DEFAULT_IMAGE_DATA_CONCURRENCY)


# Every image transfer of this process (all operations of a CLI or a
# conductor) takes its objects' slots from this one budget.
_PROCESS_BUDGET = pipeline.Budget(config.DEFAULT_PROCESS_CONCURRENCY)


def process_budget(conf):
    """The process's budget of objects in flight, ``[image_data]
    process_concurrency`` slots."""
    _PROCESS_BUDGET.limit = _option(conf, "process_concurrency",
                                    config.DEFAULT_PROCESS_CONCURRENCY)
    return _PROCESS_BUDGET


# The quota names quota_demands() demands: a plugin that calls it adds
# them to its own declaration (``quota_demands = {..., **QUOTA_NAMES}``).
QUOTA_NAMES = {"image.image_count_total": "images",
               "image.image_size_total": "image MiB"}


def quota_demands(data):
    """What restoring ``data`` into a new image uses of Glance's quotas
    (:mod:`protection.restore.quotas`): one image of its size, in MiB rounded
    up (names in :data:`QUOTA_NAMES`)."""
    return [checks.Demand("image.image_count_total", 1),
            checks.Demand("image.image_size_total", -(-data["size"] // MiB))]


def data_object_name(index):
    return f"{DATA_PREFIX}{index:08d}"


# -- reading an image ---------------------------------------------------------
def read_image(conn, image_id):
    """The image as Glance returns it (wire names, string values).

    The typed ``Image`` resource converts some properties (``"true"`` ->
    ``True``, ``"2"`` -> ``2``); restore must send back exactly what Glance
    stored, so this reads the raw record through the image proxy.
    """
    response = conn.image.get(f"/images/{image_id}")
    sdk_exceptions.raise_from_response(response)
    return response.json()


def user_properties(raw):
    """The properties a new image can carry: everything but Glance's own."""
    return {k: v for k, v in raw.items()
            if k not in NOT_PROPERTIES and not k.startswith(RESERVED_PREFIX)}


def describe_image(conn, image_id):
    """What saving an image needs; refuse one that is not ``active`` or
    that has no data of its own."""
    raw = read_image(conn, image_id)
    status = raw.get("status")
    if status != "active":
        raise ImageNotActive(
            f"image {image_id} is {status!r}, not 'active': only "
            "active images can be protected")
    props = user_properties(raw)
    if not raw.get("size") and "block_device_mapping" in props:
        raise exceptions.StackvaultError(
            f"image {image_id} has no data: it is a snapshot of a "
            "volume-backed server, whose block_device_mapping points at "
            "volume snapshots; protect the server's volumes instead")
    return {
        "id": raw["id"],
        "name": raw.get("name") or "",
        "size": raw.get("size") or 0,
        "checksum": raw.get("checksum"),
        "os_hash_algo": raw.get("os_hash_algo"),
        "os_hash_value": raw.get("os_hash_value"),
        "disk_format": raw.get("disk_format"),
        "container_format": raw.get("container_format"),
        "min_disk": raw.get("min_disk") or 0,
        "min_ram": raw.get("min_ram") or 0,
        "tags": sorted(raw.get("tags") or []),
        "visibility": raw.get("visibility"),
        "protected": bool(raw.get("protected")),
        "os_hidden": bool(raw.get("os_hidden")),
        "properties": props,
    }


def saved_image(image_info):
    """The image record a plugin saves (the data's fields are in ``data``)."""
    return {k: v for k, v in image_info.items() if k not in DATA_FIELDS}


# -- saving the data ----------------------------------------------------------
class Digests:
    """Glance's hash of the data (to check the download), and the whole
    image's sha256 where nothing else covers the whole image.

    Each object's sha256 (computed by the bank's put) and Glance's own hash
    (checked here, and compared with the restored image's) cover the data
    end to end, so a second whole-image hash is computed only when Glance
    recorded none (``sha256`` is then the only whole-image record); a
    Glance configured for sha256 gives it for free.
    """

    def __init__(self, hash_algo=None, hash_value=None, checksum=None):
        self.glance = None
        self.glance_algo = None
        self.expected = None
        if hash_algo and hash_value:
            try:
                self.glance = hashlib.new(hash_algo)
                self.glance_algo, self.expected = hash_algo, hash_value
            except ValueError:
                LOG.warning("Glance hash algorithm %r is not available "
                            "here; checking the md5 checksum instead",
                            hash_algo)
        if self.glance is None and checksum:
            self.glance = hashlib.md5(usedforsecurity=False)
            self.glance_algo, self.expected = "md5", checksum
        if self.glance_algo == "sha256":
            self.sha256 = self.glance
        elif self.glance is None:
            self.sha256 = hashlib.sha256()
        else:
            self.sha256 = None

    def hashes(self):
        """The hash objects to feed (see streaming.BackgroundHashes)."""
        return [h for h in (self.glance,) if h is not None] + \
            [h for h in (self.sha256,)
             if h is not None and h is not self.glance]

    def check_glance(self, what):
        """Raise ImageDataMismatch when the data is not what Glance has."""
        if self.glance is None:
            LOG.warning("%s: Glance recorded no hash; the data is saved "
                        "with its sha256 only", what)
            return None
        found = self.glance.hexdigest()
        if found != self.expected:
            raise ImageDataMismatch(
                f"{what}: the data read does not match Glance's "
                f"{self.glance_algo} (expected {self.expected}, got {found})")
        return self.glance_algo


def _save_objects(ctx, bank, chunks, hashes, size, total):
    """Write ``chunks`` as consecutive objects of ``size`` bytes, up to
    ``[image_data] concurrency`` at once; return their records and the
    bytes read."""
    read = [0]

    def counted(piece):
        for chunk in piece:
            hashes.update(chunk)          # Glance's hash, on a worker
            read[0] += len(chunk)
            ctx.progress.bytes(read[0], total)
            yield chunk

    def put(index, piece):
        name = data_object_name(index)
        info = bank.put(name, piece)      # the bank hashes each object
        return {"name": name, "size": info.size, "sha256": info.sha256}

    objects = pipeline.put_pieces(
        (counted(piece) for piece in streaming.split(chunks, size)),
        put, concurrency(ctx.conf), name="stackvault-image-put",
        budget=process_budget(ctx.conf))
    return objects, read[0]


def save_image_data(ctx, conn, bank, image_info, size):
    """Stream the image from Glance into ``bank``, ``size`` bytes per
    object; return the ``data`` record. On failure, objects already
    written stay: the caller's revert calls :func:`delete_image_data`."""
    image_id = image_info["id"]
    what = f"image {image_id}"
    total = image_info["size"]
    digests = Digests(image_info["os_hash_algo"],
                      image_info["os_hash_value"], image_info["checksum"])
    ctx.progress.step("download", f"{total} bytes from Glance")
    response = conn.image.download_image(image_id, stream=True)
    try:
        sdk_exceptions.raise_from_response(response)
        if response.status_code == 204:       # an image without data
            chunks = iter(())
        else:
            chunks = response.iter_content(chunk_size=min(CHUNK_SIZE, size))
        with streaming.BackgroundHashes(*digests.hashes()) as hashes:
            objects, read = _save_objects(ctx, bank, chunks, hashes, size,
                                          total)
    finally:
        response.close()
    if read != total:
        raise ImageDataMismatch(
            f"{what}: read {read} bytes from Glance, but the "
            f"image's size is {total}")
    verified_with = digests.check_glance(what)
    record = {
        "size": read,
        "checksum": image_info["checksum"],
        "os_hash_algo": image_info["os_hash_algo"],
        "os_hash_value": image_info["os_hash_value"],
        "verified_with": verified_with,
        "object_size": size,
        "objects": objects,
    }
    if digests.sha256 is not None:
        record["sha256"] = digests.sha256.hexdigest()
    return record


def delete_image_data(bank):
    """Delete every data object in ``bank``; return how many there were."""
    names = [n for n in bank.list() if n.startswith(DATA_PREFIX)]
    for name in names:
        bank.delete(name)
    return len(names)


# -- restoring ----------------------------------------------------------------
def create_image(conn, image, **fields):
    """Create a new image (queued, no data yet) with the saved ``image``'s
    properties and formats; ``fields`` (name, visibility...) override.
    Never ``protected``: a protected image cannot be deleted by a revert.
    Return the new id."""
    body = dict(image["properties"])
    body.update({
        "disk_format": image["disk_format"],
        "container_format": image["container_format"],
        "min_disk": image["min_disk"],
        "min_ram": image["min_ram"],
        "tags": list(image["tags"]),
    })
    body.update(fields)
    response = conn.image.post("/images", json=body)
    sdk_exceptions.raise_from_response(response)
    return response.json()["id"]


def marked_image(conn, marks):
    """The id of an image carrying ``marks`` (``CreatingTask.marks``) as
    properties, or ``None``: what a killed run's ``create_image`` made."""
    response = conn.image.get("/images", params=dict(marks))
    sdk_exceptions.raise_from_response(response)
    for raw in response.json().get("images", []):
        if all(raw.get(key) == value for key, value in marks.items()):
            return raw["id"]
    return None


def drop_marks(conn, image_id, image=None):
    """Take the marks off a restored image (its properties become the
    saved ones again) once its id is saved and its data is in: one PATCH.

    ``image`` is the image as the caller just read it (the restore's last
    stage proved it by that read): its properties say which marks it still
    carries, so it is not read again. Without it both marks are asked off
    at once; Glance refuses the whole patch (409, nothing changed) when one
    of them is already gone (a re-run), and only then is the image read to
    see which are left. A gone image raises NotFound."""
    if image is not None:
        present = [key for key in tasks.MARK_KEYS
                   if key in _properties(image)]
        if present:
            sdk_exceptions.raise_from_response(
                _remove_properties(conn, image_id, present))
        return
    response = _remove_properties(conn, image_id, tasks.MARK_KEYS)
    if response.status_code == 409:
        record = read_image(conn, image_id)         # once, not per key
        present = [key for key in tasks.MARK_KEYS if key in record]
        if not present:
            return
        response = _remove_properties(conn, image_id, present)
    sdk_exceptions.raise_from_response(response)


def _properties(image):
    """An image's extra properties: a typed ``Image``'s ``properties``,
    or the keys of a raw record (:func:`read_image`)."""
    properties = getattr(image, "properties", None)
    if isinstance(properties, dict):
        return properties
    return image if isinstance(image, dict) else {}


def _remove_properties(conn, image_id, keys):
    return conn.image.patch(
        f"/images/{image_id}",
        json=[{"op": "remove", "path": f"/{key}"} for key in keys],
        headers={"Content-Type": JSON_PATCH})


def _upload_needed(ctx, conn, image_id):
    """On a re-run of an upload: whether the image still needs its data.

    A run killed during its upload leaves the image ``saving`` until
    Glance sees the connection gone and puts it back to ``queued`` (an
    upload into ``saving`` is refused with 409); one killed after Glance
    took all the data leaves it ``active``. Waits (bounded) for the first,
    and says no for the second (the checks after the upload still run).
    """
    status = read_image(conn, image_id).get("status")
    if status == "saving":
        ctx.progress.step("upload", f"image {image_id} is still 'saving' "
                          "from the interrupted run: waiting for Glance")
        status = ctx.wait_for_status(
            lambda: conn.image.get_image(image_id), ("queued", "active"),
            what=f"image {image_id} (an interrupted upload)",
            failures=IMAGE_FAILURES).status
    return status != "active"


def _checked_object(bank, obj, original_id):
    """A reader of one bank object's chunks that raises, after its last
    chunk, when the object is not what was saved (the upload then fails)."""
    def read():
        piece = hashlib.sha256()
        size = 0
        chunks = bank.get(obj["name"], chunk_size=CHUNK_SIZE)
        try:
            for chunk in chunks:
                piece.update(chunk)
                size += len(chunk)
                yield chunk
        finally:
            streaming.close(chunks)
        if size != obj["size"] or piece.hexdigest() != obj["sha256"]:
            raise ImageDataMismatch(
                f"bank object {obj['name']} of image {original_id} "
                f"is corrupt: expected {obj['size']} bytes with "
                f"sha256 {obj['sha256']}, read {size} bytes with "
                f"sha256 {piece.hexdigest()}")
    return read


def _progress(ctx, chunks, total, sent):
    for chunk in chunks:
        yield chunk
        sent[0] += len(chunk)
        ctx.progress.bytes(sent[0], total)


def upload_image_data(ctx, conn, bank, data, image_id, original_id):
    """Stream the saved objects into the new image ``image_id``.

    The next objects are read ahead concurrently (``[image_data]
    concurrency``), each checked against its saved sha256 on its reader's
    thread: a corrupt or missing object raises inside the request body, so
    Glance never receives the whole upload. No whole-image hash: the
    objects' hashes prove what is sent, :func:`check_restored_image` that
    Glance received it. ``original_id``: the saved image, for messages.
    """
    if ctx.journal is not None and ctx.journal.resuming and \
            not _upload_needed(ctx, conn, image_id):
        return
    total = data["size"]
    sent = [0]
    ctx.progress.step("upload", f"{total} bytes to image {image_id}")
    readers = [_checked_object(bank, obj, original_id)
               for obj in data["objects"]]
    with pipeline.PieceReader(readers, concurrency(ctx.conf),
                              name="stackvault-image-get",
                              budget=process_budget(ctx.conf)) as pieces:
        body = streaming.SinglePass(_progress(ctx, pieces, total, sent))
        target = sdk_image.Image.existing(id=image_id)
        try:
            response = target.upload(conn.image, data=body, size=total)
            sdk_exceptions.raise_from_response(response)
        except Exception as exc:
            # The body's own error (a corrupt object) is the real reason;
            # the HTTP library reports it as a broken connection.
            if body.error is not None and body.error is not exc:
                raise body.error from exc
            raise
    if body.error is not None:
        raise body.error
    if sent[0] != total:
        raise ImageDataMismatch(
            f"image {original_id}: sent {sent[0]} bytes, the checkpoint "
            f"recorded {total}")


def wait_image_active(ctx, conn, image_id, data):
    """Bounded wait (longer for more data) for the new image's ``active``."""
    ctx.wait_for_status(lambda: conn.image.get_image(image_id),
                        "active", f"image {image_id}",
                        size_gib=data["size"] / GiB,
                        failures=IMAGE_FAILURES)


def _comparable_hash(new, data):
    """``(algo, expected, found)``: the strongest hash both sides have (the
    same multihash algorithm, the saved sha256 when this Glance uses
    sha256, else md5), or None."""
    if new.hash_value and new.hash_algo == data.get("os_hash_algo"):
        return new.hash_algo, data["os_hash_value"], new.hash_value
    if new.hash_value and new.hash_algo == "sha256" and data.get("sha256"):
        return "sha256", data["sha256"], new.hash_value
    if new.checksum and data.get("checksum"):
        return "md5", data["checksum"], new.checksum
    return None


def check_restored_image(conn, data, image_id, original_id):
    """Glance's size and hash of what it stored equal the saved ones."""
    new = conn.image.get_image(image_id)
    what = f"restored image {image_id} (of {original_id})"
    if new.size != data["size"]:
        raise ImageDataMismatch(
            f"{what} has {new.size} bytes, the checkpoint {data['size']}")
    compared = _comparable_hash(new, data)
    if compared is None:
        LOG.warning("%s: Glance reports no hash comparable with the "
                    "checkpoint's; relying on the sha256 sent", what)
        return
    algo, expected, found = compared
    if expected != found:
        raise ImageDataMismatch(
            f"{what}: Glance's {algo} is {found}, the checkpoint "
            f"recorded {expected}")


# -- verifying ----------------------------------------------------------------
def _check_objects(ctx, bank, data):
    problems = []
    done = 0
    for obj in data["objects"]:
        piece = hashlib.sha256()
        size = 0
        try:
            for chunk in bank.get(obj["name"], chunk_size=CHUNK_SIZE):
                piece.update(chunk)
                size += len(chunk)
                done += len(chunk)
                ctx.progress.bytes(done, data["size"])
        except exceptions.ObjectNotFound:
            problems.append(f"{obj['name']}: missing")
            continue
        if size != obj["size"] or piece.hexdigest() != obj["sha256"]:
            problems.append(
                f"{obj['name']}: expected {obj['size']} bytes, sha256 "
                f"{obj['sha256']}; found {size} bytes, sha256 "
                f"{piece.hexdigest()}")
    return problems


def verify_image_data(ctx, bank, data, original_id):
    """Recompute every object's sha256; raise ImageDataMismatch naming the
    first problem (missing, corrupt or unexpected objects, or objects that
    do not add up to the image's size). The objects' hashes cover the
    whole image: no whole-image hash is recomputed (a checkpoint's
    ``sha256``, where recorded, is for comparing with a restored image)."""
    problems = _check_objects(ctx, bank, data)
    expected_names = [obj["name"] for obj in data["objects"]]
    extra = sorted(set(n for n in bank.list()
                       if n.startswith(DATA_PREFIX)) - set(expected_names))
    problems += [f"{name}: not part of the image" for name in extra]
    listed = sum(obj["size"] for obj in data["objects"])
    if listed != data["size"]:
        problems.append(f"whole image: the objects hold {listed} bytes, "
                        f"the image {data['size']}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 \
            else ""
        raise ImageDataMismatch(
            f"image {original_id} data in the checkpoint is damaged: "
            f"{problems[0]}{more}")
