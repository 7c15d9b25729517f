"""The demo application (tools/cloudkit/demo_app.py: a server on a port
with a fixed IP, two volumes of known bytes, its image, network, router
and security group) protected, restored and deleted through the protection
API that devcloud deploys, with the member's real token; the cloud's own
state is checked at each step: the restored copy is the application
(ACTIVE, same IP and MAC, the volumes' bytes), and deleting the checkpoint
leaves none of its backups or snapshots in the member's project.
"""

import secrets
import time

import pytest

from tools.cloudkit import api_http
from tools.cloudkit.api_http import call
from tools.cloudkit.api_http import wait_operation
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit import demo_app
from tools.cloudkit import teardown

CIDR = "10.250.7.0/24"
FIXED_IP = "10.250.7.10"


@pytest.fixture(scope="module")
def api_url(conn):
    url = api_http.deployed_url(conn)
    if url is None or not api_http.answers(url):
        pytest.skip("no protection API in the catalog, or it does not "
                    "answer: run 'tools/devcloud api'")
    return url


def _storage(conn):
    return ({b.id for b in conn.block_storage.backups()},
            {s.id for s in conn.block_storage.snapshots()})


def _sweep_application(conn, app, admin_conn):
    """Whatever of the application is still there (a failed test)."""
    teardown.delete_resources(conn, {
        teardown.SERVER: [app["server"].id],
        teardown.VOLUME: list(app["volumes"]),
        teardown.PORT: [app["port"].id],
        teardown.ROUTER: [app["router"].id],
        teardown.NETWORK: [app["network"].id],
        teardown.GROUP: [app["group"].id],
        teardown.IMAGE: [app["image"].id]}, admin_conn)


def _timed(url, conn, method, path, body):
    started = time.monotonic()
    status, answer = call(url, method, path, conn, body)
    assert status == 202, answer
    done = wait_operation(url, conn, answer["operation_id"])
    assert done["status"] == "succeeded", done
    return done, time.monotonic() - started


def test_protect_restore_delete_the_demo_application_through_the_api(
        api_url, conn, admin_conn, cleanup):
    require_devcloud()
    before = _storage(conn)
    prefix = f"svapi-{secrets.token_hex(3)}"
    app = demo_app.create_application(conn, prefix, CIDR, FIXED_IP,
                                      say=lambda _text: None)
    cleanup(_sweep_application, conn, app, admin_conn)
    protected, protect_s = _timed(api_url, conn, "POST", "/v1/checkpoints", {
        "name": prefix, "resources": [{"type": demo_app.SERVER,
                                       "id": app["server"].id}]})
    checkpoint = protected["checkpoint_id"]
    cleanup(call, api_url, "DELETE", f"/v1/checkpoints/{checkpoint}", conn)
    shown = call(api_url, "GET", f"/v1/checkpoints/{checkpoint}", conn)[1]
    assert shown["checkpoint"]["project_id"] == conn.current_project_id

    demo_app.delete_application(conn, app)
    restored, restore_s = _timed(api_url, conn, "POST", "/v1/restores",
                                 {"checkpoint_id": checkpoint})
    cleanup(teardown.delete_restored, conn, restored["restored"],
            admin_conn)
    assert restored["project_id"] == conn.current_project_id
    demo_app.check_restored(conn, app, restored["restored"],
                            say=lambda _text: None)

    _deleted, delete_s = _timed(api_url, conn, "DELETE",
                                f"/v1/checkpoints/{checkpoint}", None)
    assert call(api_url, "GET", f"/v1/checkpoints/{checkpoint}",
                conn)[0] == 404
    backups, snapshots = _storage(conn)
    assert backups <= before[0] and snapshots <= before[1], \
        "the checkpoint's backups or snapshots are left in the cloud"
    print(f"\ndemo application through the API: protect {protect_s:.1f} s,"
          f" restore {restore_s:.1f} s, delete {delete_s:.1f} s")
