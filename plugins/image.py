"""Glance images (``OS::Glance::Image``): the image data copied into the bank.

What protect saves
    The image's data, streamed from Glance into the bank as fixed-size
    objects ``data/00000000``, ``data/00000001`` ... (``[image_plugin]
    object_size_mb``, 64 MiB by default) with constant memory. On the way
    the plugin computes the sha256 of the whole image and checks Glance's
    own hash: ``os_hash_value`` (``os_hash_algo``, sha512 on a default
    Glance) when the image has one, else the md5 ``checksum``; a mismatch
    fails the protect. ``metadata.json`` holds what a new image needs: name,
    disk and container format, min_disk, min_ram, tags, os_hidden, the
    protected flag and every user property, as Glance returns them (names
    and string values kept exactly); plus the size, sha256, Glance's hashes
    and, per object, its size and sha256. Properties Glance computes or owns
    (id, owner, status, checksum, size, locations, timestamps, stores,
    ``os_glance_*`` ...) are not saved. Only ``active`` images are
    protected.

What restore creates
    One new image (``private`` unless the ``visibility`` parameter says
    otherwise; named ``restore_name`` or the saved name), with the saved
    properties; the data is streamed back from the bank, each object checked
    against its saved sha256 while it is sent (a corrupt object aborts the
    upload), then the image must go ``active`` and Glance's hash of what it
    received must equal the saved one. An image that was ``protected`` is
    protected again as the last step. ``kernel_id``/``ramdisk_id`` of an
    AMI-style image point to the restored kernel/ramdisk images (they are
    the image's dependencies).

How each creation is undone
    Protect: the data objects and metadata written are deleted from the
    bank. Restore: the new image is deleted (its data goes with it); the
    protected flag is cleared first if it was set.
"""

import hashlib
import logging

from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import image as sdk_image
from oslo_config import cfg
from taskflow import task
from taskflow.patterns import linear_flow

from protection import exceptions
from protection import streaming
from protection.plugin import ProtectionPlugin
from protection.resource import Resource

LOG = logging.getLogger(__name__)

RESOURCE_TYPE = "OS::Glance::Image"
MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK_SIZE = 4 * MiB
DATA_PREFIX = "data/"
METADATA_FORMAT = 1
# Glance's statuses that end a wait for ``active`` at once.
IMAGE_FAILURES = ("killed", "deleted", "pending_delete", "deactivated")
# Image attributes that Glance computes or owns, or that restore sets from
# its own fields: never copied as properties.
NOT_PROPERTIES = frozenset((
    "id", "name", "status", "visibility", "protected", "os_hidden",
    "checksum", "os_hash_algo", "os_hash_value", "owner", "size",
    "virtual_size", "min_disk", "min_ram", "disk_format", "container_format",
    "tags", "created_at", "updated_at", "deleted", "deleted_at",
    "locations", "direct_url", "file", "schema", "self", "stores",
))
# Glance reserves this namespace; a client may not set these.
RESERVED_PREFIX = "os_glance_"
DEPENDENCY_PROPERTIES = ("kernel_id", "ramdisk_id")


class ImageNotActive(exceptions.StackvaultError):
    pass


class ImageDataMismatch(exceptions.StackvaultError):
    """Bytes that do not hash to what Glance or the checkpoint recorded."""


def data_object_name(index):
    return f"{DATA_PREFIX}{index:08d}"


def read_image(conn, image_id):
    """The image as Glance returns it (wire names, string values).

    The typed ``Image`` resource converts some properties (``"true"`` ->
    ``True``, ``"2"`` -> ``2``); restore must send back exactly what Glance
    stored, so protect reads the raw record through the image proxy.
    """
    response = conn.image.get(f"/images/{image_id}")
    sdk_exceptions.raise_from_response(response)
    return response.json()


def user_properties(raw):
    """The properties a new image can carry: everything but Glance's own."""
    return {k: v for k, v in raw.items()
            if k not in NOT_PROPERTIES and not k.startswith(RESERVED_PREFIX)}


class Digests:
    """sha256 of the data, and the hash Glance recorded (to check it)."""

    def __init__(self, hash_algo=None, hash_value=None, checksum=None):
        self.sha256 = hashlib.sha256()
        self.glance = None
        self.glance_algo = None
        self.expected = None
        if hash_algo and hash_value:
            try:
                # A Glance configured for sha256 needs no second pass.
                self.glance = self.sha256 if hash_algo == "sha256" else \
                    hashlib.new(hash_algo)
                self.glance_algo, self.expected = hash_algo, hash_value
            except ValueError:
                LOG.warning("Glance hash algorithm %r is not available "
                            "here; checking the md5 checksum instead",
                            hash_algo)
        if self.glance is None and checksum:
            self.glance = hashlib.md5(usedforsecurity=False)
            self.glance_algo, self.expected = "md5", checksum

    def hashes(self):
        """The hash objects to feed (see streaming.BackgroundHashes)."""
        return [self.sha256] + [h for h in (self.glance,)
                                if h is not None and h is not self.sha256]

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


