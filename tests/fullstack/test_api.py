"""The protection API with real Keystone tokens (keystonemiddleware
validates them against the cloud's Keystone, the API acts on Nova with
the caller's token): a member of project A protects a key pair; a member
of project B can neither see, verify, restore nor delete it, and the
bank is unchanged by its tries; a restore lands in the caller's Nova;
the persona matrix (a reader and a manager of A made for the test, A's
member, the admin, B's member) gets the statuses the unit matrix
expects.

The API runs in this process (wsgiref on a free port) on a filesystem
bank; its ``[keystone_authtoken]`` service user is the admin cloud's.
"""

import json
import secrets
import threading
import time
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from keystoneauth1 import loading
from keystonemiddleware.auth_token import _opts as auth_token_opts

from protection.api import server
from protection.api import wsgi
from tools.cloudkit.teardown import delete_keypair

KP = "OS::Nova::KeyPair"
GROUP = "keystone_authtoken"


def _auth_token_conf(conf, admin_conn):
    """``[keystone_authtoken]`` with the admin cloud as service user, set
    in memory (no password written anywhere)."""
    auth = admin_conn.config.config["auth"]
    conf.register_opts(auth_token_opts._OPTS, group=GROUP)
    loading.register_auth_conf_options(conf, GROUP)
    conf.register_opts(loading.get_auth_plugin_conf_options("password"),
                       group=GROUP)
    conf.set_override("auth_type", "password", group=GROUP)
    conf.set_override("www_authenticate_uri", auth["auth_url"], group=GROUP)
    for key in ("auth_url", "username", "password", "project_name",
                "user_domain_name", "project_domain_name"):
        conf.set_override(key, auth[key], group=GROUP)


