"""The Cinder volume plugin against a real cloud: bytes survive the trip.

Each test writes known bytes into a volume the way a guest would (through
tools/cloudkit/volume_bytes.py, so the byte checks need devcloud; on
another cloud they skip with that reason), protects it, deletes the
original, restores, and compares the restored volume's bytes.
"""

import secrets

import pytest

from protection import exceptions
from tools.cloudkit import volume_bytes as devcloud_volume
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit.waits import wait_status
from tools.cloudkit.teardown import delete_server, delete_volume
from tests.fullstack.service_fixtures import (
    make_service,
    protect_one,
    restore_one,
)

VOLUME = "OS::Cinder::Volume"
MiB = 1024 * 1024


@pytest.fixture
def service(tmp_path):
    return make_service(tmp_path / "bank")


@pytest.fixture
def new_volume(conn, cleanup):
    """Factory: an available volume, deleted at teardown."""
    def make(size=1, **attrs):
        volume = conn.block_storage.create_volume(
            size=size, name=attrs.pop("name", None)
            or f"fullstack-{secrets.token_hex(3)}", **attrs)
        cleanup(delete_volume, conn, volume.id)
        return wait_status(lambda: conn.block_storage.get_volume(volume.id),
                           "available", what=f"volume {volume.id}")
    return make


def _protect(service, conn, cleanup, volume, **parameters):
    return protect_one(service, conn, cleanup, VOLUME, volume.id,
                       parameters)


def _restore(service, conn, cleanup, checkpoint_id, original_id, **params):
    return conn.block_storage.get_volume(restore_one(
        service, conn, cleanup, checkpoint_id, VOLUME, original_id,
        delete_volume, params))


def _write_pattern(volume_id):
    """Random bytes at the start and at 100 MiB; returns what was written."""
    head = secrets.token_bytes(8 * MiB)
    tail = secrets.token_bytes(MiB)
    devcloud_volume.write_volume(volume_id, head, 0)
    devcloud_volume.write_volume(volume_id, tail, 100 * MiB)
    return {0: head, 100 * MiB: tail}


def _assert_bytes(volume_id, pattern):
    for offset, data in pattern.items():
        assert devcloud_volume.read_volume(volume_id, len(data), offset) \
            == data, f"bytes at {offset} differ in volume {volume_id}"


def test_protect_delete_restore_keeps_every_byte(service, conn, cleanup,
                                                 new_volume):
    require_devcloud()
    original = new_volume(description="db data")
    conn.block_storage.set_volume_metadata(original, role="db", tier="1")
    pattern = _write_pattern(original.id)
    checkpoint_id = _protect(service, conn, cleanup, original)
    assert service.verify(checkpoint_id, conn).ok
    delete_volume(conn, original.id)

    restored = _restore(service, conn, cleanup, checkpoint_id, original.id,
                        restore_name="db-restored")
    assert restored.status == "available"
    assert restored.name == "db-restored"
    assert restored.size == original.size
    assert restored.description == "db data"
    # Cinder adds src_backup_id to a volume made from a backup.
    assert restored.metadata == {"role": "db", "tier": "1",
                                 "src_backup_id": restored.metadata.get(
                                     "src_backup_id")}
    assert restored.metadata["src_backup_id"]
    assert restored.volume_type == original.volume_type
    _assert_bytes(restored.id, pattern)
    # The temporary snapshot is gone.
    assert not [s for s in conn.block_storage.snapshots()
                if s.volume_id == original.id]


def test_in_use_volume_is_protected_and_stays_intact(
        service, conn, cleanup, new_volume, random_image):
    require_devcloud()
    image, _ = random_image(size=MiB)
    flavor = min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus))
    server = conn.compute.create_server(
        name=f"fullstack-{secrets.token_hex(3)}", image_id=image.id,
        flavor_id=flavor.id, networks="none")
    cleanup(delete_server, conn, server.id)
    wait_status(lambda: conn.compute.get_server(server.id), "ACTIVE",
                failures=("ERROR",), what=f"server {server.id}")
    volume = new_volume()
    # delete_volume (registered by new_volume) detaches it first.
    conn.compute.create_volume_attachment(server, volume=volume)
    wait_status(lambda: conn.block_storage.get_volume(volume.id), "in-use",
                what=f"volume {volume.id}")
    pattern = _write_pattern(volume.id)

    checkpoint_id = _protect(service, conn, cleanup, volume)

    # The original is still attached and unchanged after the temporary
    # snapshot was merged away.
    assert conn.block_storage.get_volume(volume.id).status == "in-use"
    _assert_bytes(volume.id, pattern)
    restored = _restore(service, conn, cleanup, checkpoint_id, volume.id)
    _assert_bytes(restored.id, pattern)


def test_second_incremental_backup_restores_the_latest_bytes(
        service, conn, cleanup, new_volume):
    require_devcloud()
    original = new_volume()
    pattern = _write_pattern(original.id)
    first = _protect(service, conn, cleanup, original,
                     backup_mode="incremental")      # falls back to full
    change = secrets.token_bytes(2 * MiB)
    devcloud_volume.write_volume(original.id, change, 4 * MiB)
    second = _protect(service, conn, cleanup, original,
                      backup_mode="incremental")

    backups = {service.show_checkpoint(cp).metadata_of(
        VOLUME, original.id)["backup_id"]: cp for cp in (first, second)}
    kinds = {cp: conn.block_storage.get_backup(backup_id).is_incremental
             for backup_id, cp in backups.items()}
    assert kinds == {first: False, second: True}

    delete_volume(conn, original.id)
    restored = _restore(service, conn, cleanup, second, original.id)
    expected = dict(pattern)
    head = bytearray(expected[0])
    head[4 * MiB:6 * MiB] = change
    expected[0] = bytes(head)
    _assert_bytes(restored.id, expected)


def test_deleting_a_checkpoint_others_depend_on_is_refused(
        service, conn, cleanup, new_volume):
    original = new_volume()
    first = _protect(service, conn, cleanup, original)
    _protect(service, conn, cleanup, original, backup_mode="incremental")
    with pytest.raises(exceptions.OperationFailed,
                       match="delete the newer checkpoints"):
        service.delete(first, conn)
    # Refused before anything was deleted: still available, still
    # restorable (the cleanup deletes the newer one first, then this).
    assert service.show_checkpoint(first).status == "available"


def test_restore_that_fails_half_way_leaves_no_volume(
        service, conn, admin_conn, cleanup, new_volume):
    """A volume type no backend can serve: Cinder accepts the request, the
    volume goes to error, and the rollback deletes it."""
    nowhere = admin_conn.block_storage.create_type(
        name=f"fullstack-nowhere-{secrets.token_hex(3)}",
        extra_specs={"volume_backend_name": "no-such-backend"})
    cleanup(admin_conn.block_storage.delete_type, nowhere)
    original = new_volume()
    checkpoint_id = _protect(service, conn, cleanup, original)
    name = f"fullstack-doomed-{secrets.token_hex(3)}"

    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, conn, {VOLUME: {
            "restore_name": name, "volume_type": nowhere.name}})

    failure = caught.value.failures[0]
    assert failure.step == "WaitVolumeAvailable"
    assert "error" in failure.message
    assert caught.value.result.restored == {}
    assert not [v for v in conn.block_storage.volumes() if v.name == name]
