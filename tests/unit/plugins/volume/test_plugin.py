"""Unit tests of the Cinder volume plugin's tasks (mocked openstacksdk)."""

import threading
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from flows import contract
from plugins import volume
from protection.plugin.context import Journal
from protection import exceptions
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import (
    gone_once_deleted,
    make_ctx,
    obj,
    statuses,
)

VOL = Resource(volume.RESOURCE_TYPE, "vol-1", "data")
NOT_FOUND = sdk_exceptions.NotFoundException("not found")


def _volume(**overrides):
    attrs = dict(id="vol-1", name="data", description="d", size=2,
                 volume_type="nfs", availability_zone="nova",
                 is_bootable="false", metadata={"k": "v"},
                 volume_image_metadata={}, status="available")
    attrs.update(overrides)
    return obj(**attrs)


@pytest.fixture
def conn():
    return mock.Mock()


class TestDescribeVolume:
    def test_reads_what_restore_needs(self, conn):
        conn.block_storage.get_volume.return_value = _volume(
            is_bootable="true", volume_image_metadata={"hw_x": "1"})
        info = volume.DescribeVolume().execute(conn, VOL)
        assert info["size"] == 2 and info["bootable"] is True
        assert info["metadata"] == {"k": "v"}
        assert info["image_metadata"] == {"hw_x": "1"}

    @pytest.mark.parametrize("status", ["error", "creating", "deleting"])
    def test_refuses_volumes_in_other_states(self, conn, status):
        conn.block_storage.get_volume.return_value = _volume(status=status)
        with pytest.raises(exceptions.StackvaultError,
                           match=f"vol-1 is '{status}'"):
            volume.DescribeVolume().execute(conn, VOL)


class TestChooseBackupMode:
    def test_full_by_default(self, conn):
        ctx = make_ctx(VOL, conn)
        assert volume.ChooseBackupMode().execute(ctx, conn, VOL, {}) is False
        conn.block_storage.backups.assert_not_called()

    def test_incremental_when_an_earlier_backup_exists(self, conn):
        conn.block_storage.backups.return_value = [
            obj(volume_id="other", status="available"),
            obj(volume_id="vol-1", status="available")]
        ctx = make_ctx(VOL, conn)
        assert volume.ChooseBackupMode().execute(
            ctx, conn, VOL, {"backup_mode": "incremental"}) is True
        conn.block_storage.backups.assert_called_once_with()

    def test_incremental_falls_back_to_full(self, conn):
        conn.block_storage.backups.return_value = [
            obj(volume_id="vol-1", status="error"),
            obj(volume_id="other", status="available")]
        events = []
        ctx = make_ctx(VOL, conn, events=events)
        assert volume.ChooseBackupMode().execute(
            ctx, conn, VOL, {"backup_mode": "incremental"}) is False
        assert "full backup" in events[0].message


class TestTemporarySnapshot:
    def test_created_forced_for_in_use_volumes(self, conn):
        conn.block_storage.create_snapshot.return_value = obj(id="snap-1")
        ctx = make_ctx(VOL, conn)
        assert volume.CreateTemporarySnapshot().execute(
            ctx, conn, VOL, {}) == "snap-1"
        kwargs = conn.block_storage.create_snapshot.call_args.kwargs
        assert kwargs["volume_id"] == "vol-1" and kwargs["is_forced"]

    def test_not_created_for_direct_backups(self, conn):
        ctx = make_ctx(VOL, conn)
        assert volume.CreateTemporarySnapshot().execute(
            ctx, conn, VOL, {"method": "direct"}) is None
        conn.block_storage.create_snapshot.assert_not_called()

    def test_revert_waits_until_deletable_then_deletes(self, conn):
        fetch = statuses("creating", "available")
        gone = iter([False, False, True])

        def get_snapshot(snap_id):
            if conn.block_storage.delete_snapshot.called and next(gone):
                raise NOT_FOUND
            return fetch()
        conn.block_storage.get_snapshot.side_effect = get_snapshot
        ctx = make_ctx(VOL, conn)
        volume.CreateTemporarySnapshot().revert(ctx, conn, "snap-1")
        conn.block_storage.delete_snapshot.assert_called_once_with("snap-1")

    def test_revert_of_a_failed_create_does_nothing(self, conn):
        ctx = make_ctx(VOL, conn)
        volume.CreateTemporarySnapshot().revert(ctx, conn, mock.Mock())
        conn.block_storage.delete_snapshot.assert_not_called()

    def test_deleted_after_the_backup_with_a_bounded_wait(self, conn):
        conn.block_storage.get_snapshot.side_effect = NOT_FOUND
        ctx = make_ctx(VOL, conn)
        volume.DeleteTemporarySnapshot().execute(ctx, conn, "snap-1")
        conn.block_storage.delete_snapshot.assert_called_once_with(
            "snap-1", ignore_missing=True)


