"""``OS::Cinder::Volume`` with ``data_location=bank``: the volume's data
in the bank itself, so that restoring it needs no Cinder backup (which only
its own project can restore from).

What protect saves
    Cinder uploads the volume to a temporary Glance image
    (``os-volume_upload_image``, ``disk_format`` parameter, ``qcow2`` by
    default, so only written blocks travel); an in-use volume is first
    copied through a temporary snapshot and a temporary volume (Cinder
    uploads an attached volume only with ``force``, which clouds disable
    by default), which also makes the copy crash-consistent. The image is
    streamed into the bank as ``data/00000000`` ... with a sha256 per
    object (``protection/image_data.py``, as the image plugin stores an
    image), then the temporary image, volume and snapshot are deleted.
    ``metadata.json`` holds what a new volume needs (as for a backup) plus
    ``data_location: bank`` and ``image_copy`` (the image record and the
    data record).

What restore creates
    A temporary private image with the bank's data (each object checked
    against its sha256 while sent, Glance's hash compared), a new volume
    from it (type and zone mapped as for a backup), then the temporary
    image is deleted; the volume gets the saved bootable flag and image
    metadata, and loses the temporary image's.

How each creation is undone
    Protect: the temporary snapshot, volume and image are deleted on revert
    and the bank objects removed. Restore: the temporary image and the new
    volume are deleted.
"""

from taskflow import task

from plugins.volume import backup
from protection.plugin import image_data
from protection.plugin import image_tasks
from protection.plugin import tasks
from protection.plugin import wait

BANK = "bank"
RECORD_KEY = "image_copy"
# Image metadata a volume gets from the image it is created from.
COPIED_IMAGE_METADATA = ("image_id", "image_name", "checksum", "size",
                         "min_disk", "min_ram", "disk_format",
                         "container_format")


def is_bank(metadata):
    return metadata.get("data_location") == BANK


# -- protect ------------------------------------------------------------------
class CreateCopySnapshot(backup.CreateTemporarySnapshot):
    """An in-use volume cannot be uploaded to an image (unless Cinder
    allows ``force``): copy it through a temporary snapshot."""

    def execute(self, ctx, conn, resource, volume_info):
        if volume_info["status"] != "in-use":
            return None
        return self.snapshot(ctx, conn, resource, "copied")


class CreateCopyVolume(backup.CreatingVolume):
    """A temporary volume from the temporary snapshot (in-use volumes)."""

    default_provides = "copy_volume_id"
    kind = "temporary volume"

    def execute(self, ctx, conn, snapshot_id, volume_info):
        if snapshot_id is None:
            return None
        volume = conn.block_storage.create_volume(
            snapshot_id=snapshot_id, size=volume_info["size"],
            name=f"stackvault-tmp-{ctx.checkpoint_id}",
            metadata=self.marks(ctx))
        return self.created(ctx, volume.id)


class UploadToImage(image_tasks.CreatingTemporaryImage):
    """Cinder uploads the volume (or its temporary copy) to a temporary
    Glance image, qcow2 by default: only the written blocks travel."""

    default_provides = "upload_image_id"

    def execute(self, ctx, conn, resource, parameters, volume_info,
                copy_volume_id):
        source = copy_volume_id or resource.id
        if copy_volume_id:
            ctx.wait_for_status(
                lambda: conn.block_storage.get_volume(copy_volume_id),
                "available", what=f"temporary volume {copy_volume_id}",
                failures=backup.VOLUME_FAILURES, size_gib=volume_info["size"])
        answer = conn.block_storage.upload_volume_to_image(
            source, self.temporary_name(ctx), force=False,
            disk_format=parameters.get("disk_format", "qcow2"),
            container_format="bare")
        return self.created(ctx, answer["image_id"])


class WaitUploaded(task.Task):
    """Bounded: the image ``active`` and its source volume out of
    ``uploading`` (back to what it was)."""

    def execute(self, ctx, conn, resource, volume_info, copy_volume_id,
                upload_image_id):
        ctx.progress.step("upload", f"waiting for image {upload_image_id}")
        ctx.wait_for_status(lambda: conn.image.get_image(upload_image_id),
                            "active", what=f"image {upload_image_id} of "
                            f"{backup.volume_label(resource.id)}",
                            failures=image_data.IMAGE_FAILURES,
                            size_gib=volume_info["size"])
        source = copy_volume_id or resource.id
        status = "available" if copy_volume_id else volume_info["status"]
        ctx.wait_for_status(lambda: conn.block_storage.get_volume(source),
                            status, what=backup.volume_label(source),
                            failures=backup.VOLUME_FAILURES)


class DeleteCopyVolume(task.Task):
    """The data is in the bank: the temporary volume has served (nothing
    to revert, as for the temporary snapshot)."""

    def execute(self, ctx, conn, copy_volume_id):
        if copy_volume_id is None or not tasks.prove_ours(
                ctx, conn.block_storage.get_volume, "temporary volume",
                copy_volume_id):
            return
        wait.delete_when_settled(
            lambda: conn.block_storage.get_volume(copy_volume_id),
            lambda: conn.block_storage.delete_volume(copy_volume_id),
            what=f"temporary volume {copy_volume_id}",
            timeouts=ctx.timeouts, settled=backup.SETTLED)


class SaveBankVolumeMetadata(tasks.SaveMetadata):
    def execute(self, bank, volume_info, volume_copy, snapshot_id):
        saved = dict(volume_info)
        saved.pop("status")
        saved.update(data_location=BANK, image_copy=volume_copy,
                     from_snapshot=snapshot_id is not None)
        bank.save_metadata(saved)


# -- restore ------------------------------------------------------------------
class CreateVolumeFromImage(backup.CreateVolumeFromBackup):
    """The new volume, from the temporary image holding the bank's data."""

    def execute(self, ctx, conn, resource, metadata, parameters,
                volume_image_id):
        attrs = self.volume_attrs(ctx, metadata, parameters)
        attrs["image_id"] = volume_image_id
        volume = conn.block_storage.create_volume(**attrs)
        return self.created(ctx, volume.id)


class RestoreCopiedVolumeAttributes(backup.RestoreVolumeAttributes):
    """As for a backup, after dropping what the temporary image gave the
    volume: its image metadata (ids and hashes of an image that is gone)
    and the bootable flag when the original was not bootable."""

    def execute(self, conn, new_volume_id, metadata):
        volume = conn.block_storage.get_volume(new_volume_id)
        saved = metadata.get("image_metadata", {})
        stale = [k for k in (volume.volume_image_metadata or {})
                 if k not in saved or k in COPIED_IMAGE_METADATA]
        if stale:
            conn.block_storage.delete_volume_image_metadata(new_volume_id,
                                                            keys=stale)
        if not metadata.get("bootable"):
            conn.block_storage.set_volume_bootable_status(new_volume_id,
                                                          False)
        super().execute(conn, new_volume_id, metadata)
