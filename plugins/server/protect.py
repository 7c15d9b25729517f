"""The server plugin's protect tasks, and delete and verify of what they
saved (the root disk's bank objects)."""

from openstack import exceptions as sdk_exceptions
from taskflow import task

from plugins.server import common
from plugins.server import description
from protection import exceptions
from protection.plugin import image_data
from protection.plugin import tasks


# -- protect ------------------------------------------------------------------
class DescribeServer(task.Task):
    """Read the server, its flavor, ports and attachments; refuse unstable
    states."""

    default_provides = "server_info"

    def execute(self, conn, resource):
        info = description.describe_server(conn, resource.id)
        status = info["server"]["status"]
        if status not in common.PROTECTABLE_STATUSES:
            raise exceptions.StackvaultError(
                f"server {resource.id} is {status!r}; only servers that are "
                f"{', '.join(common.PROTECTABLE_STATUSES)} can be protected")
        return info


def wait_nova_idle(ctx, conn, server_id):
    """Bounded wait until Nova has finished with the server (no task
    state; a server gone is done too). Until then it refuses the assisted
    snapshots of the server's volumes, which a volume's protect creates
    and deletes before and after the server's (contract.BEFORE_PARENT /
    AFTER_PARENT), also when a rollback deletes them."""
    def fetch():
        try:
            server = conn.compute.get_server(server_id)
        except sdk_exceptions.NotFoundException:
            return common.probe("idle")
        return common.probe(server.task_state or "idle")

    ctx.wait_for_status(fetch, "idle", what=f"{common.label(server_id)} "
                        "(Nova's task state)", failures=())


class CreateRootDiskSnapshot(tasks.CreatingTask):
    """Nova createImage of an image-booted server (``snapshot_root_disk``,
    true by default: what the guest wrote to its root disk is data).

    Returns the temporary Glance image's id, or None when opted out
    (``snapshot_root_disk=false``) or when the root disk is a volume (the
    volume plugin protects that).
    """

    default_provides = "root_snapshot_id"
    kind = "temporary root-disk snapshot"

    def fetch(self, conn, new_id):
        return conn.image.get_image(new_id)

    def delete(self, conn, new_id):
        conn.image.delete_image(new_id, ignore_missing=True)

    def execute(self, ctx, conn, resource, parameters, server_info):
        if not parameters.get("snapshot_root_disk", True):
            return None
        if server_info["boot"]["source"] != "image":
            ctx.progress.step("root-disk", "the server boots from a volume: "
                              "its root disk is that volume's backup")
            return None
        status = server_info["server"]["status"]
        if status not in common.SNAPSHOT_STATUSES:
            raise exceptions.StackvaultError(
                f"server {resource.id} is {status!r}: Nova snapshots only "
                f"{', '.join(common.SNAPSHOT_STATUSES)} servers")
        # marked (image properties), so that a re-run finds it
        image = conn.compute.create_server_image(
            resource.id, name=f"stackvault-tmp-{ctx.checkpoint_id}",
            metadata=self.marks(ctx), wait=False)
        return self.created(ctx, image.id)

    def find_marked(self, ctx, conn, marks):
        return image_data.marked_image(conn, marks)

    def undo(self, ctx, conn, new_id):
        """Delete the image (Nova abandons a snapshot whose image is
        gone), then wait for Nova to be done with the server: the volumes'
        temporary snapshots are deleted after this revert."""
        super().undo(ctx, conn, new_id)
        wait_nova_idle(ctx, conn, ctx.resource.id)


