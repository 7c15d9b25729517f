"""The volume plugin with ``data_location=bank`` (plugins/volume/bank.py,
protection/image_tasks.py) and its restore check, with mocked Cinder and
an in-memory Glance."""

from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from plugins import volume
from plugins.volume import backup as volume_backup
from plugins.volume import bank
from protection import exceptions
from protection.plugin import image_tasks
from protection.plugin import checks
from protection.plugin import saved_metadata as schema_check
from protection.checkpoint.store import CheckpointStore
from protection.bank.filesystem import FileSystemBank
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource
from tests.fakes import fake_glance
from tests.fakes.plugin_helpers import make_ctx, obj, statuses
from tests.fakes.server_helpers import run_task

VOL = Resource(volume.RESOURCE_TYPE, "vol-1", "data")
NOT_FOUND = sdk_exceptions.NotFoundException("not found")
INFO = {"id": "vol-1", "name": "data", "description": "d", "size": 1,
        "volume_type": "nfs", "availability_zone": "nova",
        "bootable": False, "metadata": {"k": "v"}, "image_metadata": {},
        "status": "in-use"}


@pytest.fixture
def section(tmp_path):
    store = CheckpointStore(FileSystemBank(str(tmp_path / "bank")))
    cp = store.create({"name": "t"}, ResourceGraph.build([VOL], lambda r: []))
    return cp.section(VOL)


def _names(flow):
    return [atom.name.rsplit(".", 1)[-1] for atom, _ in flow.iter_nodes()]


def test_flows_follow_the_data_location():
    plugin = volume.VolumePlugin()
    ctx = make_ctx(VOL, parameters={"data_location": "bank"})
    assert _names(plugin.protect_flow(ctx, VOL)) == [
        "DescribeVolume", "CreateCopySnapshot", "WaitSnapshotAvailable",
        "CreateCopyVolume", "UploadToImage", "WaitUploaded",
        "SaveImageToBank", "DeleteTemporaryImage", "DeleteCopyVolume",
        "DeleteTemporarySnapshot", "SaveBankVolumeMetadata"]
    assert "CreateBackup" in _names(plugin.protect_flow(make_ctx(VOL), VOL))
    meta = dict(INFO, data_location="bank", image_copy={})
    ctx = make_ctx(VOL, operation="restore", metadata=meta)
    assert _names(plugin.restore_flow(ctx, VOL)) == [
        "CreateImageFromBank", "UploadBankData", "WaitBankImage",
        "CreateVolumeFromImage", "WaitVolumeAvailable",
        "DeleteTemporaryImage", "RestoreCopiedVolumeAttributes"]
    assert isinstance(plugin.delete_flow(ctx, VOL),
                      image_tasks.DeleteBankData)
    assert isinstance(plugin.verify_flow(ctx, VOL),
                      image_tasks.VerifyBankData)


# -- protect ------------------------------------------------------------------
def test_an_available_volume_is_uploaded_itself():
    conn = mock.Mock()
    ctx = make_ctx(VOL, conn)
    info = dict(INFO, status="available")
    assert bank.CreateCopySnapshot().execute(ctx, conn, VOL, info) is None
    assert bank.CreateCopyVolume().execute(ctx, conn, None, info) is None
    conn.block_storage.upload_volume_to_image.return_value = {
        "image_id": "img-1"}
    assert bank.UploadToImage().execute(ctx, conn, VOL, {}, info,
                                        None) == "img-1"
    args, kwargs = conn.block_storage.upload_volume_to_image.call_args
    assert args[0] == "vol-1" and args[1].startswith("stackvault-tmp-")
    assert kwargs == {"force": False, "disk_format": "qcow2",
                      "container_format": "bare"}
    conn.block_storage.create_snapshot.assert_not_called()