# -- protect ------------------------------------------------------------------
class DescribeImage(task.Task):
    """Read the image; refuse one that is not ``active``."""

    default_provides = "image_info"

    def execute(self, conn, resource):
        raw = read_image(conn, resource.id)
        status = raw.get("status")
        if status != "active":
            raise ImageNotActive(
                f"image {resource.id} is {status!r}, not 'active': only "
                "active images can be protected")
        props = user_properties(raw)
        if not raw.get("size") and "block_device_mapping" in props:
            raise exceptions.StackvaultError(
                f"image {resource.id} has no data: it is a snapshot of a "
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


class SaveImageData(task.Task):
    """Stream the image from Glance into the bank, object by object."""

    default_provides = "image_data"

    def __init__(self, object_size, **kwargs):
        super().__init__(**kwargs)
        self.object_size = object_size

    def execute(self, ctx, conn, bank, image_info):
        image_id = image_info["id"]
        what = f"image {image_id}"
        total = image_info["size"]
        digests = Digests(image_info["os_hash_algo"],
                          image_info["os_hash_value"],
                          image_info["checksum"])
        objects = []
        read = 0
        ctx.progress.step("download", f"{total} bytes from Glance")
        response = conn.image.download_image(image_id, stream=True)
        try:
            sdk_exceptions.raise_from_response(response)
            if response.status_code == 204:       # an image without data
                chunks = iter(())
            else:
                chunks = response.iter_content(chunk_size=min(
                    CHUNK_SIZE, self.object_size))
            # The image's hashes are computed on worker threads while this
            # one receives and writes (the bank hashes each object here).
            with streaming.BackgroundHashes(*digests.hashes()) as hashes:
                for index, piece in enumerate(
                        streaming.split(chunks, self.object_size)):
                    name = data_object_name(index)
                    info = bank.put(name, self._counted(
                        piece, hashes, ctx, read, total))
                    read += info.size
                    objects.append({"name": name, "size": info.size,
                                    "sha256": info.sha256})
        finally:
            response.close()
        if read != total:
            raise ImageDataMismatch(
                f"{what}: read {read} bytes from Glance, but the "
                f"image's size is {total}")
        verified_with = digests.check_glance(what)
        return {
            "size": read,
            "sha256": digests.sha256.hexdigest(),
            "checksum": image_info["checksum"],
            "os_hash_algo": image_info["os_hash_algo"],
            "os_hash_value": image_info["os_hash_value"],
            "verified_with": verified_with,
            "object_size": self.object_size,
            "objects": objects,
        }

    @staticmethod
    def _counted(piece, hashes, ctx, done, total):
        for chunk in piece:
            hashes.update(chunk)
            yield chunk
            done += len(chunk)
            ctx.progress.bytes(done, total)

    def revert(self, bank, **kwargs):
        # Whatever this task wrote, even when it failed half way.
        for name in bank.list():
            if name.startswith(DATA_PREFIX):
                bank.delete(name)


class SaveImageMetadata(task.Task):
    """What restore needs, in ``metadata.json``."""

    def execute(self, bank, image_info, image_data):
        image = {k: v for k, v in image_info.items()
                 if k not in ("size", "checksum", "os_hash_algo",
                              "os_hash_value")}
        bank.save_metadata({"format": METADATA_FORMAT, "image": image,
                            "data": image_data})

    def revert(self, bank, **kwargs):
        bank.delete("metadata.json")


# -- restore ------------------------------------------------------------------
def _saved(metadata, resource):
    if metadata.get("format") != METADATA_FORMAT or "data" not in metadata:
        raise exceptions.StackvaultError(
            f"image {resource.id}: the checkpoint holds no image data "
            f"metadata this plugin reads (format {metadata.get('format')!r})")
    return metadata["image"], metadata["data"]


class CreateImage(task.Task):
    """Create the new image (queued, no data yet); record its id."""

    default_provides = "new_image_id"

    def execute(self, ctx, conn, resource, metadata, parameters, restored):
        image, _data = _saved(metadata, resource)
        body = dict(image["properties"])
        for prop in DEPENDENCY_PROPERTIES:
            if body.get(prop):
                body[prop] = restored.get(RESOURCE_TYPE, body[prop],
                                          body[prop])
        body.update({
            "name": parameters.get("restore_name") or image["name"],
            "disk_format": image["disk_format"],
            "container_format": image["container_format"],
            "min_disk": image["min_disk"],
            "min_ram": image["min_ram"],
            "tags": list(image["tags"]),
            "visibility": parameters.get("visibility", "private"),
        })
        if image["os_hidden"]:       # older Glances do not know the key
            body["os_hidden"] = True
        # Not protected yet: a protected image cannot be deleted, and the
        # revert below must be able to. ProtectImage sets it last.
        response = conn.image.post("/images", json=body)
        sdk_exceptions.raise_from_response(response)
        new_id = response.json()["id"]
        ctx.record_new_id(new_id)
        return new_id

    def revert(self, ctx, conn, result, **kwargs):
        if isinstance(result, str):
            conn.image.delete_image(result, ignore_missing=True)
            ctx.forget_new_id()


class UploadImageData(task.Task):
    """Stream the data from the bank into the new image.

    Each bank object is checked against its saved sha256 as it is sent: a
    corrupt object raises inside the request body, so Glance never receives
    the whole upload. Nothing of its own to revert: the data belongs to the
    image, which CreateImage's revert deletes.
    """

    def execute(self, ctx, conn, bank, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        total = data["size"]
        whole = hashlib.sha256()
        sent = [0]

        def stream():
            for obj in data["objects"]:
                piece = hashlib.sha256()
                size = 0
                for chunk in bank.get(obj["name"], chunk_size=CHUNK_SIZE):
                    piece.update(chunk)
                    hashes.update(chunk)          # whole, on a worker
                    size += len(chunk)
                    yield chunk
                    sent[0] += len(chunk)
                    ctx.progress.bytes(sent[0], total)
                if size != obj["size"] or piece.hexdigest() != obj["sha256"]:
                    raise ImageDataMismatch(
                        f"bank object {obj['name']} of image {resource.id} "
                        f"is corrupt: expected {obj['size']} bytes with "
                        f"sha256 {obj['sha256']}, read {size} bytes with "
                        f"sha256 {piece.hexdigest()}")

        ctx.progress.step("upload", f"{total} bytes to image {new_image_id}")
        body = streaming.SinglePass(stream())
        target = sdk_image.Image.existing(id=new_image_id)
        try:
            with streaming.BackgroundHashes(whole) as hashes:
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
        if sent[0] != total or whole.hexdigest() != data["sha256"]:
            raise ImageDataMismatch(
                f"image {resource.id}: sent {sent[0]} bytes with sha256 "
                f"{whole.hexdigest()}, the checkpoint recorded {total} bytes "
                f"with sha256 {data['sha256']}")


class WaitImageActive(task.Task):
    def execute(self, ctx, conn, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        ctx.wait_for_status(lambda: conn.image.get_image(new_image_id),
                            "active", f"image {new_image_id}",
                            size_gib=data["size"] / GiB,
                            failures=IMAGE_FAILURES)


class CheckRestoredImage(task.Task):
    """Glance's hash of what it stored equals the saved one."""

    def execute(self, conn, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        new = conn.image.get_image(new_image_id)
        what = f"restored image {new_image_id} (of {resource.id})"
        if new.size != data["size"]:
            raise ImageDataMismatch(
                f"{what} has {new.size} bytes, the checkpoint {data['size']}")
        # The strongest hash both sides have: the same multihash algorithm,
        # the saved sha256 when this Glance uses sha256, else md5.
        if new.hash_value and new.hash_algo == data.get("os_hash_algo"):
            algo, expected, found = (new.hash_algo, data["os_hash_value"],
                                     new.hash_value)
        elif new.hash_value and new.hash_algo == "sha256":
            algo, expected, found = "sha256", data["sha256"], new.hash_value
        elif new.checksum and data.get("checksum"):
            algo, expected, found = "md5", data["checksum"], new.checksum
        else:
            LOG.warning("%s: Glance reports no hash comparable with the "
                        "checkpoint's; relying on the sha256 sent", what)
            return
        if expected != found:
            raise ImageDataMismatch(
                f"{what}: Glance's {algo} is {found}, the checkpoint "
                f"recorded {expected}")


class ProtectImage(task.Task):
    """Set ``protected`` as the original had it (last, see CreateImage)."""

    def execute(self, conn, new_image_id):
        conn.image.update_image(new_image_id, protected=True)

    def revert(self, conn, new_image_id, result, **kwargs):
        try:
            conn.image.update_image(new_image_id, protected=False)
        except sdk_exceptions.NotFoundException:
            pass


# -- delete and verify --------------------------------------------------------
class DeleteImageData(task.Task):
    """Delete the data objects (checkpoint delete removes the rest)."""

    def execute(self, ctx, bank):
        names = [n for n in bank.list() if n.startswith(DATA_PREFIX)]
        for name in names:
            bank.delete(name)
        ctx.progress.step("delete", f"{len(names)} data objects deleted")


class VerifyImageData(task.Task):
    """Recompute every object's sha256 and the whole image's."""

    def execute(self, ctx, bank, resource, metadata):
        _image, data = _saved(metadata, resource)
        whole = hashlib.sha256()
        with streaming.BackgroundHashes(whole) as hashes:
            problems = self._check_objects(ctx, bank, data, hashes)
        expected_names = [obj["name"] for obj in data["objects"]]
        extra = sorted(set(n for n in bank.list()
                           if n.startswith(DATA_PREFIX)) - set(expected_names))
        problems += [f"{name}: not part of the image" for name in extra]
        if not problems and whole.hexdigest() != data["sha256"]:
            problems.append(f"whole image: sha256 {whole.hexdigest()}, "
                            f"expected {data['sha256']}")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 \
                else ""
            raise ImageDataMismatch(
                f"image {resource.id} data in the checkpoint is damaged: "
                f"{problems[0]}{more}")

    @staticmethod
    def _check_objects(ctx, bank, data, hashes):
        problems = []
        done = 0
        for obj in data["objects"]:
            piece = hashlib.sha256()
            size = 0
            try:
                for chunk in bank.get(obj["name"], chunk_size=CHUNK_SIZE):
                    piece.update(chunk)
                    hashes.update(chunk)          # whole, on a worker
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


# -- the plugin ---------------------------------------------------------------
class ImagePlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE
    restore_schema = {
        "type": "object",
        "properties": {
            "restore_name": {"type": "string", "minLength": 1,
                             "maxLength": 255},
            "visibility": {"enum": ["private", "shared", "community",
                                    "public"]},
        },
        "additionalProperties": False,
    }
    config_group = "image_plugin"
    config_opts = [
        cfg.IntOpt("object_size_mb", default=64, min=1, max=4096,
                   help="Size of the bank objects an image's data is cut "
                        "into, in MiB. Memory use does not depend on it "
                        "(data streams in 4 MiB chunks); larger objects "
                        "mean fewer bank requests."),
    ]

    def _object_size(self):
        if self.conf is None:
            return 64 * MiB
        return self.config.object_size_mb * MiB

    # -- discovery ------------------------------------------------------------
    @staticmethod
    def _resource(image):
        return Resource(RESOURCE_TYPE, image.id, image.name or "", {
            "status": image.status, "size": image.size,
            "disk_format": image.disk_format,
            # for dependencies(), without asking Glance again
            "kernel_id": image.kernel_id, "ramdisk_id": image.ramdisk_id})

    def list_resources(self, conn):
        return [self._resource(image) for image in
                conn.image.images(owner=conn.current_project_id)]

    def show_resource(self, conn, resource_id):
        try:
            return self._resource(conn.image.get_image(resource_id))
        except sdk_exceptions.NotFoundException:
            raise exceptions.ResourceNotFound(
                f"{RESOURCE_TYPE} {resource_id} not found") from None

    def dependencies(self, conn, resource):
        """The kernel and ramdisk images of an AMI-style image."""
        if all(prop in resource.extra for prop in DEPENDENCY_PROPERTIES):
            raw = resource.extra              # found by list/show
        else:                                 # named by another plugin
            raw = read_image(conn, resource.id)
        found = []
        for prop in DEPENDENCY_PROPERTIES:
            child = raw.get(prop)
            if child and child != resource.id:
                try:
                    found.append(self.show_resource(conn, child))
                except exceptions.ResourceNotFound:
                    LOG.warning("image %s: %s %s does not exist; it is not "
                                "protected", resource.id, prop, child)
        return found

    # -- flows ----------------------------------------------------------------
    def protect_flow(self, ctx, resource):
        return linear_flow.Flow("protect").add(
            DescribeImage(),
            SaveImageData(self._object_size()),
            SaveImageMetadata())

    def restore_flow(self, ctx, resource):
        flow = linear_flow.Flow("restore").add(
            CreateImage(),
            UploadImageData(),
            WaitImageActive(),
            CheckRestoredImage())
        if ctx.metadata.get("image", {}).get("protected"):
            flow.add(ProtectImage())
        return flow

    def delete_flow(self, ctx, resource):
        return linear_flow.Flow("delete").add(DeleteImageData())

    def verify_flow(self, ctx, resource):
        return linear_flow.Flow("verify").add(VerifyImageData())
