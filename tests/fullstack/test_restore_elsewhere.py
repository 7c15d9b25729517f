"""Restore into another project from the bank alone (issue 13 items 3, 4).

One round trip proves several things: the demo application (network,
router, security group, image, a server on a fixed-IP port with random
bytes written into its root disk, two in-use volumes holding random bytes)
is protected with ``OS::Cinder::Volume:data_location=bank`` and the
default ``snapshot_root_disk``, deleted, and restored into the ``alt``
project with that project's own credentials; the restored server's root
disk and volumes hold the same bytes, and no temporary image, volume or
snapshot is left behind. A volume saved as a Cinder backup is refused
before anything is created, naming ``data_location``.

Byte checks need devcloud (its volume files and root disk files).
"""

import io
import secrets

from protection import exceptions
from protection.cli import main as cli
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit.waits import wait_status
from tests.fullstack.service_fixtures import make_service
from tools.cloudkit import demo_app
from tools.cloudkit import root_disk
from tools.cloudkit import teardown

SERVER = "OS::Nova::Server"
VOLUME = "OS::Cinder::Volume"
IMAGE = "OS::Glance::Image"
TMP = "stackvault-tmp-"
MiB = 1024 * 1024


def _temporaries(conn, checkpoint_id):
    """The temporary images, volumes and snapshots a protect or restore of
    ``checkpoint_id`` made and left."""
    name = f"{TMP}{checkpoint_id}"
    found = [("image", i.id) for i in conn.image.images()
             if (i.name or "").startswith(name)]
    found += [("volume", v.id) for v in conn.block_storage.volumes()
              if (v.name or "").startswith(name)]
    found += [("snapshot", s.id) for s in conn.block_storage.snapshots()
              if (s.name or "").startswith(name)]
    return found


def test_demo_app_with_bank_volumes_restores_into_another_project(
        conn, alt_conn, cleanup, tmp_path):
    require_devcloud()
    prefix = f"fullstack-elsewhere-{secrets.token_hex(3)}"
    app = demo_app.create_application(conn, prefix=prefix,
                                      cidr="10.250.77.0/24",
                                      fixed_ip="10.250.77.10",
                                      say=lambda _line: None)
    cleanup(demo_app.delete_application, conn, app)
    server_id = app["server"].id
    written = secrets.token_bytes(64 * 1024)
    root_disk.write_root_disk(server_id, written, offset=MiB)

    service = make_service(tmp_path / "bank")
    checkpoint_id = service.protect(
        conn, "elsewhere", [(SERVER, server_id)],
        {VOLUME: {"data_location": "bank"}}).checkpoint_id
    cleanup(service.delete, checkpoint_id, conn)
    assert service.verify(checkpoint_id, conn).ok
    # The source is gone: only the bank is left to restore from.
    demo_app.delete_application(conn, app)

    try:
        result = service.restore(checkpoint_id, alt_conn)
    except exceptions.OperationFailed as exc:
        if exc.result is not None:
            cleanup(teardown.delete_restored, alt_conn, exc.result.restored)
        raise
    restored = result.restored
    cleanup(teardown.delete_restored, alt_conn, restored)

    demo_app.check_restored(alt_conn, app, restored, say=lambda _line: None)
    new_server = alt_conn.compute.get_server(restored[f"{SERVER}#{server_id}"])
    assert new_server.project_id == alt_conn.current_project_id
    # It boots from its restored root disk, which holds what was written.
    (root_image,) = [new for key, new in restored.items()
                     if key.startswith(IMAGE)
                     and key != f"{IMAGE}#{app['image'].id}"]
    assert new_server.image.id == root_image
    assert root_disk.read_root_disk(new_server.id, len(written),
                                    offset=MiB) == written
    for original in app["volumes"]:
        new = alt_conn.block_storage.get_volume(
            restored[f"{VOLUME}#{original}"])
        assert new.project_id == alt_conn.current_project_id
        assert not any(k.startswith("stackvault_")
                       for k in new.metadata or {})
        assert "image_id" not in (new.volume_image_metadata or {})
        assert not new.is_bootable or new.is_bootable == "false"
    assert _temporaries(conn, checkpoint_id) == []
    assert _temporaries(alt_conn, checkpoint_id) == []


def test_a_cinder_backup_is_refused_elsewhere_before_anything_is_created(
        conn, alt_conn, cleanup, tmp_path, cloud_name):
    require_devcloud()
    name = f"fullstack-backup-{secrets.token_hex(3)}"
    volume = conn.block_storage.create_volume(size=1, name=name)
    cleanup(teardown.delete_volume, conn, volume.id)
    wait_status(lambda: conn.block_storage.get_volume(volume.id),
                "available", what=f"volume {volume.id}")
    service = make_service(tmp_path / "bank")
    checkpoint_id = service.protect(conn, "backup",
                                    [(VOLUME, volume.id)]).checkpoint_id
    cleanup(service.delete, checkpoint_id, conn)

    conf = tmp_path / "stackvault.conf"
    conf.write_text(f"[filesystem_bank]\npath = {tmp_path / 'bank'}\n")
    alt_volumes = {v.id for v in alt_conn.block_storage.volumes()}
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--os-cloud", cloud_name, "--config-file", str(conf),
                     "restore", checkpoint_id, "--target-cloud",
                     alt_conn.config.name], out, err)

    assert code == 1, err.getvalue()
    assert "data_location" in err.getvalue()
    assert volume.id in err.getvalue()
    assert {v.id for v in alt_conn.block_storage.volumes()} == alt_volumes
