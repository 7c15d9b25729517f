"""The protection API as devcloud deploys it (``tools/devcloud api``):
found in Keystone's catalog (service type ``data-protection``), called
with the real tokens of the clouds.yaml personas: ``devcloud`` (member
of project demo), ``devcloud-reader`` (reader of demo), ``devcloud-admin``
and ``devcloud-alt`` (member of project alt).

* every route, for every persona, on demo's objects: the status each gets;
* a member of alt can neither see, restore, verify nor delete demo's
  checkpoint, nor touch its plan or operations, and neither the bank nor
  demo's cloud changes while it tries.

The API runs as devcloud's process on its own filesystem bank
(``<state>/data/stackvault-api/bank``); each test deletes what it made.
"""

import os
import secrets

import openstack
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from protection.api import routes
from tools.cloudkit import api_http
from tools.cloudkit.api_http import call
from tools.cloudkit.api_http import wait_operation
from tools.cloudkit import teardown

KP = "OS::Nova::KeyPair"
VOLUME = "OS::Cinder::Volume"
NAMES = ("reader", "member", "admin", "other")


@pytest.fixture(scope="module")
def api_url(conn):
    url = api_http.deployed_url(conn)
    if url is None or not api_http.answers(url):
        pytest.skip("no protection API in the catalog, or it does not "
                    "answer: run 'tools/devcloud api'")
    return url


@pytest.fixture(scope="module")
def reader_conn(cloud_name):
    name = f"{cloud_name}-reader"
    if name not in openstack.config.OpenStackConfig().get_cloud_names():
        pytest.skip(f"no '{name}' in clouds.yaml: run 'tools/devcloud api'")
    c = openstack.connect(cloud=name)
    yield c
    c.close()


@pytest.fixture(scope="module")
def bank_dir(api_url):
    clouds = os.environ.get("OS_CLIENT_CONFIG_FILE")
    bank = clouds and api_http.devcloud_state(clouds) / "data" / \
        "stackvault-api" / "bank"
    if not bank or not bank.is_dir():
        pytest.skip("the deployed API's bank is not on this machine")
    return bank


@pytest.fixture
def keypair(conn, cleanup):
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    name = f"fullstack-apidev-{secrets.token_hex(4)}"
    conn.compute.create_keypair(name=name, public_key=public.decode(),
                                type="ssh")
    cleanup(teardown.delete_keypair, conn, name)
    return name


def _protected(api_url, conn, cleanup, rtype, rid):
    """A checkpoint of demo's ``rid`` made through the API (deleted at
    teardown): ``(checkpoint id, operation id)``."""
    status, body = call(api_url, "POST", "/v1/checkpoints", conn, {
        "name": "fullstack-apidev", "resources": [{"type": rtype,
                                                   "id": rid}]})
    assert status == 202, body
    checkpoint_id = body["checkpoint"]["id"]
    cleanup(_delete_checkpoint, api_url, conn, checkpoint_id)
    done = wait_operation(api_url, conn, body["operation_id"])
    assert done["status"] == "succeeded", done
    return checkpoint_id, body["operation_id"]


def _delete_checkpoint(api_url, conn, checkpoint_id):
    status, body = call(api_url, "DELETE", f"/v1/checkpoints/{checkpoint_id}",
                        conn)
    if status == 404:
        return
    assert status == 202, body
    assert wait_operation(api_url, conn, body["operation_id"])[
        "status"] == "succeeded"


def _plan(api_url, conn, cleanup, rtype, rid):
    status, body = call(api_url, "POST", "/v1/plans", conn, {
        "name": "fullstack-apidev", "keep": 1,
        "resources": [{"type": rtype, "id": rid}]})
    assert status == 201, body
    plan_id = body["plan"]["id"]
    cleanup(call, api_url, "DELETE", f"/v1/plans/{plan_id}", conn)
    return plan_id