@pytest.fixture(scope="module")
def api_url(admin_conn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    conf = wsgi.load_conf([])
    conf.set_override("path", str(tmp / "bank"), group="filesystem_bank")
    conf.set_override("connection", f"sqlite:///{tmp}/db.sqlite",
                      group="persistence")
    _auth_token_conf(conf, admin_conn)
    httpd = server.make_server(conf, wsgi.make_app(conf), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def call(url, method, path, conn=None, body=None):
    headers = {"Content-Type": "application/json"}
    if conn is not None:
        headers["X-Auth-Token"] = conn.auth_token
    request = urllib.request.Request(
        url + path, method=method, headers=headers,
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def wait_operation(url, conn, operation_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call(url, "GET", f"/v1/operations/{operation_id}",
                            conn)
        assert status == 200, body
        if body["operation"]["status"] not in ("running", "queued"):
            return body["operation"]
        time.sleep(0.5)
    raise AssertionError(f"operation {operation_id} still running after "
                         f"{timeout} s")


@pytest.fixture
def keypair(conn, cleanup):
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    name = f"fullstack-api-{secrets.token_hex(4)}"
    conn.compute.create_keypair(name=name, public_key=public.decode(),
                                type="ssh")
    cleanup(delete_keypair, conn, name)
    return name


def test_version_discovery_needs_no_token_and_v1_does(api_url):
    status, body = call(api_url, "GET", "/")
    assert status == 200 and body["versions"][0]["id"] == "v1.0"
    status, body = call(api_url, "GET", "/v1/checkpoints")
    assert status == 401
    assert body["error"]["request_id"].startswith("req-")


def test_another_project_can_neither_see_nor_touch_a_checkpoint(
        api_url, conn, alt_conn, admin_conn, keypair):
    status, body = call(api_url, "POST", "/v1/checkpoints", conn, {
        "name": "api-fullstack", "resources": [{"type": KP,
                                                "id": keypair}]})
    assert status == 202, body
    checkpoint_id = body["checkpoint"]["id"]
    assert body["checkpoint"]["project_id"] == conn.current_project_id
    done = wait_operation(api_url, conn, body["operation_id"])
    assert done["status"] == "succeeded", done
    path = f"/v1/checkpoints/{checkpoint_id}"

    tries = [("GET", path, None), ("DELETE", path, None),
             ("POST", f"{path}/verify", None),
             ("POST", "/v1/restores", {"checkpoint_id": checkpoint_id}),
             ("POST", "/v1/restores", {"checkpoint_id": checkpoint_id,
                                       "dry_run": True}),
             ("GET", f"/v1/operations/{body['operation_id']}", None)]
    for method, where, payload in tries:
        status, answer = call(api_url, method, where, alt_conn, payload)
        assert status == 404, (method, where, answer)
    status, listed = call(api_url, "GET", "/v1/checkpoints", alt_conn)
    assert checkpoint_id not in [c["id"] for c in listed["checkpoints"]]

    status, shown = call(api_url, "GET", path, conn)
    assert status == 200 and shown["checkpoint"]["status"] == "available"
    assert call(api_url, "GET", path, admin_conn)[0] == 200
    status, report = call(api_url, "POST", "/v1/restores", conn, {
        "checkpoint_id": checkpoint_id, "dry_run": True})
    assert status == 200 and report["dry_run"]["ok"], report

    status, deleted = call(api_url, "DELETE", path, conn)
    assert status == 202, deleted
    assert wait_operation(api_url, conn,
                          deleted["operation_id"])["status"] == "succeeded"
    assert call(api_url, "GET", path, conn)[0] == 404


def test_a_restore_lands_in_the_callers_project(api_url, conn, keypair):
    """The key pair is deleted, then restored through the API with the
    member's token: it is back in the member's own Nova."""
    status, body = call(api_url, "POST", "/v1/checkpoints", conn, {
        "name": "api-restore", "resources": [{"type": KP, "id": keypair}]})
    assert status == 202, body
    checkpoint_id = body["checkpoint"]["id"]
    assert wait_operation(api_url, conn, body["operation_id"])[
        "status"] == "succeeded"
    public_key = conn.compute.get_keypair(keypair).public_key
    conn.compute.delete_keypair(keypair)
    status, body = call(api_url, "POST", "/v1/restores", conn,
                        {"checkpoint_id": checkpoint_id})
    assert status == 202, body
    done = wait_operation(api_url, conn, body["operation_id"])
    assert done["status"] == "succeeded", done
    assert done["project_id"] == conn.current_project_id
    assert conn.compute.get_keypair(keypair).public_key == public_key
    status, body = call(api_url, "DELETE",
                        f"/v1/checkpoints/{checkpoint_id}", conn)
    assert wait_operation(api_url, conn, body["operation_id"])[
        "status"] == "succeeded"


def _persona(admin_conn, conn, cleanup, role):
    """A user of ``conn``'s project with only ``role`` (Keystone adds
    the roles it implies to the token), deleted at teardown."""
    import openstack
    name = f"fullstack-{role}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    user = admin_conn.identity.create_user(name=name, password=password,
                                           domain_id="default")
    cleanup(admin_conn.identity.delete_user, user)
    admin_conn.identity.assign_project_role_to_user(
        conn.current_project_id, user, admin_conn.identity.find_role(role))
    auth = dict(admin_conn.config.config["auth"], username=name,
                password=password, project_id=conn.current_project_id)
    auth.pop("project_name", None)
    return openstack.connect(auth=auth, region_name=conn.config.region_name,
                             load_yaml_config=False, load_envvars=False)


def test_the_persona_matrix_with_real_tokens(api_url, conn, alt_conn,
                                             admin_conn, cleanup, keypair):
    personas = {"reader": _persona(admin_conn, conn, cleanup, "reader"),
                "member": conn,
                "manager": _persona(admin_conn, conn, cleanup, "manager"),
                "admin": admin_conn, "other": alt_conn}
    status, body = call(api_url, "POST", "/v1/checkpoints", conn, {
        "name": "api-matrix", "resources": [{"type": KP, "id": keypair}]})
    assert status == 202, body
    cid, oid = body["checkpoint"]["id"], body["operation_id"]
    assert wait_operation(api_url, conn, oid)["status"] == "succeeded"
    path = f"/v1/checkpoints/{cid}"
    protect = {"name": "x", "resources": [{"type": KP, "id": keypair}]}
    table = [   # reader member manager admin other (None: not tried)
        ("GET", path, None, (200, 200, 200, 200, 404)),
        ("GET", f"/v1/operations/{oid}", None, (200, 200, 200, 200, 404)),
        ("POST", "/v1/restores", {"checkpoint_id": cid, "dry_run": True},
         (403, 200, 200, 200, 404)),
        ("POST", f"{path}/verify", None, (403, 202, 202, 202, 404)),
        ("POST", f"/v1/operations/{oid}/abort", None,
         (403, 409, 409, 409, 404)),
        ("POST", f"{path}/adopt", None, (403, 403, 409, 409, 404)),
        ("DELETE", path, None, (403, None, None, None, 404)),
        ("POST", "/v1/checkpoints", protect, (403, None, None, None, None)),
    ]
    found, started = {}, []
    for method, where, payload, expected in table:
        for persona, want in zip(personas, expected):
            if want is not None:
                got, answer = call(api_url, method, where,
                                   personas[persona], payload)
                found[(method, where, persona)] = (got, want)
                if got == 202 and "operation_id" in answer:
                    started.append((personas[persona],
                                    answer["operation_id"]))
    wrong = {k: v for k, v in found.items() if v[0] != v[1]}
    assert not wrong
    # The verifies hold read leases on the checkpoint while they run: a
    # delete is refused (409) until they end.
    for persona_conn, operation_id in started:
        wait_operation(api_url, persona_conn, operation_id)
    status, body = call(api_url, "DELETE", path, conn)
    assert status == 202, body
    assert wait_operation(api_url, conn, body["operation_id"])[
        "status"] == "succeeded"
