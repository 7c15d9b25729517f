"""A delete acts only on what carries the checkpoint's mark (issue #23
item 2), against real Cinder and Glance.

A backup and an image the project made by hand are planted where a delete
reads ids from: the checkpoint's ``metadata.json`` and ``created.json``
(the bank), and the saved result of a protect step (the database). The
delete must leave them ``available``/``active`` and report them; what
stackvault created is still deleted.
"""

import secrets

import pytest

from plugins.server import protect as server_protect
from protection.checkpoint import store as cp
from protection.plugin import image_tasks
from protection.plugin import journal as protect_journal
from protection.plugin import tasks
from protection.plugin.context import Journal
from protection.model.resource import Resource
from tools.cloudkit.waits import wait_gone, wait_status
from tests.fullstack.service_fixtures import make_service
from tests.fakes.plugin_helpers import make_ctx
from tools.cloudkit.teardown import delete_volume

VOLUME = "OS::Cinder::Volume"


def _delete_backup(conn, backup_id):
    conn.block_storage.delete_backup(backup_id, ignore_missing=True)
    wait_gone(lambda: conn.block_storage.get_backup(backup_id),
              what=f"backup {backup_id}")


@pytest.fixture
def volume(conn, cleanup):
    made = conn.block_storage.create_volume(
        size=1, name=f"fullstack-{secrets.token_hex(3)}")
    cleanup(delete_volume, conn, made.id)
    return wait_status(lambda: conn.block_storage.get_volume(made.id),
                       "available", what=f"volume {made.id}")


@pytest.fixture
def foreign_backup(conn, cleanup, volume):
    """A backup of the volume the project made by hand."""
    made = conn.block_storage.create_backup(
        volume_id=volume.id, name=f"by-hand-{secrets.token_hex(3)}")
    cleanup(_delete_backup, conn, made.id)
    return wait_status(lambda: conn.block_storage.get_backup(made.id),
                       "available", what=f"backup {made.id}")


def test_delete_leaves_a_backup_planted_in_the_bank(
        tmp_path, conn, cleanup, volume, foreign_backup):
    service = make_service(tmp_path / "bank")
    checkpoint_id = service.protect(conn, "trust", [(VOLUME, volume.id)],
                                    cloud="devcloud").checkpoint_id
    checkpoint = service.show_checkpoint(checkpoint_id)
    resource = Resource(VOLUME, volume.id, volume.name)
    section = checkpoint.section(resource)
    metadata = section.load_metadata()
    own_backup = metadata["backup_id"]
    cleanup(_delete_backup, conn, own_backup)
    # planted: metadata.json and created.json name the foreign backup, and
    # the checkpoint is left 'error' so that delete also undoes created.json
    section.save_metadata(dict(metadata, backup_id=foreign_backup.id))
    checkpoint.claim(cp.PROTECTING, "planted")
    checkpoint.fail(["planted for the test"])
    protect_journal.record(section, f"{VOLUME}#{volume.id}/CreateBackup",
                           foreign_backup.id)

    result = service.delete(checkpoint_id, conn, force=True)

    assert result.ok, result.to_dict()
    assert conn.block_storage.get_backup(foreign_backup.id).status == \
        "available"
    assert sorted(set(result.left_behind.values())) == [foreign_backup.id]
    assert len(result.left_behind) == 2          # from each file
    assert any(f"backup {foreign_backup.id} was not deleted" in w
               for w in result.warnings)
    # stackvault's own backup is orphaned (the bank no longer names it)
    # and still carries the checkpoint's mark
    own = conn.block_storage.get_backup(own_backup)
    assert f"stackvault checkpoint {checkpoint_id}" in own.description


def _resumed_ctx(conn, checkpoint_id, operation_id):
    resource = Resource("OS::Nova::Server", secrets.token_hex(8), "gone")
    ctx = make_ctx(resource, conn, operation="protect")
    ctx.checkpoint_id = checkpoint_id
    ctx.journal = Journal(operation_id, resuming=True)
    return ctx


def test_glance_images_are_deleted_only_with_a_mark(conn, random_image):
    """A resumed or aborted protect: the temporary image's id comes from
    the database. A foreign image is refused; an image with the
    checkpoint's name or the step's properties is deleted."""
    foreign, _ = random_image()
    checkpoint_id = f"test-{secrets.token_hex(4)}"
    ctx = _resumed_ctx(conn, checkpoint_id, f"op-{secrets.token_hex(4)}")
    with pytest.raises(tasks.NotOurs, match=f"image {foreign.id}"):
        image_tasks.DeleteTemporaryImage("image_id").execute(
            ctx, conn, foreign.id)
    step = server_protect.CreateRootDiskSnapshot(
        name=f"{ctx.resource.type}#{ctx.resource.id}/CreateRootDiskSnapshot")
    ctx.journal.record(step.name, foreign.id)
    with pytest.raises(tasks.NotOurs, match=f"{foreign.id} was not deleted"):
        step.revert(ctx, conn, None)
    assert conn.image.get_image(foreign.id).status == "active"

    temporary, _ = random_image(name=f"stackvault-tmp-{checkpoint_id}")
    image_tasks.DeleteTemporaryImage("image_id").execute(
        ctx, conn, temporary.id)
    marked, _ = random_image()
    conn.image.update_image(marked, **step.marks(ctx))
    ctx.journal.record(step.name, marked.id)
    step.revert(ctx, conn, None)
    for image in (temporary, marked):
        wait_gone(lambda i=image: conn.image.get_image(i.id),
                  what=f"image {image.id}")
    assert conn.image.get_image(foreign.id).status == "active"
