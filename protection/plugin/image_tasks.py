"""TaskFlow tasks moving a *temporary* Glance image's data to and from the
bank, for plugins whose resource's data goes through an image (a volume
saved with ``data_location=bank``: Cinder uploads it to an image, and a new
volume is created from an image).

The data format, hashes and checks are :mod:`protection.plugin.image_data`'s;
these tasks only say when they run and under which names their values
flow. A plugin names the value holding the image id (``image_key``) and
the key of its ``metadata.json`` that holds the saved record
(``record_key``: ``{"image": <saved image>, "data": <data record>}``).

Protect: :class:`SaveImageToBank` streams the image into the resource's
bank section (revert: the objects are deleted), then
:class:`DeleteTemporaryImage` deletes the image.

Restore: :class:`CreateImageFromBank` creates a private image (a
``CreatingTask``: journaled, found again on a re-run by its name, deleted
on revert), :class:`UploadBankData` streams the objects into it (each
checked against its sha256), :class:`WaitBankImage` waits for ``active``
and compares Glance's hash; once the plugin has what it needed from the
image, :class:`DeleteTemporaryImage` deletes it.

Delete and verify: :class:`DeleteBankData`, :class:`VerifyBankData`.
"""

from taskflow import task

from protection.plugin import image_data
from protection.plugin import tasks


def _record(metadata, record_key):
    return metadata[record_key]


class SaveImageToBank(task.Task):
    """Stream the image into the bank; provide the record a plugin saves
    under its ``record_key`` (``None`` when there is no image)."""

    def __init__(self, object_size, image_key, provides, **kwargs):
        super().__init__(provides=provides, rebind={"image_id": image_key},
                         **kwargs)
        self.object_size = object_size

    def execute(self, ctx, conn, bank, image_id):
        if image_id is None:
            return None
        info = image_data.describe_image(conn, image_id)
        data = image_data.save_image_data(ctx, conn, bank, info,
                                          self.object_size)
        return {"image": image_data.saved_image(info), "data": data}

    def revert(self, bank, **kwargs):
        # Whatever this task wrote, even when it failed half way.
        image_data.delete_image_data(bank)


class DeleteTemporaryImage(task.Task):
    """The temporary image has served. Nothing to revert: a deleted
    temporary image is what every outcome wants (a revert of the task
    that created it finds it gone)."""

    def __init__(self, image_key, **kwargs):
        super().__init__(rebind={"image_id": image_key}, **kwargs)

    def execute(self, ctx, conn, image_id):
        if image_id is not None and tasks.prove_ours(
                ctx, conn.image.get_image, "temporary image", image_id):
            conn.image.delete_image(image_id, ignore_missing=True)


class CreatingTemporaryImage(tasks.CreatingTask):
    """Base of a task creating a temporary image, named
    ``stackvault-tmp-<checkpoint id>-<mark>`` (:meth:`temporary_name`) so
    that a re-run finds it and an operator sees what it belongs to."""

    kind = "temporary image"

    def temporary_name(self, ctx):
        return f"stackvault-tmp-{ctx.checkpoint_id}-{self.mark_tag(ctx)}"

    def keeps_mark(self, ctx):
        """The name carries the mark for the image's whole (short) life,
        in a restore too."""
        return True

    def unmark(self, ctx, conn):
        """Nothing to take off: the flow deletes the image."""

    def fetch(self, conn, new_id):
        return conn.image.get_image(new_id)

    def find_marked(self, ctx, conn, marks):
        for image in conn.image.images(name=self.temporary_name(ctx)):
            return image.id
        return None

    def delete(self, conn, new_id):
        conn.image.delete_image(new_id, ignore_missing=True)


class CreateImageFromBank(CreatingTemporaryImage):
    """A new private image (queued, no data yet) from the saved record."""

    def __init__(self, record_key, provides, **kwargs):
        super().__init__(provides=provides, **kwargs)
        self.record_key = record_key

    def execute(self, ctx, conn, metadata):
        saved = _record(metadata, self.record_key)
        return self.created(ctx, image_data.create_image(
            conn, saved["image"], name=self.temporary_name(ctx),
            visibility="private"))


class UploadBankData(task.Task):
    """Stream the bank objects into the new image, each checked against
    its saved sha256. Undone with the image (CreateImageFromBank)."""

    def __init__(self, record_key, image_key, **kwargs):
        super().__init__(rebind={"image_id": image_key}, **kwargs)
        self.record_key = record_key

    def execute(self, ctx, conn, bank, resource, metadata, image_id):
        image_data.upload_image_data(
            ctx, conn, bank, _record(metadata, self.record_key)["data"],
            image_id, resource.id)


class WaitBankImage(task.Task):
    """Bounded wait for ``active``; then Glance's hash of what it stored
    must be the saved one."""

    def __init__(self, record_key, image_key, **kwargs):
        super().__init__(rebind={"image_id": image_key}, **kwargs)
        self.record_key = record_key

    def execute(self, ctx, conn, resource, metadata, image_id):
        data = _record(metadata, self.record_key)["data"]
        image_data.wait_image_active(ctx, conn, image_id, data)
        image_data.check_restored_image(conn, data, image_id, resource.id)


class DeleteBankData(task.Task):
    """Delete the data objects (checkpoint delete removes the rest)."""

    def execute(self, ctx, bank):
        count = image_data.delete_image_data(bank)
        ctx.progress.step("delete", f"{count} data objects deleted")


class VerifyBankData(task.Task):
    """Recompute every object's sha256."""

    def __init__(self, record_key, **kwargs):
        super().__init__(**kwargs)
        self.record_key = record_key

    def execute(self, ctx, bank, resource, metadata):
        image_data.verify_image_data(
            ctx, bank, _record(metadata, self.record_key)["data"],
            resource.id)