def test_an_in_use_volume_goes_through_a_snapshot_and_a_copy():
    conn = mock.Mock()
    ctx = make_ctx(VOL, conn)
    conn.block_storage.create_snapshot.return_value = obj(id="snap-1")
    conn.block_storage.create_volume.return_value = obj(id="copy-1")
    conn.block_storage.get_volume.side_effect = statuses("creating",
                                                         "available")
    conn.block_storage.upload_volume_to_image.return_value = {
        "image_id": "img-1"}
    assert bank.CreateCopySnapshot().execute(ctx, conn, VOL,
                                             INFO) == "snap-1"
    assert bank.CreateCopyVolume().execute(ctx, conn, "snap-1",
                                           INFO) == "copy-1"
    kwargs = conn.block_storage.create_volume.call_args.kwargs
    assert kwargs["snapshot_id"] == "snap-1" and kwargs["size"] == 1
    assert bank.UploadToImage().execute(
        ctx, conn, VOL, {"disk_format": "raw"}, INFO, "copy-1") == "img-1"
    args, kwargs = conn.block_storage.upload_volume_to_image.call_args
    assert args[0] == "copy-1" and kwargs["disk_format"] == "raw"


def test_wait_uploaded_waits_for_the_image_and_the_source_volume():
    conn = mock.Mock()
    conn.image.get_image.side_effect = statuses("saving", "active")
    conn.block_storage.get_volume.side_effect = statuses("uploading",
                                                         "in-use")
    bank.WaitUploaded().execute(make_ctx(VOL, conn), conn, VOL, INFO, None,
                                "img-1")
    conn.block_storage.get_volume.assert_called_with("vol-1")


def test_upload_revert_deletes_the_temporary_image():
    conn = mock.Mock()
    conn.image.get_image.side_effect = [obj(status="active"), NOT_FOUND]
    bank.UploadToImage().revert(ctx=make_ctx(VOL, conn), conn=conn,
                                result="img-1")
    conn.image.delete_image.assert_called_once_with("img-1",
                                                    ignore_missing=True)


def test_round_trip_through_the_bank(section):
    """Protect streams the uploaded image into the bank and saves the
    record; restore creates an image from the bank with the same bytes,
    then a volume from it."""
    glance = fake_glance.FakeGlance()
    conn = fake_glance.connection(glance)
    payload = b"volume bytes " * 1000
    uploaded = glance.add(payload, name="stackvault-tmp-x",
                          disk_format="qcow2", container_format="bare")
    ctx = make_ctx(VOL, conn, bank=section)
    copy = image_tasks.SaveImageToBank(
        3000, "upload_image_id", "volume_copy").execute(
            ctx, conn, section, uploaded)
    assert len(copy["data"]["objects"]) == 5
    image_tasks.DeleteTemporaryImage("upload_image_id").execute(
        ctx, conn, uploaded)
    assert uploaded not in glance.data
    bank.SaveBankVolumeMetadata().execute(section, INFO, copy, "snap-1")
    meta = section.load_metadata()
    assert meta["data_location"] == "bank" and meta["from_snapshot"]
    assert "backup_id" not in meta and "status" not in meta
    plugin = volume.VolumePlugin()
    assert schema_check.problems(plugin.metadata_schema, meta) == []

    rctx = make_ctx(VOL, conn, operation="restore", bank=section,
                    metadata=meta)
    image = "volume_image_id"
    new_image = run_task(image_tasks.CreateImageFromBank(bank.RECORD_KEY,
                                                         image), rctx)
    run_task(image_tasks.UploadBankData(bank.RECORD_KEY, image), rctx,
             image_id=new_image)
    run_task(image_tasks.WaitBankImage(bank.RECORD_KEY, image), rctx,
             image_id=new_image)
    assert glance.data[new_image] == payload
    assert glance.records[new_image]["visibility"] == "private"

    conn.block_storage = mock.Mock()
    conn.block_storage.create_volume.return_value = obj(id="new-1")
    assert run_task(bank.CreateVolumeFromImage(), rctx,
                    volume_image_id=new_image) == "new-1"
    kwargs = conn.block_storage.create_volume.call_args.kwargs
    assert kwargs["image_id"] == new_image and kwargs["size"] == 1
    assert kwargs["metadata"]["k"] == "v"
    assert "stackvault_operation" in kwargs["metadata"]
    assert rctx.restored.get(volume.RESOURCE_TYPE, "vol-1") == "new-1"


