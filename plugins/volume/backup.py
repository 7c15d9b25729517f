"""Cinder volumes (``OS::Cinder::Volume``): saved as Cinder backups.

What protect saves
    A Cinder backup of the volume, and in the bank the backup's id and what
    a new volume needs: size, volume type, availability zone, bootable flag,
    name, description, metadata and image metadata. By default the backup is
    taken from a temporary snapshot (``method=snapshot``): crash-consistent
    for an in-use volume, and self-contained on drivers whose backups of a
    volume with snapshots depend on those snapshots. ``method=direct`` backs
    the volume up itself (``force`` when it is in use).

What restore creates
    One new volume from the backup (Cinder API 3.47 ``backup_id``, so the
    type and availability zone can be chosen), with the saved metadata,
    bootable flag and image metadata.

How each creation is undone
    Protect: the backup and the temporary snapshot are deleted on revert.
    Restore: the new volume is deleted on revert (its bootable flag and
    metadata go with it). A backup or volume still being created is waited
    for (bounded) until Cinder allows the delete.
"""

from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils
from taskflow import task

from protection import exceptions
from protection.plugin import checks
from protection.plugin import tasks
from protection.plugin import wait

RESOURCE_TYPE = "OS::Cinder::Volume"
PROTECTABLE_STATUSES = ("available", "in-use")
VOLUME_FAILURES = ("error", "error_restoring", "error_extending")
# Image metadata Cinder computes itself or refuses to set.
READ_ONLY_IMAGE_METADATA = frozenset((
    "checksum", "container_format", "disk_format", "image_id",
    "image_name", "min_disk", "min_ram", "size", "signature_verified"))
BACKUP_FROM_BACKUP_ID = "3.47"


SETTLED = ("available", "error")


def volume_label(volume_id):
    return f"volume {volume_id}"


def _marked(found, volume_id, tag):
    """The id of the snapshot or backup of ``volume_id`` whose description
    carries ``tag`` (what an earlier run of the same atom created)."""
    for obj in found:
        if obj.volume_id == volume_id and tag in (obj.description or ""):
            return obj.id
    return None


# -- protect -----------------------------------------------------------------
class DescribeVolume(task.Task):
    """Read what a new volume will need; refuse unprotectable states."""

    default_provides = "volume_info"

    def execute(self, conn, resource):
        volume = conn.block_storage.get_volume(resource.id)
        if volume.status not in PROTECTABLE_STATUSES:
            raise exceptions.StackvaultError(
                f"volume {resource.id} is {volume.status!r}; only "
                f"{' or '.join(PROTECTABLE_STATUSES)} volumes can be "
                "protected")
        return {
            "id": volume.id,
            "name": volume.name or "",
            "description": volume.description or "",
            "size": volume.size,
            "volume_type": volume.volume_type,
            "availability_zone": volume.availability_zone,
            "bootable": str(volume.is_bootable).lower() == "true",
            "metadata": dict(volume.metadata or {}),
            "image_metadata": dict(volume.volume_image_metadata or {}),
            "status": volume.status,
        }


class ChooseBackupMode(task.Task):
    """Incremental only when an earlier backup of the volume exists."""

    default_provides = "incremental"

    def execute(self, ctx, conn, resource, parameters):
        if parameters.get("backup_mode", "full") != "incremental":
            return False
        # Filtered here, not with ?volume_id=: a Cinder without that filter
        # in its resource_filters.json rejects the query.
        earlier = [b for b in conn.block_storage.backups()
                   if b.volume_id == resource.id and b.status == "available"]
        if not earlier:
            ctx.progress.step("backup-mode", "no earlier backup of this "
                              "volume: taking a full backup")
        return bool(earlier)


def uses_snapshot(parameters):
    """``method=snapshot`` (the default): the backup is taken from a
    temporary snapshot; otherwise Cinder backs the volume up itself."""
    return parameters.get("method", "snapshot") == "snapshot"


