"""The Glance image plugin against a real cloud: bytes survive the trip.

Each test uploads random bytes as an image (``random_image`` fixture),
protects it into a filesystem bank, deletes the original, restores, and
downloads the restored image to compare byte for byte. Failure tests check
the cloud afterwards: no image of the failed restore is left.
"""

import hashlib
import os
import secrets

import mock
import pytest
import requests
from openstack.image.v2 import image as sdk_image

from protection import exceptions
from tools.cloudkit.waits import wait_gone
from tests.fullstack.service_fixtures import (
    make_service,
    protect_one,
    restore_one,
)
from tools.cloudkit.teardown import delete_image

IMAGE = "OS::Glance::Image"
MiB = 1024 * 1024


@pytest.fixture
def service(tmp_path):
    # 1 MiB objects: a few-MiB image spans several bank objects.
    return make_service(tmp_path / "bank",
                        overrides={("image_data", "object_size_mib"): 1})


def _download(conn, image_id):
    response = conn.image.download_image(image_id, stream=True)
    try:
        return b"".join(response.iter_content(chunk_size=MiB))
    finally:
        response.close()


def _protect(service, conn, cleanup, image_id):
    return protect_one(service, conn, cleanup, IMAGE, image_id)


def _restore(service, conn, cleanup, checkpoint_id, original_id, **params):
    return conn.image.get_image(restore_one(
        service, conn, cleanup, checkpoint_id, IMAGE, original_id,
        delete_image, params))


def _images_named(conn, name):
    return [i.id for i in conn.image.images(name=name)]


def test_protect_delete_restore_compare_bytes(service, conn, cleanup,
                                              random_image, tmp_path):
    original, data = random_image(size=3 * MiB + 12345)
    conn.image.update_image(original, hw_disk_bus="scsi",
                            fullstack_prop="kept", min_ram=128)
    conn.image.add_tag(original, "fullstack-tag")
    checkpoint_id = _protect(service, conn, cleanup, original.id)

    # four 1 MiB objects in the bank, and the metadata
    section = f"resources/{IMAGE}/{original.id}/"
    names = [n[len(section):] for n in
             service.show_checkpoint(checkpoint_id).list_objects(section)]
    assert names == [f"data/{i:08d}" for i in range(4)] + ["metadata.json"]
    service.verify(checkpoint_id, conn)

    delete_image(conn, original.id)
    restored = _restore(service, conn, cleanup, checkpoint_id, original.id)

    assert restored.id != original.id
    assert restored.status == "active"
    assert restored.name == original.name
    assert restored.visibility == "private"
    assert restored.disk_format == "raw"
    assert restored.container_format == "bare"
    assert restored.min_ram == 128
    assert "fullstack-tag" in restored.tags
    assert restored.hw_disk_bus == "scsi"
    assert restored.properties.get("fullstack_prop") == "kept"
    assert restored.size == len(data)
    assert restored.hash_value == hashlib.new(restored.hash_algo,
                                              data).hexdigest()
    assert _download(conn, restored.id) == data


def test_restore_name_and_visibility_parameters(service, conn, cleanup,
                                                random_image):
    original, data = random_image(size=MiB + 1)
    checkpoint_id = _protect(service, conn, cleanup, original.id)
    name = f"fullstack-restored-{secrets.token_hex(3)}"
    restored = _restore(service, conn, cleanup, checkpoint_id, original.id,
                        restore_name=name, visibility="shared")
    assert restored.name == name
    assert restored.visibility == "shared"
    assert _images_named(conn, name) == [restored.id]
    assert _download(conn, restored.id) == data


def test_protect_refuses_an_image_that_is_not_active(service, conn,
                                                     cleanup):
    queued = conn.image.create_image(
        f"fullstack-queued-{secrets.token_hex(3)}", disk_format="raw",
        container_format="bare", allow_duplicates=True)
    cleanup(delete_image, conn, queued.id)
    with pytest.raises(exceptions.OperationFailed,
                       match="'queued', not 'active'") as err:
        service.protect(conn, "fullstack", [(IMAGE, queued.id)])
    checkpoint_id = err.value.result.checkpoint_id
    cleanup(service.delete, checkpoint_id, conn)
    assert service.show_checkpoint(checkpoint_id).status == "error"


def test_restore_failing_in_the_upload_rolls_back(service, conn, cleanup,
                                                  random_image):
    original, _data = random_image(size=2 * MiB)
    checkpoint_id = _protect(service, conn, cleanup, original.id)
    name = f"fullstack-rollback-{secrets.token_hex(3)}"
    real_upload = sdk_image.Image.upload
    created = []

    def failing_upload(self, session, data=None, size=None):
        created.append(self.id)
        assert conn.image.get_image(self.id).status == "queued"

        def half():
            for n, chunk in enumerate(data):
                if n == 1:
                    raise requests.exceptions.ConnectionError(
                        "connection reset by peer (injected)")
                yield chunk
        return real_upload(self, session, data=half(), size=size)

    with mock.patch.object(sdk_image.Image, "upload", failing_upload):
        with pytest.raises(exceptions.OperationFailed,
                           match="UploadImageData") as err:
            service.restore(checkpoint_id, conn,
                            {IMAGE: {"restore_name": name}})
    result = err.value.result
    assert result.restored == {}
    assert len(created) == 1
    # the image the restore created is gone, and nothing by that name
    wait_gone(lambda: conn.image.get_image(created[0]),
              what=f"image {created[0]}")
    assert _images_named(conn, name) == []
    assert conn.image.get_image(original.id).status == "active"


def test_restore_of_a_corrupted_bank_object_creates_nothing(
        service, conn, cleanup, random_image, tmp_path):
    """The integrity check before restore refuses it (the upload's own
    per-object check, behind it, is proven in the unit tests)."""
    original, _data = random_image(size=3 * MiB)
    checkpoint_id = _protect(service, conn, cleanup, original.id)
    damaged = (tmp_path / "bank" / "checkpoints" / checkpoint_id
               / "resources" / IMAGE / original.id / "data" / "00000001")
    with open(damaged, "r+b") as handle:
        handle.seek(1000)
        handle.write(os.urandom(16))
    name = f"fullstack-corrupt-{secrets.token_hex(3)}"
    with pytest.raises(exceptions.CheckpointCorrupt,
                       match="data/00000001: sha256 mismatch"):
        service.restore(checkpoint_id, conn, {IMAGE: {"restore_name": name}})
    assert _images_named(conn, name) == []
    # and verify names the damaged object
    with pytest.raises(exceptions.OperationFailed) as err:
        service.verify(checkpoint_id, conn)
    assert any("data/00000001" in str(f) for f in err.value.failures)


def test_checkpoint_delete_removes_the_data(service, conn, cleanup,
                                            random_image, tmp_path):
    original, _data = random_image(size=MiB)
    result = service.protect(conn, "fullstack", [(IMAGE, original.id)])
    service.delete(result.checkpoint_id, conn)
    assert service.list_checkpoints() == []
    leftovers = [p for p in (tmp_path / "bank").rglob("*") if p.is_file()]
    assert leftovers == []