class TestCreateBackup:
    def _run(self, conn, parameters, status="available", snapshot_id=None,
             incremental=False):
        conn.block_storage.create_backup.return_value = obj(id="bk-1")
        ctx = make_ctx(VOL, conn)
        info = {"status": status, "size": 2}
        assert volume.CreateBackup().execute(
            ctx, conn, VOL, parameters, info, snapshot_id,
            incremental) == "bk-1"
        return conn.block_storage.create_backup.call_args.kwargs

    def test_from_the_temporary_snapshot(self, conn):
        kwargs = self._run(conn, {}, status="in-use", snapshot_id="snap-1")
        assert kwargs["snapshot_id"] == "snap-1"
        assert "force" not in kwargs
        assert kwargs["name"] == "stackvault-cp-1"

    def test_direct_in_use_backup_is_forced(self, conn):
        kwargs = self._run(conn, {"method": "direct"}, status="in-use")
        assert kwargs["force"] is True and "snapshot_id" not in kwargs

    def test_parameters(self, conn):
        kwargs = self._run(conn, {"backup_name": "nightly",
                                  "container": "vault"}, incremental=True)
        assert kwargs["name"] == "nightly"
        assert kwargs["container"] == "vault"
        assert kwargs["is_incremental"] is True

    def test_revert_deletes_the_backup(self, conn):
        calls = gone_once_deleted(conn.block_storage.get_backup,
                                  conn.block_storage.delete_backup,
                                  obj(status="error"))
        volume.CreateBackup().revert(make_ctx(VOL, conn), conn, "bk-1")
        assert calls == ["bk-1"]

    def test_a_rerun_finds_the_backup_an_earlier_run_made(self, conn):
        """Killed after Cinder answered, before anything recorded the id:
        the re-run finds the backup by the mark in its description."""
        task = volume.CreateBackup(name="OS::Cinder::Volume#vol-1/Backup")
        first = make_ctx(VOL, conn)
        first.journal = Journal("op-1")
        kwargs = self._run_with(task, first, conn)
        conn.block_storage.backups.return_value = [
            obj(id="other", volume_id=VOL.id, description="stackvault"),
            obj(id="bk-1", volume_id=VOL.id,
                description=kwargs["description"])]
        again = make_ctx(VOL, conn)
        again.journal = Journal("op-1", resuming=True)
        conn.block_storage.create_backup.reset_mock()
        assert task.execute(again, conn, VOL, {}, {"status": "available",
                                                   "size": 2},
                            None, False) == "bk-1"
        conn.block_storage.create_backup.assert_not_called()
        assert again.journal.created_by(task.name) == "bk-1"

    @staticmethod
    def _run_with(task, ctx, conn):
        conn.block_storage.create_backup.return_value = obj(id="bk-1")
        task.execute(ctx, conn, VOL, {}, {"status": "available", "size": 2},
                     None, False)
        return conn.block_storage.create_backup.call_args.kwargs

    def test_wait_fails_fast_with_cinders_reason(self, conn):
        conn.block_storage.get_backup.side_effect = statuses(
            "creating", "error", fail_reason="disk full on backup host")
        with pytest.raises(exceptions.ResourceFailed,
                           match="disk full on backup host"):
            volume.WaitBackupAvailable().execute(
                make_ctx(VOL, conn), conn, VOL, "bk-1", {"size": 1})