class CreateTemporarySnapshot(tasks.CreatingTask):
    """A snapshot to back up from (``method=snapshot``)."""

    default_provides = "snapshot_id"
    kind = "temporary snapshot"
    settled = SETTLED

    def execute(self, ctx, conn, resource, parameters):
        if not uses_snapshot(parameters):
            return None
        return self.snapshot(ctx, conn, resource, "the backup exists")

    def snapshot(self, ctx, conn, resource, until):
        """Take the (forced) snapshot, deleted once ``until``; record it."""
        snapshot = conn.block_storage.create_snapshot(
            volume_id=resource.id, is_forced=True,
            name=f"stackvault-tmp-{ctx.checkpoint_id}",
            description="temporary snapshot of a stackvault protect; "
                        f"deleted once {until} {self.mark_tag(ctx)}")
        return self.created(ctx, snapshot.id)

    def fetch(self, conn, new_id):
        return conn.block_storage.get_snapshot(new_id)

    def find_marked(self, ctx, conn, marks):
        return _marked(conn.block_storage.snapshots(volume_id=ctx.resource.id),
                       ctx.resource.id, self.mark_tag(ctx))

    def delete(self, conn, new_id):
        conn.block_storage.delete_snapshot(new_id)


class WaitSnapshotAvailable(task.Task):
    def execute(self, ctx, conn, snapshot_id):
        if snapshot_id is None:
            return
        ctx.progress.step("snapshot", f"waiting for snapshot {snapshot_id}")
        ctx.wait_for_status(
            lambda: conn.block_storage.get_snapshot(snapshot_id),
            "available", what=f"temporary snapshot {snapshot_id}")


class CreateBackup(tasks.CreatingTask):
    default_provides = "backup_id"
    kind = "backup"
    settled = SETTLED

    def execute(self, ctx, conn, resource, parameters, volume_info,
                snapshot_id, incremental):
        attrs = {
            "volume_id": resource.id,
            "name": parameters.get("backup_name")
            or f"stackvault-{ctx.checkpoint_id}",
            "description": f"stackvault checkpoint {ctx.checkpoint_id} "
                           f"{self.mark_tag(ctx)}",
            "is_incremental": incremental,
        }
        if parameters.get("container"):
            attrs["container"] = parameters["container"]
        if snapshot_id:
            attrs["snapshot_id"] = snapshot_id
        elif volume_info["status"] == "in-use":
            attrs["force"] = True
        backup = conn.block_storage.create_backup(**attrs)
        return self.created(ctx, backup.id)

    def fetch(self, conn, new_id):
        return conn.block_storage.get_backup(new_id)

    def find_marked(self, ctx, conn, marks):
        return _marked(conn.block_storage.backups(), ctx.resource.id,
                       self.mark_tag(ctx))

    def delete(self, conn, new_id):
        conn.block_storage.delete_backup(new_id)


class WaitBackupAvailable(task.Task):
    def execute(self, ctx, conn, resource, backup_id, volume_info):
        ctx.progress.step("backup", f"waiting for backup {backup_id}")
        ctx.wait_for_status(
            lambda: conn.block_storage.get_backup(backup_id), "available",
            what=f"backup {backup_id} of volume {resource.id}",
            size_gib=volume_info["size"])


class DeleteTemporarySnapshot(task.Task):
    """The backup exists: the temporary snapshot has served its purpose.

    Nothing to revert: a deleted temporary snapshot is what every outcome
    wants.
    """

    def execute(self, ctx, conn, snapshot_id):
        if snapshot_id is None or not tasks.prove_ours(
                ctx, conn.block_storage.get_snapshot, "temporary snapshot",
                snapshot_id):
            return
        conn.block_storage.delete_snapshot(snapshot_id, ignore_missing=True)
        ctx.wait_for_delete(
            lambda: conn.block_storage.get_snapshot(snapshot_id),
            what=f"temporary snapshot {snapshot_id}")


class SaveVolumeMetadata(tasks.SaveMetadata):
    def execute(self, bank, volume_info, backup_id, incremental,
                snapshot_id):
        saved = dict(volume_info)
        saved.pop("status")
        saved.update(backup_id=backup_id, incremental=incremental,
                     from_snapshot=snapshot_id is not None)
        bank.save_metadata(saved)


# -- restore -----------------------------------------------------------------
def _mapped(parameters, key, original):
    """An explicit value wins, then the mapping, then the original."""
    if parameters.get(key):
        return parameters[key]
    return parameters.get(f"{key}_mapping", {}).get(original, original)


