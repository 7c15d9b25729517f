"""The volume plugin class: discovery, the restore check and the flows of
both data locations (``backup.py``: a Cinder backup; ``bank.py``: the
data in the bank)."""

from taskflow.patterns import linear_flow

from plugins.volume import backup
from plugins.volume import bank
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import after_parent
from protection.plugin import before_parent
from protection.plugin import fetch_or_not_found
from protection.plugin import image_data
from protection.plugin import image_tasks

_COMMON_METADATA = ["size", "name", "description", "metadata",
                    "volume_type", "availability_zone", "bootable",
                    "image_metadata"]


class VolumePlugin(ProtectionPlugin):
    resource_type = backup.RESOURCE_TYPE
    # A volume restored from the bank goes through a temporary image.
    quota_demands = {"volume.volumes": "volumes",
                     "volume.gigabytes": "volume gigabytes",
                     **image_data.QUOTA_NAMES}

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data_location": {
                "enum": ["cinder", bank.BANK],
                "description": "cinder (default): a Cinder backup, "
                               "restorable in this project only; bank: "
                               "the data itself in the bank (through a "
                               "temporary image), restorable anywhere"},
            "disk_format": {"enum": ["qcow2", "raw"],
                            "description": "data_location=bank: the "
                                           "format of the temporary image "
                                           "(qcow2: only written blocks)"},
            "backup_mode": {"enum": ["full", "incremental"],
                            "description": "incremental falls back to full "
                                           "when no earlier backup exists"},
            "backup_name": {"type": "string", "maxLength": 255},
            "container": {"type": "string", "maxLength": 255},
            "method": {"enum": ["snapshot", "direct"],
                       "description": "snapshot (default): back up a "
                                      "temporary snapshot; direct: back "
                                      "the volume up itself"},
        },
    }
    metadata_schema = {
        "type": "object",
        "required": _COMMON_METADATA,
        "properties": {
            "data_location": {"enum": ["cinder", bank.BANK]},
            "backup_id": {"type": "string", "minLength": 1},
            bank.RECORD_KEY: {
                "type": "object", "required": ["image", "data"],
                "properties": {"image": image_data.IMAGE_SCHEMA,
                               "data": image_data.DATA_SCHEMA}},
            "size": {"type": "integer", "minimum": 1},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "metadata": {"type": "object"},
            "volume_type": {"type": ["string", "null"]},
            "availability_zone": {"type": ["string", "null"]},
            "bootable": {"type": "boolean"},
            "image_metadata": {"type": "object"},
            "incremental": {"type": "boolean"},
        },
        # A checkpoint from before data_location holds a backup.
        "if": {"required": ["data_location"],
               "properties": {"data_location": {"const": bank.BANK}}},
        "then": {"required": [bank.RECORD_KEY]},
        "else": {"required": ["backup_id"]},
    }
    _name_map = {"type": "object",
                 "additionalProperties": {"type": "string"}}
    restore_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "restore_name": {"type": "string", "maxLength": 255},
            "volume_type": {"type": "string"},
            "availability_zone": {"type": "string"},
            "volume_type_mapping": _name_map,
            "availability_zone_mapping": _name_map,
        },
    }

    def _object_size(self):
        """``[image_data] object_size_mib`` (framework option)."""
        return image_data.object_size(self.conf)

    @staticmethod
    def _resource(volume):
        return Resource(backup.RESOURCE_TYPE, volume.id, volume.name or "",
                        {"size": volume.size})

    def list_resources(self, conn):
        return [self._resource(v) for v in conn.block_storage.volumes()]

    def show_resource(self, conn, resource_id):
        return self._resource(fetch_or_not_found(
            conn.block_storage.get_volume, resource_id, "volume"))

    def protect_flow(self, ctx, resource):
        if ctx.parameters.get("data_location") == bank.BANK:
            return self._protect_to_bank()
        snapshot = (backup.CreateTemporarySnapshot(),
                    backup.WaitSnapshotAvailable())
        release = backup.DeleteTemporarySnapshot()
        if backup.uses_snapshot(ctx.parameters):
            # Under a server (protect_after_children), only the creation
            # and deletion of the snapshot conflict with its root-disk
            # snapshot (Nova's assisted snapshots), not the backup Cinder
            # takes from it. method=direct: Cinder's own snapshot spans the
            # whole forced backup, so the whole flow comes first.
            before_parent(*snapshot)
            after_parent(release)
        return linear_flow.Flow("protect-volume").add(
            backup.DescribeVolume(),
            backup.ChooseBackupMode(),
            *snapshot,
            backup.CreateBackup(),
            backup.WaitBackupAvailable(),
            release,
            backup.SaveVolumeMetadata(),
        )

    def _protect_to_bank(self):
        snapshot = (bank.CreateCopySnapshot(), backup.WaitSnapshotAvailable())
        release = backup.DeleteTemporarySnapshot()
        # As for a backup: the copy volume, its upload and its deletion
        # never involve Nova (the copy is attached to no server).
        before_parent(*snapshot)
        after_parent(release)
        return linear_flow.Flow("protect-volume-to-bank").add(
            backup.DescribeVolume(),
            *snapshot,
            bank.CreateCopyVolume(),
            bank.UploadToImage(),
            bank.WaitUploaded(),
            image_tasks.SaveImageToBank(self._object_size(),
                                        "upload_image_id", "volume_copy"),
            image_tasks.DeleteTemporaryImage("upload_image_id"),
            bank.DeleteCopyVolume(),
            release,
            bank.SaveBankVolumeMetadata(),
        )

    def restore_flow(self, ctx, resource):
        if bank.is_bank(ctx.metadata):
            return self._restore_from_bank()
        return linear_flow.Flow("restore-volume").add(
            backup.CreateVolumeFromBackup(),
            backup.WaitVolumeAvailable(),
            backup.RestoreVolumeAttributes(),
        )

    @staticmethod
    def _restore_from_bank():
        image = "volume_image_id"
        return linear_flow.Flow("restore-volume-from-bank").add(
            image_tasks.CreateImageFromBank(bank.RECORD_KEY, image),
            image_tasks.UploadBankData(bank.RECORD_KEY, image),
            image_tasks.WaitBankImage(bank.RECORD_KEY, image),
            bank.CreateVolumeFromImage(),
            backup.WaitVolumeAvailable(),
            image_tasks.DeleteTemporaryImage(image),
            bank.RestoreCopiedVolumeAttributes(),
        )

    def restore_preflight(self, ctx, resource):
        items = backup.restore_preflight(
            ctx.conn, resource, ctx.metadata, ctx.parameters,
            from_backup=not bank.is_bank(ctx.metadata))
        if bank.is_bank(ctx.metadata):     # through a temporary image
            items += image_data.quota_demands(
                ctx.metadata[bank.RECORD_KEY]["data"])
        return items

    def delete_flow(self, ctx, resource):
        if bank.is_bank(ctx.metadata):
            return image_tasks.DeleteBankData()
        return backup.DeleteBackup()

    def check_delete(self, conn, resource, metadata):
        if not bank.is_bank(metadata):
            backup.deletable_backup(conn, metadata)

    def verify_flow(self, ctx, resource):
        if bank.is_bank(ctx.metadata):
            return image_tasks.VerifyBankData(bank.RECORD_KEY)
        return backup.CheckBackup()