METADATA = {"backup_id": "bk-1", "size": 2, "name": "data",
            "description": "d", "metadata": {"k": "v"},
            "volume_type": "nfs", "availability_zone": "nova",
            "bootable": True, "image_metadata": {"hw_x": "1",
                                                 "image_id": "i"}}


class TestCreateVolumeFromBackup:
    def _run(self, conn, parameters):
        conn.block_storage.create_volume.return_value = obj(id="new-1")
        ctx = make_ctx(VOL, conn, operation="restore")
        with mock.patch.object(volume.sdk_utils, "supports_microversion",
                               return_value=True):
            assert volume.CreateVolumeFromBackup().execute(
                ctx, conn, VOL, METADATA, parameters) == "new-1"
        return ctx, conn.block_storage.create_volume.call_args.kwargs

    def test_creates_from_the_backup_and_records_the_new_id(self, conn):
        ctx, kwargs = self._run(conn, {})
        marks = volume.CreateVolumeFromBackup().marks(ctx)
        assert kwargs == {"backup_id": "bk-1", "size": 2, "name": "data",
                          "description": "d",
                          "metadata": dict({"k": "v"}, **marks),
                          "volume_type": "nfs", "availability_zone": "nova"}
        assert ctx.restored.get(volume.RESOURCE_TYPE, "vol-1") == "new-1"

    def test_a_rerun_finds_the_volume_an_earlier_run_made(self, conn):
        """Killed after Cinder answered, before the id was journaled: a
        second create from the same backup fails on a real Cinder (the
        backup is 'restoring') and would leave the first volume orphaned;
        the re-run finds it by the marks in its metadata instead."""
        task = volume.CreateVolumeFromBackup(
            name="OS::Cinder::Volume#vol-1/CreateVolumeFromBackup")
        first = make_ctx(VOL, conn, operation="restore")
        first.journal = Journal("op-1")
        conn.block_storage.create_volume.return_value = obj(id="new-1")
        with mock.patch.object(volume.sdk_utils, "supports_microversion",
                               return_value=True):
            task.execute(first, conn, VOL, METADATA, {})
            kwargs = conn.block_storage.create_volume.call_args.kwargs
            assert kwargs["metadata"]["stackvault_operation"] == "op-1"
            conn.block_storage.volumes.return_value = [
                obj(id="other", metadata={"k": "v"}),
                obj(id="new-1", metadata=kwargs["metadata"])]
            again = make_ctx(VOL, conn, operation="restore")
            again.journal = Journal("op-1", resuming=True)
            conn.block_storage.create_volume.reset_mock()
            assert task.execute(again, conn, VOL, METADATA, {}) == "new-1"
        conn.block_storage.create_volume.assert_not_called()
        assert again.restored.get(volume.RESOURCE_TYPE, "vol-1") == "new-1"

    def test_the_marks_stay_with_the_attributes(self, conn):
        volume.RestoreVolumeAttributes().execute(conn, "new-1", METADATA)
        conn.block_storage.delete_volume_metadata.assert_not_called()

    def test_the_marks_come_off_in_the_last_stage(self, conn):
        task = volume.CreateVolumeFromBackup(
            name="OS::Cinder::Volume#vol-1/CreateVolumeFromBackup")
        ctx = make_ctx(VOL, conn, operation="restore")
        ctx.journal = Journal("op-1")
        ctx.journal.record(task.name, "new-1")
        conn.block_storage.get_volume.return_value = obj(
            id="new-1", metadata=dict(task.marks(ctx), k="v"))
        both = threading.Barrier(2, timeout=30)   # in flight together

        def delete(volume_id, keys):
            both.wait()
            if keys == ["stackvault_operation"]:
                raise NOT_FOUND                 # a re-run: already gone
        conn.block_storage.delete_volume_metadata.side_effect = delete
        task.unmark(ctx, conn)
        assert sorted(
            (c.args, c.kwargs["keys"]) for c in
            conn.block_storage.delete_volume_metadata.call_args_list) == [
            (("new-1",), ["stackvault_operation"]),
            (("new-1",), ["stackvault_task"])]
        conn.block_storage.get_volume.assert_not_called()   # a fresh run
        assert ctx.journal.created_by("unmarked:" + task.name) == "new-1"

    def test_the_last_stage_leaves_a_planted_volume_alone(self, conn):
        task = volume.CreateVolumeFromBackup(
            name="OS::Cinder::Volume#vol-1/CreateVolumeFromBackup")
        ctx = make_ctx(VOL, conn, operation="restore")
        ctx.journal = Journal("op-1", resuming=True)
        ctx.journal.record(task.name, "foreign")
        conn.block_storage.get_volume.return_value = obj(
            id="foreign", metadata={"k": "v"})
        task.unmark(ctx, conn)
        conn.block_storage.delete_volume_metadata.assert_not_called()
        assert ctx.journal.left == {task.name: "foreign"}

    def test_name_type_and_zone_mapping(self, conn):
        _, kwargs = self._run(conn, {
            "restore_name": "copy",
            "volume_type_mapping": {"nfs": "fast"},
            "availability_zone_mapping": {"other": "x"}})
        assert kwargs["name"] == "copy"
        assert kwargs["volume_type"] == "fast"
        assert kwargs["availability_zone"] == "nova"

    def test_explicit_type_beats_the_mapping(self, conn):
        _, kwargs = self._run(conn, {"volume_type": "gold",
                                     "volume_type_mapping": {"nfs": "x"}})
        assert kwargs["volume_type"] == "gold"

    def test_old_cinder_is_a_clear_error(self, conn):
        ctx = make_ctx(VOL, conn, operation="restore")
        with mock.patch.object(volume.sdk_utils, "supports_microversion",
                               return_value=False):
            with pytest.raises(exceptions.StackvaultError, match="3.47"):
                volume.CreateVolumeFromBackup().execute(
                    ctx, conn, VOL, METADATA, {})
        conn.block_storage.create_volume.assert_not_called()

    def test_revert_deletes_the_volume_and_forgets_its_id(self, conn):
        ctx = make_ctx(VOL, conn, operation="restore")
        ctx.record_new_id("new-1")
        deleted = gone_once_deleted(
            conn.block_storage.get_volume, conn.block_storage.delete_volume,
            statuses("restoring-backup", "error_restoring"))
        volume.CreateVolumeFromBackup().revert(ctx, conn, "new-1")
        # waited for Cinder to settle before deleting
        assert conn.block_storage.get_volume.call_count >= 3
        assert deleted == ["new-1"]
        assert ctx.restored.get(volume.RESOURCE_TYPE, "vol-1") is None

    def test_wait_fails_on_error_restoring(self, conn):
        conn.block_storage.get_volume.side_effect = statuses(
            "restoring-backup", "error_restoring")
        with pytest.raises(exceptions.ResourceFailed,
                           match="error_restoring"):
            volume.WaitVolumeAvailable().execute(
                make_ctx(VOL, conn), conn, "new-1", METADATA)


