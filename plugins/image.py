"""Glance images (``OS::Glance::Image``): the image data copied into the bank.

What protect saves
    The image's data, streamed from Glance into the bank as fixed-size
    objects ``data/00000000``, ``data/00000001`` ... (``[image_data]
    object_size_mib``, 64 MiB by default; up to ``[image_data]
    concurrency`` written at once) with bounded memory, the bank hashing
    each object (sha256). On the way the plugin checks Glance's own hash:
    ``os_hash_value`` (``os_hash_algo``, sha512 on a default Glance) when
    the image has one, else the md5 ``checksum``; a mismatch fails the
    protect. ``metadata.json`` holds what a new image needs: name,
    disk and container format, min_disk, min_ram, tags, os_hidden, the
    protected flag and every user property, as Glance returns them (names
    and string values kept exactly); plus the size, Glance's hashes (a
    whole-image sha256 only when Glance has none) and, per object, its size
    and sha256. Properties Glance computes or owns
    (id, owner, status, checksum, size, locations, timestamps, stores,
    ``os_glance_*`` ...) are not saved. Only ``active`` images are
    protected.

What restore creates
    One new image (``private`` unless the ``visibility`` parameter says
    otherwise; named ``restore_name`` or the saved name), with the saved
    properties; the data is streamed back from the bank, the next objects
    read ahead concurrently, each object checked against its saved sha256
    (a corrupt object aborts the upload), then the image must go
    ``active`` and Glance's hash of what it received must equal the saved
    one. An image that was ``protected`` is
    protected again as the last step. ``kernel_id``/``ramdisk_id`` of an
    AMI-style image point to the restored kernel/ramdisk images (they are
    the image's dependencies).

How each creation is undone
    Protect: the data objects and metadata written are deleted from the
    bank. Restore: the new image is deleted (its data goes with it); the
    protected flag is cleared first if it was set.

The streaming, hashing and checks are ``protection/image_data.py``'s, which
the server plugin also uses for a server's root disk; this module's tasks
say when they run and where the results go.
"""

import logging

from openstack import exceptions as sdk_exceptions
from taskflow import task
from taskflow.patterns import linear_flow

from protection import exceptions
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import checks
from protection.plugin import fetch_or_not_found
from protection.plugin import image_data
from protection.plugin import tasks

LOG = logging.getLogger(__name__)

RESOURCE_TYPE = "OS::Glance::Image"
METADATA_FORMAT = 1
DEPENDENCY_PROPERTIES = ("kernel_id", "ramdisk_id")


# -- protect ------------------------------------------------------------------
class DescribeImage(task.Task):
    """Read the image; refuse one that is not ``active``."""

    default_provides = "image_info"

    def execute(self, conn, resource):
        return image_data.describe_image(conn, resource.id)


class SaveImageData(task.Task):
    """Stream the image from Glance into the bank, object by object."""

    default_provides = "image_data"

    def __init__(self, object_size, **kwargs):
        super().__init__(**kwargs)
        self.object_size = object_size

    def execute(self, ctx, conn, bank, image_info):
        return image_data.save_image_data(ctx, conn, bank, image_info,
                                          self.object_size)

    def revert(self, bank, **kwargs):
        # Whatever this task wrote, even when it failed half way.
        image_data.delete_image_data(bank)


class SaveImageMetadata(tasks.SaveMetadata):
    """What restore needs, in ``metadata.json``."""

    def execute(self, bank, image_info, image_data):
        bank.save_metadata({"format": METADATA_FORMAT,
                            "image": _saved_image(image_info),
                            "data": image_data})


def _saved_image(image_info):
    # SaveImageMetadata's ``image_data`` argument hides the module there.
    return image_data.saved_image(image_info)


# -- restore ------------------------------------------------------------------
def _saved(metadata, resource):
    """The image and data records (their shape is checked by the framework
    against ``metadata_schema`` before restore)."""
    return metadata["image"], metadata["data"]


