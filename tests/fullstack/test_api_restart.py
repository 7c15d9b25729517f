"""An operation survives the death of the API process that runs it.

A ``stackvault-api`` of the test's own (a subprocess: devcloud's
``[keystone_authtoken]``, its own port, bank and SQLite database) starts
protecting a volume with the member's token and is killed with SIGKILL
while the volume's backup runs. Started again, it shows the operation
``interrupted``. What the API offers then, with a token of the
operation's project:

* ``POST /v1/operations/{id}/resume``: the protect is finished, skipping
  what was done; the checkpoint ends ``available``;
* ``POST /v1/operations/{id}/abort``: what it created is undone; no
  backup of it is left in the cloud and its checkpoint is gone.

(The CLI's ``stackvault operation resume|abort`` does the same on the
same database with a clouds.yaml cloud of that project.)
"""

import pathlib
import secrets
import signal
import subprocess
import sys
import time

import pytest

from tools.cloudkit import api_http
from tools.cloudkit.api_http import call
from tools.cloudkit.api_http import wait_operation
from tools.cloudkit import teardown

VOLUME = "OS::Cinder::Volume"


@pytest.fixture
def api_conf(tmp_path):
    """A config: devcloud's API's ``[keystone_authtoken]`` (its service
    user), this test's port, bank and database."""
    port = api_http.free_port()
    try:
        path = api_http.own_api_conf(tmp_path, api={"port": port})
    except api_http.NoDeployedApi:
        pytest.skip("devcloud's API is not configured: run 'tools/devcloud "
                    "api'")
    return path, f"http://127.0.0.1:{port}"


class ApiProcess:
    """``stackvault-api`` as a child process, started and killed."""

    def __init__(self, conf, url, log):
        self.conf, self.url, self.log = conf, url, log
        self.proc = None

    def start(self):
        exe = pathlib.Path(sys.executable).parent / "stackvault-api"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), "--config-file", str(self.conf)],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not api_http.answers(self.url, timeout=1):
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the API did not answer"
            time.sleep(0.2)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def api(api_conf, tmp_path):
    process = ApiProcess(*api_conf, tmp_path / "api.log")
    process.start()
    yield process
    process.kill()


@pytest.fixture
def volume(conn, cleanup):
    found = conn.block_storage.create_volume(
        size=1, name=f"fullstack-apirestart-{secrets.token_hex(4)}")
    cleanup(teardown.delete_volume, conn, found.id)
    conn.block_storage.wait_for_status(found, "available", wait=300)
    return found


def _backups(conn):
    return {b.id for b in conn.block_storage.backups()}


def _killed_mid_protect(api, conn, volume):
    """Start protecting ``volume``, SIGKILL the API while its backup
    runs, start the API again; the operation's id and checkpoint."""
    status, body = call(api.url, "POST", "/v1/checkpoints", conn, {
        "name": "fullstack-apirestart",
        "resources": [{"type": VOLUME, "id": volume.id}]})
    assert status == 202, body
    operation = body["operation_id"]
    key = f"{VOLUME}#{volume.id}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shown = call(api.url, "GET", f"/v1/operations/{operation}", conn)[1]
        if shown["operation"]["progress"].get(key, {}).get("state") == \
                "running":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the volume's protect never ran: {shown}")
    api.kill()
    api.start()
    shown = call(api.url, "GET", f"/v1/operations/{operation}", conn)[1]
    assert shown["operation"]["status"] == "interrupted", shown
    return operation, body["checkpoint"]["id"]


def test_resume_finishes_a_protect_the_killed_api_left(api, conn, alt_conn,
                                                      volume, cleanup):
    operation, checkpoint = _killed_mid_protect(api, conn, volume)
    cleanup(call, api.url, "DELETE", f"/v1/checkpoints/{checkpoint}", conn)
    path = f"/v1/operations/{operation}/resume"
    assert call(api.url, "POST", path, alt_conn)[0] == 404
    status, body = call(api.url, "POST", path, conn)
    assert status == 202, body
    assert wait_operation(api.url, conn, operation)["status"] == "succeeded"
    shown = call(api.url, "GET", f"/v1/checkpoints/{checkpoint}", conn)[1]
    assert shown["checkpoint"]["status"] == "available", shown
    status, body = call(api.url, "DELETE", f"/v1/checkpoints/{checkpoint}",
                        conn)
    assert wait_operation(api.url, conn, body["operation_id"])[
        "status"] == "succeeded"


def test_abort_undoes_a_protect_the_killed_api_left(api, conn, volume):
    before = _backups(conn)
    operation, checkpoint = _killed_mid_protect(api, conn, volume)
    status, body = call(api.url, "POST",
                        f"/v1/operations/{operation}/abort", conn)
    assert status == 202, body
    assert wait_operation(api.url, conn, operation)["status"] == "aborted"
    assert call(api.url, "GET", f"/v1/checkpoints/{checkpoint}",
                conn)[0] == 404
    deadline = time.monotonic() + 300
    while _backups(conn) - before and time.monotonic() < deadline:
        time.sleep(2)       # a backup being deleted is still listed
    assert not _backups(conn) - before, "the aborted protect's backup is left"