def test_restore_attributes_sets_bootable_and_writable_image_metadata(conn):
    volume.RestoreVolumeAttributes().execute(conn, "new-1", METADATA)
    conn.block_storage.set_volume_bootable_status.assert_called_once_with(
        "new-1", True)
    conn.block_storage.set_volume_image_metadata.assert_called_once_with(
        "new-1", hw_x="1")


class TestDeleteAndVerify:
    def test_delete_removes_the_backup(self, conn):
        """A backup CreateBackup made (described with the checkpoint)."""
        seen = gone_once_deleted(
            conn.block_storage.get_backup, conn.block_storage.delete_backup,
            obj(status="available", has_dependent_backups=False,
                name="stackvault-cp-1",
                description="stackvault checkpoint cp-1 stackvault:ab"))
        volume.DeleteBackup().execute(make_ctx(VOL, conn), conn,
                                      {"backup_id": "bk-1"})
        assert seen == ["bk-1"]

    def test_a_backup_already_gone_is_fine(self, conn):
        conn.block_storage.get_backup.side_effect = NOT_FOUND
        volume.DeleteBackup().execute(make_ctx(VOL, conn), conn,
                                      {"backup_id": "bk-1"})
        conn.block_storage.delete_backup.assert_not_called()

    def test_dependent_incrementals_are_a_clear_error(self, conn):
        conn.block_storage.get_backup.return_value = obj(
            status="available", has_dependent_backups=True)
        with pytest.raises(exceptions.StackvaultError,
                           match="newer checkpoints"):
            volume.DeleteBackup().execute(make_ctx(VOL, conn), conn,
                                          {"backup_id": "bk-1"})
        conn.block_storage.delete_backup.assert_not_called()

    def test_verify_needs_an_available_backup(self, conn):
        conn.block_storage.get_backup.return_value = obj(status="error")
        with pytest.raises(exceptions.StackvaultError, match="'error'"):
            volume.CheckBackup().execute(conn, VOL, {"backup_id": "bk-1"})
        conn.block_storage.get_backup.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="no longer exists"):
            volume.CheckBackup().execute(conn, VOL, {"backup_id": "bk-1"})


