"""A scheduled plan on a real cloud: every-minute schedule, ``--keep 2``.

``stackvault plan run-due --now TIME`` stands in for the minutes passing
(the protects and deletes are real; only the clock is given), so the test
does not wait for real minutes: four slots (one of them ten minutes late,
which runs once) protect the volume three times, and retention deletes
the oldest checkpoint with its Cinder backup. Then the volume is deleted
and the plan's next run fails with that reason.
"""

import datetime
import io
import json
import secrets

from protection import exceptions
from protection.cli import main as cli
from tools.cloudkit.waits import wait_gone, wait_status
from tests.fullstack.service_fixtures import make_service
from tools.cloudkit.teardown import delete_volume

VOLUME = "OS::Cinder::Volume"


class Stackvault:
    """The ``stackvault`` CLI, in this process, on the test's bank."""

    def __init__(self, tmp_path, cloud_name):
        self.config = tmp_path / "stackvault.conf"
        self.config.write_text(
            f"[filesystem_bank]\npath = {tmp_path / 'bank'}\n")
        self.cloud_name = cloud_name
        self.err = ""

    def __call__(self, *argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = cli.main(["--os-cloud", self.cloud_name, "--config-file",
                         str(self.config), *argv, "-f", "json"],
                        stdout, stderr)
        self.err = stderr.getvalue()
        return code, json.loads(stdout.getvalue() or "null")

    def ok(self, *argv):
        code, data = self(*argv)
        assert code == 0, self.err
        return data


def _at(epoch):
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).isoformat()


def _delete_checkpoints(service, conn):
    for checkpoint in service.list_checkpoints():
        try:
            service.delete(checkpoint.id, conn, force=True)
        except exceptions.CheckpointNotFound:
            pass


def test_every_minute_keep_two_leaves_two_checkpoints_and_backups(
        tmp_path, conn, cloud_name, cleanup):
    volume = conn.block_storage.create_volume(
        size=1, name=f"fullstack-plan-{secrets.token_hex(3)}")
    cleanup(delete_volume, conn, volume.id)
    wait_status(lambda: conn.block_storage.get_volume(volume.id),
                "available", what=f"volume {volume.id}")
    cleanup(_delete_checkpoints, make_service(tmp_path / "bank"), conn)
    stackvault = Stackvault(tmp_path, cloud_name)
    name = f"fs-plan-{secrets.token_hex(3)}"
    plan = stackvault.ok("plan", "create", name, f"{VOLUME}={volume.id}",
                         "--schedule", "* * * * *", "--keep", "2")
    slot = datetime.datetime.fromisoformat(plan["next_run"]).timestamp()

    runs = []
    for now in (slot, slot + 30, slot + 60, slot + 660, slot + 670):
        runs += stackvault.ok("plan", "run-due", "--now", _at(now))
    assert [r["Status"] for r in runs] == ["succeeded"] * 3
    assert [r["Deleted"] for r in runs] == ["", "", runs[0]["Checkpoint"]]

    kept = stackvault.ok("checkpoint", "list", "--plan", name)
    assert sorted(c["ID"] for c in kept) == sorted(
        r["Checkpoint"] for r in runs[1:])
    assert {c["Status"] for c in kept} == {"available"}
    kept_backups = {_backup_id(tmp_path, c["ID"]) for c in kept}
    backups = {b.id for b in conn.block_storage.backups()
               if b.volume_id == volume.id and b.status != "deleted"}
    assert backups == kept_backups
    assert not [s for s in conn.block_storage.snapshots()
                if s.volume_id == volume.id]

    delete_volume(conn, volume.id)
    wait_gone(lambda: conn.block_storage.get_volume(volume.id),
              what=f"volume {volume.id}")
    code, _ = stackvault("plan", "run", name)
    assert code == 1
    assert stackvault.err.count("\n") == 1, stackvault.err
    assert f"run failed: volume {volume.id} not found: it was deleted " \
           "from the cloud" in stackvault.err
    assert len(stackvault.ok("checkpoint", "list", "--plan", name)) == 2


def _backup_id(tmp_path, checkpoint_id):
    service = make_service(tmp_path / "bank")
    checkpoint = service.show_checkpoint(checkpoint_id)
    (resource,) = list(checkpoint.graph)
    return checkpoint.section(resource).load_metadata()["backup_id"]
