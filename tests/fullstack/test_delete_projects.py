"""Issue #22 item 3 on a real cloud: project B's delete of project A's
volume checkpoint fails with the reason, A's Cinder backup stays
``available``, and A then deletes it (backup gone)."""

import secrets

import pytest

from protection import exceptions
from protection.checkpoint import store as cp
from tools.cloudkit.waits import wait_gone
from tools.cloudkit.waits import wait_status
from tests.fullstack.service_fixtures import make_service
from tools.cloudkit.teardown import delete_volume

VOLUME = "OS::Cinder::Volume"


def _delete_if_left(service, checkpoint_id, conn):
    try:
        service.delete(checkpoint_id, conn)
    except exceptions.CheckpointNotFound:
        pass


def test_another_project_cannot_delete_and_orphan_a_backup(
        tmp_path, conn, alt_conn, cleanup):
    service = make_service(tmp_path / "bank")
    volume = conn.block_storage.create_volume(
        size=1, name=f"fullstack-{secrets.token_hex(3)}")
    cleanup(delete_volume, conn, volume.id)
    wait_status(lambda: conn.block_storage.get_volume(volume.id),
                "available", what=f"volume {volume.id}")
    checkpoint_id = service.protect(
        conn, "fullstack", [(VOLUME, volume.id)],
        tenancy=cp.Tenancy(conn.current_project_id,
                           conn.current_user_id)).checkpoint_id
    cleanup(_delete_if_left, service, checkpoint_id, conn)
    backup_id = service.show_checkpoint(checkpoint_id).metadata_of(
        VOLUME, volume.id)["backup_id"]
    assert alt_conn.current_project_id != conn.current_project_id

    with pytest.raises(exceptions.CheckpointOfAnotherProject,
                       match=f"belongs to project {conn.current_project_id}"):
        service.delete(checkpoint_id, alt_conn)
    assert conn.block_storage.get_backup(backup_id).status == "available"
    assert service.show_checkpoint(checkpoint_id).status == cp.AVAILABLE

    service.delete(checkpoint_id, conn)
    wait_gone(lambda: conn.block_storage.get_backup(backup_id),
              what=f"backup {backup_id}")
    with pytest.raises(exceptions.CheckpointNotFound):
        service.show_checkpoint(checkpoint_id)