def test_the_bank_data_is_verified_and_deleted(section):
    glance = fake_glance.FakeGlance()
    conn = fake_glance.connection(glance)
    uploaded = glance.add(b"x" * 100, disk_format="qcow2",
                          container_format="bare")
    ctx = make_ctx(VOL, conn, bank=section)
    copy = image_tasks.SaveImageToBank(40, "i", "c").execute(
        ctx, conn, section, uploaded)
    meta = dict(INFO, data_location="bank", image_copy=copy)
    image_tasks.VerifyBankData(bank.RECORD_KEY).execute(ctx, section, VOL,
                                                        meta)
    section.put("data/00000001", b"y" * 40)
    with pytest.raises(exceptions.StackvaultError, match="damaged"):
        image_tasks.VerifyBankData(bank.RECORD_KEY).execute(ctx, section,
                                                            VOL, meta)
    image_tasks.DeleteBankData().execute(ctx, section)
    assert [n for n in section.list() if n.startswith("data/")] == []


def test_restored_volume_loses_what_the_temporary_image_gave_it():
    conn = mock.Mock()
    conn.block_storage.get_volume.return_value = obj(
        volume_image_metadata={"image_id": "tmp", "image_name": "tmp",
                               "hw_disk_bus": "virtio", "extra": "x"})
    meta = dict(INFO, image_metadata={"hw_disk_bus": "scsi",
                                      "image_id": "orig"})
    bank.RestoreCopiedVolumeAttributes().execute(conn, "new-1", meta)
    conn.block_storage.delete_volume_image_metadata.assert_called_once_with(
        "new-1", keys=["image_id", "image_name", "extra"])
    conn.block_storage.set_volume_bootable_status.assert_called_once_with(
        "new-1", False)
    conn.block_storage.set_volume_image_metadata.assert_called_once_with(
        "new-1", hw_disk_bus="scsi")


def test_metadata_schema_needs_the_record_or_the_backup():
    schema = volume.VolumePlugin().metadata_schema
    common = {k: v for k, v in INFO.items() if k != "status"}
    assert schema_check.problems(schema, dict(common, backup_id="bk-1")) \
        == []
    assert schema_check.problems(schema, common)          # neither
    assert schema_check.problems(schema, dict(common, data_location="bank",
                                              backup_id="bk-1"))


# -- the restore pre-flight ---------------------------------------------------
def _preflight(conn, metadata):
    conn.block_storage.availability_zones.return_value = []
    ctx = mock.Mock(conn=conn, metadata=metadata, parameters={})
    return list(volume.VolumePlugin().restore_preflight(ctx, VOL))


def _checks(items):
    return {i.name: i for i in items if hasattr(i, "verdict")}


def test_a_backup_not_visible_here_names_data_location():
    conn = mock.Mock()
    conn.block_storage.get_backup.side_effect = NOT_FOUND
    check = _checks(_preflight(conn, dict(INFO, backup_id="bk-1")))[
        "backup available"]
    assert check.verdict == "fail"
    assert "bk-1" in check.detail
    assert "OS::Cinder::Volume:data_location=bank" in check.detail


def test_a_backup_not_available_is_refused():
    conn = mock.Mock()
    conn.block_storage.get_backup.return_value = obj(status="error")
    with pytest.raises(exceptions.StackvaultError, match="'error'"):
        volume_backup.check_restorable_backup(conn, VOL,
                                             {"backup_id": "bk-1"})


def test_a_backup_being_restored_says_cinder_restores_it_once_at_a_time():
    conn = mock.Mock()
    conn.block_storage.get_backup.return_value = obj(status="restoring")
    check = _checks(_preflight(conn, dict(INFO, backup_id="bk-1")))[
        "backup available"]
    assert check.verdict == "fail"
    assert "bk-1" in check.detail
    assert "another restore" in check.detail
    assert "once at a time" in check.detail


def test_bank_data_needs_no_backup_but_glance_quota():
    conn = mock.Mock()
    items = _preflight(conn, dict(INFO, data_location="bank", image_copy={
        "image": {}, "data": {"size": 3 * 1024 * 1024 + 1}}))
    assert "backup available" not in _checks(items)
    conn.block_storage.get_backup.assert_not_called()
    # restored through a temporary image of the data's size, MiB rounded up
    assert {d.quota: d.amount for d in items
            if isinstance(d, checks.Demand)} == {
        "volume.volumes": 1, "volume.gigabytes": 1,
        "image.image_count_total": 1, "image.image_size_total": 4}
