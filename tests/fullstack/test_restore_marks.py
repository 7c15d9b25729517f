"""A restore keeps its marks until its last stage, and an undo of a
restore deletes only what proves to be its own (issue #23 item 2),
against real Cinder and Glance.

A real restore of a volume ends with no stackvault mark on the new
volume. Then the restore's steps are reverted as an abort does (ids read
back from the operation's journal): a volume and an image the project
made by hand, planted in that journal, are left ``available``/``active``
and reported (``NotOurs``); so is the restored volume, whose marks the
last stage took off.
"""

import secrets

import pytest

from plugins import image as image_plugin
from plugins.volume import backup
from protection.plugin import tasks
from protection.plugin.context import Journal
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import make_ctx
from tests.fullstack.service_fixtures import make_service
from tests.fullstack.service_fixtures import protect_one
from tools.cloudkit.teardown import delete_volume
from tools.cloudkit.waits import wait_status

VOLUME = "OS::Cinder::Volume"
MARK_KEYS = {tasks.MARK_OPERATION, tasks.MARK_TASK}


def _volume(conn, cleanup, prefix):
    made = conn.block_storage.create_volume(
        size=1, name=f"{prefix}-{secrets.token_hex(3)}")
    cleanup(delete_volume, conn, made.id)
    return wait_status(lambda: conn.block_storage.get_volume(made.id),
                       "available", what=f"volume {made.id}")


def _aborting_ctx(conn, resource, operation_id, journal):
    """What an abort hands a restore step: ids from the journal."""
    ctx = make_ctx(resource, conn, operation="restore")
    ctx.journal = Journal(operation_id, resuming=True, initial=journal)
    return ctx


def test_an_undo_of_a_restore_deletes_only_what_carries_its_mark(
        tmp_path, conn, cleanup, random_image):
    original = _volume(conn, cleanup, "fullstack-marks")
    foreign = _volume(conn, cleanup, "by-hand")
    service = make_service(tmp_path / "bank")
    checkpoint_id = protect_one(service, conn, cleanup, VOLUME, original.id)

    result = service.restore(checkpoint_id, conn)
    assert result.ok, result.to_dict()
    new_id = result.restored[f"{VOLUME}#{original.id}"]
    cleanup(delete_volume, conn, new_id)
    restored = conn.block_storage.get_volume(new_id)
    assert not MARK_KEYS & set(restored.metadata or {})    # no mark left
    assert result.still_marked == {}
    step = f"{VOLUME}#{original.id}/CreateVolumeFromBackup"
    journal = service.operation(result.operation_id).journal
    assert journal[f"unmarked:{step}"] == new_id

    resource = Resource(VOLUME, original.id, original.name)
    create = backup.CreateVolumeFromBackup(name=step)
    # the restored volume, unmarked: proves nothing any more, left
    ctx = _aborting_ctx(conn, resource, result.operation_id, journal)
    with pytest.raises(tasks.NotOurs, match="took its marks off"):
        create.revert(ctx, conn, None)
    # a volume of the project planted in the journal: left
    ctx = _aborting_ctx(conn, resource, result.operation_id,
                        {step: foreign.id})
    with pytest.raises(tasks.NotOurs, match=f"volume {foreign.id} was not "
                       "deleted"):
        create.revert(ctx, conn, None)
    assert ctx.journal.created_by(step) == foreign.id     # still listed
    # an image of the project planted for the image plugin's step: left
    image, _ = random_image()
    image_step = f"{image_plugin.RESOURCE_TYPE}#orig/CreateImage"
    ctx = _aborting_ctx(conn, Resource(image_plugin.RESOURCE_TYPE, "orig",
                                       "orig"),
                        result.operation_id, {image_step: image.id})
    with pytest.raises(tasks.NotOurs, match=f"{image.id} was not deleted"):
        image_plugin.CreateImage(name=image_step).revert(ctx, conn, None)

    assert conn.block_storage.get_volume(foreign.id).status == "available"
    assert conn.block_storage.get_volume(new_id).status == "available"
    assert conn.image.get_image(image.id).status == "active"