class WaitRootDiskSnapshot(task.Task):
    """Bounded wait for the snapshot to be ``active``.

    Fails at once when Glance kills or Nova deletes the snapshot, or when
    Nova has finished (the server's task state is back to none) and the
    image still has no data: the compute driver uploaded nothing. Once the
    image is active, also waits for Nova to be done with the server
    (``wait_nova_idle``), so that the volumes' temporary snapshots can be
    deleted after the server's protect.
    """

    def execute(self, ctx, conn, resource, root_snapshot_id, server_info):
        if root_snapshot_id is None:
            return
        what = f"root-disk snapshot {root_snapshot_id} of {resource.id}"

        def fetch():
            try:
                image = conn.image.get_image(root_snapshot_id)
            except sdk_exceptions.NotFoundException:
                return common.probe(
                    "deleted", "Nova deleted it: the snapshot failed "
                    f"({common.server_fault(conn, resource.id)})")
            if image.status != "queued":
                return image
            if conn.compute.get_server(resource.id).task_state:
                return image
            image = conn.image.get_image(root_snapshot_id)
            if image.status == "queued":
                return common.probe(
                    "failed", "Nova finished the snapshot but Glance "
                    "received no data (the compute driver uploaded nothing)")
            return image

        ctx.progress.step("root-disk", f"waiting for {what}")
        ctx.wait_for_status(fetch, "active", what=what,
                            failures=("failed",) + image_data.IMAGE_FAILURES,
                            size_gib=server_info["flavor"]["disk"])
        wait_nova_idle(ctx, conn, resource.id)


class SaveRootDiskData(task.Task):
    """Stream the snapshot into the bank as the image plugin stores an
    image (protection.plugin.image_data)."""

    default_provides = "root_disk"

    def __init__(self, object_size, **kwargs):
        super().__init__(**kwargs)
        self.object_size = object_size

    def execute(self, ctx, conn, bank, root_snapshot_id):
        if root_snapshot_id is None:
            return None
        info = image_data.describe_image(conn, root_snapshot_id)
        data = image_data.save_image_data(ctx, conn, bank, info,
                                          self.object_size)
        return {"format": common.ROOT_DISK_FORMAT,
                "image": image_data.saved_image(info),
                "data": data, "snapshot_id": root_snapshot_id}

    def revert(self, bank, **kwargs):
        # Whatever this task wrote, even when it failed half way.
        image_data.delete_image_data(bank)


class DeleteRootDiskSnapshot(task.Task):
    """The data is in the bank: the temporary snapshot has served.

    Nothing to revert: a deleted temporary snapshot is what every outcome
    wants.
    """

    def execute(self, ctx, conn, root_snapshot_id):
        if root_snapshot_id is not None and tasks.prove_ours(
                ctx, conn.image.get_image, "temporary root-disk snapshot",
                root_snapshot_id):
            conn.image.delete_image(root_snapshot_id, ignore_missing=True)


class SaveServerMetadata(tasks.SaveMetadata):
    def execute(self, bank, server_info, root_disk):
        bank.save_metadata({"format": common.METADATA_FORMAT, **server_info,
                            "root_disk": root_disk})


# -- delete and verify --------------------------------------------------------
class DeleteRootDiskData(task.Task):
    """Delete the root-disk objects (checkpoint delete removes the rest)."""

    def execute(self, ctx, bank):
        count = image_data.delete_image_data(bank)
        ctx.progress.step("delete", f"{count} data objects deleted")


class CheckServerMetadata(task.Task):
    """What the schema cannot say: a volume-booted server's boot volume
    is one of its saved attachments. (The shape is the framework's check,
    against the plugin's ``metadata_schema``.)"""

    def execute(self, resource, metadata):
        boot = metadata.get("boot") or {}
        if boot.get("source") == "volume" and not any(
                a["volume_id"] == boot.get("volume_id") and a["boot"]
                for a in metadata.get("attachments") or []):
            raise exceptions.StackvaultError(
                f"server {resource.id}: the boot volume "
                f"{boot.get('volume_id')} is not among its attachments")


class VerifyRootDisk(task.Task):
    """Recompute every root-disk object's sha256."""

    def execute(self, ctx, bank, metadata):
        image_data.verify_image_data(ctx, bank,
                                     common.root_disk(metadata)["data"],
                                     common.root_snapshot_id(metadata))