class TestCheckDelete:
    """Asked for every volume before a checkpoint delete deletes anything."""

    def test_a_backup_with_dependent_incrementals_is_refused(self, conn):
        conn.block_storage.get_backup.return_value = obj(
            status="available", has_dependent_backups=True)
        with pytest.raises(exceptions.StackvaultError,
                           match="bk-1 has incremental backups"):
            volume.VolumePlugin().check_delete(
                conn, VOL, {"backup_id": "bk-1"})
        conn.block_storage.delete_backup.assert_not_called()

    def test_a_backup_without_dependents_may_go(self, conn):
        conn.block_storage.get_backup.return_value = obj(
            status="available", has_dependent_backups=False)
        volume.VolumePlugin().check_delete(conn, VOL, {"backup_id": "bk-1"})
        conn.block_storage.get_backup.assert_called_once_with("bk-1")
        conn.block_storage.delete_backup.assert_not_called()

    @pytest.mark.parametrize("metadata", [{}, {"backup_id": "gone"}])
    def test_no_backup_or_one_already_gone_is_fine(self, conn, metadata):
        conn.block_storage.get_backup.side_effect = NOT_FOUND
        volume.VolumePlugin().check_delete(conn, VOL, metadata)


def _parent_orders(flow):
    return {atom.name.rsplit(".", 1)[-1]: contract.parent_order(atom)
            for atom, _ in flow.iter_nodes()
            if contract.parent_order(atom)}


@pytest.mark.parametrize("parameters", [
    {}, {"method": "snapshot"}, {"data_location": "bank"},
    {"data_location": "bank", "method": "direct"}])
def test_only_the_temporary_snapshot_is_ordered_against_the_server(
        parameters):
    flow = volume.VolumePlugin().protect_flow(
        make_ctx(VOL, parameters=parameters), VOL)
    snapshot = ("CreateCopySnapshot" if parameters.get("data_location")
                else "CreateTemporarySnapshot")
    assert _parent_orders(flow) == {
        snapshot: contract.BEFORE_PARENT,
        "WaitSnapshotAvailable": contract.BEFORE_PARENT,
        "DeleteTemporarySnapshot": contract.AFTER_PARENT}


def test_method_direct_is_protected_wholly_before_the_server():
    flow = volume.VolumePlugin().protect_flow(
        make_ctx(VOL, parameters={"method": "direct"}), VOL)
    assert _parent_orders(flow) == {}