class CreatingVolume(tasks.CreatingTask):
    """Base of a task creating one volume, marked in its metadata."""

    kind = "volume"
    settled = SETTLED

    def fetch(self, conn, new_id):
        return conn.block_storage.get_volume(new_id)

    def find_marked(self, ctx, conn, marks):
        return tasks.marked_by_metadata(
            conn.block_storage.volumes(details=True), marks)

    def delete(self, conn, new_id):
        conn.block_storage.delete_volume(new_id)


class CreateVolumeFromBackup(CreatingVolume):
    default_provides = "new_volume_id"
    kind = "volume"
    settled = SETTLED + ("error_restoring",)
    records = True

    def volume_attrs(self, ctx, metadata, parameters):
        """What every new volume gets: name, description, type, zone, and
        the saved metadata with this atom's marks (until the restore's
        last stage, so that a re-run finds this volume instead of
        restoring a second one, and an undo can prove it)."""
        attrs = {
            "size": metadata["size"],
            "name": parameters.get("restore_name") or metadata["name"],
            "description": metadata["description"],
            "metadata": dict(metadata["metadata"], **self.marks(ctx)),
        }
        volume_type = _mapped(parameters, "volume_type",
                              metadata["volume_type"])
        zone = _mapped(parameters, "availability_zone",
                       metadata["availability_zone"])
        if volume_type:
            attrs["volume_type"] = volume_type
        if zone:
            attrs["availability_zone"] = zone
        return attrs

    def finish(self, ctx, conn, new_id):
        tasks.drop_marks(
            lambda key: conn.block_storage.delete_volume_metadata(
                new_id, keys=[key]),
            lambda: conn.block_storage.get_volume(new_id))

    def execute(self, ctx, conn, resource, metadata, parameters):
        if not sdk_utils.supports_microversion(conn.block_storage,
                                               BACKUP_FROM_BACKUP_ID):
            raise exceptions.StackvaultError(
                "this cloud's Cinder cannot create a volume from a backup "
                f"(needs block-storage API {BACKUP_FROM_BACKUP_ID})")
        attrs = self.volume_attrs(ctx, metadata, parameters)
        attrs["backup_id"] = metadata["backup_id"]
        volume = conn.block_storage.create_volume(**attrs)
        return self.created(ctx, volume.id)


class WaitVolumeAvailable(task.Task):
    def execute(self, ctx, conn, new_volume_id, metadata):
        ctx.progress.step("restore", f"restoring into {new_volume_id}")
        ctx.wait_for_status(
            lambda: conn.block_storage.get_volume(new_volume_id),
            "available", what=volume_label(new_volume_id),
            failures=VOLUME_FAILURES, size_gib=metadata["size"])


class RestoreVolumeAttributes(task.Task):
    """Bootable flag and image metadata of the new volume (the marks of
    CreateVolumeFromBackup stay on its metadata until the restore's last
    stage).

    Undone by the revert of CreateVolumeFromBackup, which deletes the volume.
    """

    def execute(self, conn, new_volume_id, metadata):
        if metadata.get("bootable"):
            conn.block_storage.set_volume_bootable_status(new_volume_id,
                                                          True)
        image_metadata = {k: str(v) for k, v in
                          metadata.get("image_metadata", {}).items()
                          if k not in READ_ONLY_IMAGE_METADATA}
        if image_metadata:
            conn.block_storage.set_volume_image_metadata(new_volume_id,
                                                         **image_metadata)


# -- delete and verify -------------------------------------------------------
def deletable_backup(conn, metadata):
    """The checkpoint's backup, ``None`` when there is none (protect failed
    before one existed, or it is already gone); raises when incremental
    backups depend on it (Cinder would refuse the delete)."""
    backup_id = metadata.get("backup_id")
    if not backup_id:
        return None
    try:
        backup = conn.block_storage.get_backup(backup_id)
    except sdk_exceptions.NotFoundException:
        return None
    if backup.has_dependent_backups:
        raise exceptions.StackvaultError(
            f"backup {backup_id} has incremental backups that depend "
            "on it: delete the newer checkpoints of this volume first")
    return backup