class CreateImage(tasks.CreatingTask):
    """Create the new image (queued, no data yet); record its id."""

    default_provides = "new_image_id"
    kind = "image"
    records = True

    def execute(self, ctx, conn, resource, metadata, parameters, restored):
        image, _data = _saved(metadata, resource)
        fields = {
            "name": parameters.get("restore_name") or image["name"],
            "visibility": parameters.get("visibility", "private"),
        }
        for prop in DEPENDENCY_PROPERTIES:
            if image["properties"].get(prop):
                original = image["properties"][prop]
                fields[prop] = restored.get(RESOURCE_TYPE, original, original)
        if image["os_hidden"]:       # older Glances do not know the key
            fields["os_hidden"] = True
        # Marked (until the restore's last stage) so that a re-run finds
        # this image instead of making a second one, and an undo can
        # prove it.
        fields.update(self.marks(ctx))
        # Not protected yet: a protected image cannot be deleted, and the
        # revert below must be able to. ProtectImage sets it last.
        return self.created(ctx, image_data.create_image(conn, image,
                                                         **fields))

    def fetch(self, conn, new_id):
        return conn.image.get_image(new_id)

    def find_marked(self, ctx, conn, marks):
        return image_data.marked_image(conn, marks)

    def finish(self, ctx, conn, new_id):
        image_data.drop_marks(conn, new_id)

    def finish_found(self, ctx, conn, new_id, found):
        image_data.drop_marks(conn, new_id, found)     # no second read

    def delete(self, conn, new_id):
        conn.image.delete_image(new_id)


class UploadImageData(task.Task):
    """Stream the data from the bank into the new image, each object
    checked against its saved sha256 as it is sent. Nothing of its own to
    revert: the data belongs to the image, which CreateImage's revert
    deletes."""

    def execute(self, ctx, conn, bank, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        image_data.upload_image_data(ctx, conn, bank, data, new_image_id,
                                     resource.id)


class WaitImageActive(task.Task):
    def execute(self, ctx, conn, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        image_data.wait_image_active(ctx, conn, new_image_id, data)


class CheckRestoredImage(task.Task):
    """Glance's hash of what it stored equals the saved one (the marks of
    CreateImage come off in the restore's last stage)."""

    def execute(self, conn, resource, metadata, new_image_id):
        _image, data = _saved(metadata, resource)
        image_data.check_restored_image(conn, data, new_image_id,
                                        resource.id)


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
        count = image_data.delete_image_data(bank)
        ctx.progress.step("delete", f"{count} data objects deleted")


class VerifyImageData(task.Task):
    """Recompute every object's sha256."""

    def execute(self, ctx, bank, resource, metadata):
        _image, data = _saved(metadata, resource)
        image_data.verify_image_data(ctx, bank, data, resource.id)


# -- the plugin ---------------------------------------------------------------
class ImagePlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE
    quota_demands = image_data.QUOTA_NAMES
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
    metadata_schema = {
        "type": "object",
        "required": ["format", "image", "data"],
        "properties": {
            "format": {"const": METADATA_FORMAT},
            "image": image_data.IMAGE_SCHEMA,
            "data": image_data.DATA_SCHEMA,
        },
    }

    def _object_size(self):
        """``[image_data] object_size_mib`` (framework option)."""
        return image_data.object_size(self.conf)

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
        return self._resource(fetch_or_not_found(
            conn.image.get_image, resource_id, RESOURCE_TYPE))

    def dependencies(self, conn, resource):
        """The kernel and ramdisk images of an AMI-style image."""
        if all(prop in resource.extra for prop in DEPENDENCY_PROPERTIES):
            raw = resource.extra              # found by list/show
        else:                                 # named by another plugin
            raw = image_data.read_image(conn, resource.id)
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

    def restore_preflight(self, ctx, resource):
        """The name and visibility of the new image, the Glance quota it
        uses; its data is the checkpoint's (checked with the checkpoint)."""
        image = ctx.metadata["image"]
        return [checks.Mapping(
                    "name", image["name"],
                    ctx.parameters.get("restore_name") or image["name"]),
                checks.Mapping(
                    "visibility", image.get("visibility"),
                    ctx.parameters.get("visibility", "private")),
                *image_data.quota_demands(ctx.metadata["data"])]

    def delete_flow(self, ctx, resource):
        return linear_flow.Flow("delete").add(DeleteImageData())

    def verify_flow(self, ctx, resource):
        return linear_flow.Flow("verify").add(VerifyImageData())