def test_the_api_is_in_the_catalog_and_the_reader_only_reads(
        api_url, conn, reader_conn):
    assert api_url.endswith(":8799")
    roles = set(reader_conn.session.auth.get_access(
        reader_conn.session).role_names)
    assert "member" not in roles and "reader" in roles
    assert reader_conn.current_project_id == conn.current_project_id


# Every route: (method, path, body, expected for reader, member, admin,
# other); None: not tried with that persona (it would change what the
# next rows need; the member's own runs are the other tests').
def _matrix(kp, cid, oid, pid):
    checkpoint = f"/v1/checkpoints/{cid}"
    operation = f"/v1/operations/{oid}"
    plan = f"/v1/plans/{pid}"
    protect = {"name": "x", "resources": [{"type": KP, "id": kp}]}
    new_plan = dict(protect, name="y")
    return [
        ("GET", "/v1", None, (200, 200, 200, 200)),
        ("GET", "/v1/openapi.json", None, (200, 200, 200, 200)),
        ("GET", "/v1/resources", None, (200, 200, 200, 200)),
        # a key pair is its user's (Nova): no other user's token finds
        # it, not even the reader's of the same project
        ("GET", f"/v1/resources/{KP}/{kp}", None, (404, 200, 404, 404)),
        ("POST", "/v1/checkpoints", protect, (403, None, 404, 404)),
        ("GET", "/v1/checkpoints", None, (200, 200, 200, 200)),
        ("GET", checkpoint, None, (200, 200, 200, 404)),
        ("POST", f"{checkpoint}/verify", None, (403, 202, 202, 404)),
        ("POST", f"{checkpoint}/adopt", None, (403, 403, 409, 404)),
        ("POST", "/v1/restores", {"checkpoint_id": cid, "dry_run": True},
         (403, 200, 200, 404)),
        ("POST", "/v1/restores", {"checkpoint_id": cid},
         (403, None, None, 404)),
        ("GET", "/v1/operations", None, (200, 200, 200, 200)),
        ("GET", operation, None, (200, 200, 200, 404)),
        ("POST", f"{operation}/abort", None, (403, 409, 409, 404)),
        ("POST", f"{operation}/resume", None, (403, 409, 409, 404)),
        ("GET", "/v1/plans", None, (200, 200, 200, 200)),
        ("POST", "/v1/plans", new_plan, (403, None, None, None)),
        ("GET", plan, None, (200, 200, 200, 404)),
        ("PATCH", plan, {"keep": 2}, (403, 200, 200, 404)),
        ("POST", f"{plan}/run", None, (403, None, 409, 404)),
        ("DELETE", plan, None, (403, None, None, 404)),
        ("DELETE", checkpoint, None, (403, None, None, 404)),
    ]


def test_the_persona_matrix_of_every_route_with_real_tokens(
        api_url, conn, reader_conn, admin_conn, alt_conn, cleanup, keypair):
    personas = (reader_conn, conn, admin_conn, alt_conn)
    cid, oid = _protected(api_url, conn, cleanup, KP, keypair)
    pid = _plan(api_url, conn, cleanup, KP, keypair)
    table = _matrix(keypair, cid, oid, pid)
    wrong = {}
    for method, path, body, expected in table:
        for persona, who, want in zip(NAMES, personas, expected):
            if want is None:
                continue
            got, answer = call(api_url, method, path, who, body)
            if got != want:
                wrong[(method, path, persona)] = (got, want, answer)
    assert not wrong
    tried = {(m, p) for m, p, _b, _e in table}
    templates = {(r.method, r.path) for r in routes.ROUTES}
    assert len({(m, _template(p, cid, oid, pid, keypair))
                for m, p in tried} & templates) == len(templates)
    for who in (conn, reader_conn):
        listed = call(api_url, "GET", "/v1/checkpoints", who)[1]
        assert cid in [c["id"] for c in listed["checkpoints"]]
    listed = call(api_url, "GET", "/v1/checkpoints", alt_conn)[1]
    assert cid not in [c["id"] for c in listed["checkpoints"]]
    assert pid not in [p["id"] for p in call(
        api_url, "GET", "/v1/plans", alt_conn)[1]["plans"]]