class DeleteBackup(task.Task):
    """Delete the checkpoint's backup; a backup already gone is fine. The
    id comes from the bank: a backup that does not carry this
    checkpoint's mark (its description, set by CreateBackup) is left and
    reported, not deleted."""

    def execute(self, ctx, conn, metadata):
        if deletable_backup(conn, metadata) is None:
            return
        backup_id = metadata["backup_id"]
        try:
            if tasks.checkpoints_object(ctx, conn.block_storage.get_backup,
                                        "backup", backup_id) is None:
                return
        except tasks.NotOurs as exc:
            tasks.leave(ctx, self.name, exc)
            return
        wait.delete_when_settled(
            lambda: conn.block_storage.get_backup(backup_id),
            lambda: conn.block_storage.delete_backup(backup_id),
            what=f"backup {backup_id}", timeouts=ctx.timeouts,
            settled=SETTLED)


def check_restorable_backup(conn, resource, metadata):
    """Raise (before a restore creates anything) when this project cannot
    restore from the checkpoint's backup: Cinder shows a backup only to
    the project that owns it, so a restore into another project or cloud
    finds none."""
    backup_id = metadata.get("backup_id")
    try:
        backup = conn.block_storage.get_backup(backup_id)
    except sdk_exceptions.NotFoundException:
        raise exceptions.StackvaultError(
            f"volume {resource.id} was protected as a Cinder backup "
            f"(data_location=cinder) and backup {backup_id} is not visible "
            "here: a Cinder backup restores only in the project that owns "
            "it (or it was deleted). To restore into another project or "
            "cloud, protect the volume with "
            f"{RESOURCE_TYPE}:data_location=bank") from None
    if backup.status == "restoring":
        raise exceptions.StackvaultError(
            f"backup {backup_id} of volume {resource.id} is being restored "
            "by another restore (of this checkpoint, or Cinder's own): "
            "Cinder restores a backup once at a time and cancels a second "
            "restore running alongside; restore again once it is "
            "'available'")
    if backup.status != "available":
        raise exceptions.StackvaultError(
            f"backup {backup_id} of volume {resource.id} is "
            f"{backup.status!r}, not 'available'")


class CheckBackup(task.Task):
    def execute(self, conn, resource, metadata):
        backup_id = metadata.get("backup_id")
        if not backup_id:
            raise exceptions.StackvaultError(
                f"no backup recorded for volume {resource.id}")
        try:
            backup = conn.block_storage.get_backup(backup_id)
        except sdk_exceptions.NotFoundException:
            raise exceptions.StackvaultError(
                f"backup {backup_id} of volume {resource.id} no longer "
                "exists") from None
        if backup.status != "available":
            raise exceptions.StackvaultError(
                f"backup {backup_id} of volume {resource.id} is "
                f"{backup.status!r}, not 'available'")


# -- pre-flight (only reads) -------------------------------------------------
def _check_volume_type(conn, name):
    if conn.block_storage.find_type(name) is None:
        raise exceptions.StackvaultError(
            f"volume type {name!r} does not exist here: map it with "
            "volume_type_mapping or set volume_type")
    return name


def _check_zone(conn, zone):
    zones = sorted(z.name for z in conn.block_storage.availability_zones())
    if zones and zone not in zones:
        raise exceptions.StackvaultError(
            f"availability zone {zone!r} has no Cinder here (zones: "
            f"{', '.join(zones)}): map it with availability_zone_mapping")
    return zone


def restore_preflight(conn, resource, metadata, parameters,
                      from_backup=True):
    """Backup available (``from_backup``), volume type and zone known
    here; the name, type and zone the new volume gets; the quota it
    uses."""
    items = [checks.Demand("volume.volumes", 1),
             checks.Demand("volume.gigabytes", metadata["size"])]
    if from_backup:
        checks.attempt(items, "backup available",
                          lambda: check_restorable_backup(conn, resource,
                                                          metadata),
                          lambda _: f"backup {metadata['backup_id']}")
    items.append(checks.Mapping(
        "name", metadata["name"],
        parameters.get("restore_name") or metadata["name"]))
    for key, what, check in (
            ("volume_type", "volume type", _check_volume_type),
            ("availability_zone", "availability zone", _check_zone)):
        target = _mapped(parameters, key, metadata[key])
        items.append(checks.Mapping(what, metadata[key],
                                       target or "(Cinder's default)"))
        if target:
            checks.attempt(items, f"{what} exists",
                              lambda c=check, t=target: c(conn, t),
                              lambda found, w=what: f"{w} {found!r} is here")
    return items