def _template(path, cid, oid, pid, kp):
    return (path.replace(cid, "{checkpoint_id}")
            .replace(oid, "{operation_id}").replace(pid, "{plan_id}")
            .replace(f"{KP}/{kp}", "{resource_type}/{resource_id}"))


def _cloud_state(conn):
    """What demo's cloud holds of what a checkpoint touches."""
    return {
        "volumes": sorted((v.id, v.status) for v in
                          conn.block_storage.volumes()),
        "backups": sorted((b.id, b.status) for b in
                          conn.block_storage.backups()),
        "snapshots": sorted((s.id, s.status) for s in
                            conn.block_storage.snapshots()),
        "keypairs": sorted(k.name for k in conn.compute.keypairs()),
    }


def test_another_project_changes_nothing_of_demos_checkpoint(
        api_url, conn, alt_conn, cleanup, bank_dir):
    volume = conn.block_storage.create_volume(
        size=1, name=f"fullstack-apidev-{secrets.token_hex(4)}")
    cleanup(teardown.delete_volume, conn, volume.id)
    conn.block_storage.wait_for_status(volume, "available", wait=300)
    cid, oid = _protected(api_url, conn, cleanup, VOLUME, volume.id)
    pid = _plan(api_url, conn, cleanup, VOLUME, volume.id)
    bank_before, cloud_before = api_http.snapshot(bank_dir), \
        _cloud_state(conn)
    assert any(cid in path for path in bank_before), "not the API's bank"
    checkpoint = f"/v1/checkpoints/{cid}"
    tries = [("GET", checkpoint, None), ("DELETE", checkpoint, None),
             ("POST", f"{checkpoint}/verify", None),
             ("POST", f"{checkpoint}/adopt", None),
             ("POST", "/v1/restores", {"checkpoint_id": cid}),
             ("POST", "/v1/restores", {"checkpoint_id": cid,
                                       "dry_run": True}),
             ("GET", f"/v1/operations/{oid}", None),
             ("POST", f"/v1/operations/{oid}/abort", None),
             ("POST", f"/v1/operations/{oid}/resume", None),
             ("GET", f"/v1/plans/{pid}", None),
             ("PATCH", f"/v1/plans/{pid}", {"keep": 9}),
             ("POST", f"/v1/plans/{pid}/run", None),
             ("DELETE", f"/v1/plans/{pid}", None)]
    for method, path, body in tries:
        status, answer = call(api_url, method, path, alt_conn, body)
        assert status == 404, (method, path, answer)
        assert "does not exist" in answer["error"]["message"]
    assert api_http.snapshot(bank_dir) == bank_before
    assert _cloud_state(conn) == cloud_before
    shown = call(api_url, "GET", checkpoint, conn)[1]["checkpoint"]
    assert shown["status"] == "available"
    assert call(api_url, "GET", f"/v1/plans/{pid}", conn)[1][
        "plan"]["keep"] == 1


def test_a_plan_runs_with_the_members_token_and_keeps_its_newest(
        api_url, conn, cleanup, keypair):
    """keep=1: the second run's checkpoint replaces the first's."""
    pid = _plan(api_url, conn, cleanup, KP, keypair)
    made = []
    for _ in range(2):
        status, body = call(api_url, "POST", f"/v1/plans/{pid}/run", conn)
        assert status == 202, body
        assert body["plan"]["last_status"] == "running"
        plan = api_http.wait_plan_run(api_url, conn, pid)
        assert plan["last_status"] == "succeeded", plan
        made.append(plan["last_checkpoint"])
        cleanup(_delete_checkpoint, api_url, conn, plan["last_checkpoint"])
    listed = call(api_url, "GET", f"/v1/checkpoints?plan_id={pid}",
                  conn)[1]["checkpoints"]
    assert [c["id"] for c in listed] == [made[1]]
    assert (listed[0]["name"], listed[0]["project_id"]) == \
        ("fullstack-apidev", conn.current_project_id)
