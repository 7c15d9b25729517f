"""The API posts its operations to the jobboard; conductors run them with
a Keystone trust of the caller's (issue 22, item 5), on devcloud.

A ``stackvault-api`` and ``stackvault conductor`` processes of this
checkout share one config: devcloud's ``[keystone_authtoken]``, this
test's port and filesystem bank, devcloud's MariaDB (``[persistence]``),
devcloud's Redis in a jobboard namespace of this module's own, and
``[trustee]`` = devcloud's service user ``stackvault``. With the
member's real token:

* a key pair is protected through the API (202): the operation records
  a trust id and no cloud name; the trust is in Keystone (listed by the
  admin) while the job waits, the job and the row carry no token and no
  password; a conductor started then runs it to ``available``; the key
  pair is deleted, restored through the API into the member's own
  key pairs (the conductor acted *as* the member: impersonation); after
  each operation its trust is gone from Keystone, and neither the token
  nor a password is in the operations row, the flow details or the
  conductor's and the API's logs;
* a volume's protect whose conductor is killed (``kill -9``) while a
  step runs is finished by another conductor, with the same trust.

Everything is cleaned up: key pairs, volume, checkpoints (deleted
through the API: their backups too), trusts, the namespace's jobs.
"""

import json
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time

import pytest
import redis
import sqlalchemy as sa

from tests.fakes.paths import ROOT
from tools.cloudkit import api_http
from tools.cloudkit.api_http import call
from tools.cloudkit.api_http import wait_operation
from tools.cloudkit import teardown

KEYPAIR = "OS::Nova::KeyPair"
VOLUME = "OS::Cinder::Volume"
WAIT = 600


class Deployment:
    """The API and conductor processes, their config and what they use."""

    def __init__(self, base, prefix):
        self.base, self.prefix = base, prefix
        missing = [v for v in ("STACKVAULT_JOBBOARD",
                               "STACKVAULT_PERSISTENCE")
                   if not os.environ.get(v)]
        try:
            deployed = api_http.deployed_api_conf()
        except api_http.NoDeployedApi:
            deployed = None
        if deployed is None or missing:
            pytest.skip("needs devcloud's API config, Redis and MariaDB "
                        "(tools/devcloud env)")
        authtoken = deployed["keystone_authtoken"]
        self.port = api_http.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.trustee_password = authtoken["password"]
        overrides = {
            "api": {"port": self.port},
            "persistence": {
                "connection": os.environ["STACKVAULT_PERSISTENCE"]},
            "jobboard": {
                "address": os.environ["STACKVAULT_JOBBOARD"],
                "namespace": prefix, "claim_expiry": "4", "keep_alive": "1"},
            "conductor": {"max_jobs": "1", "wait_timeout": "0.5"}}
        if not deployed.has_section("trustee"):     # written before it was
            overrides["trustee"] = {
                "auth_type": "password", "auth_url": authtoken["auth_url"],
                "username": authtoken["username"],
                "password": authtoken["password"],
                "user_domain_name": authtoken["user_domain_name"]}
        self.conf = api_http.own_api_conf(base, filename="stackvault.conf",
                                          **overrides)
        self.api = None
        self.conductors = {}
        self.operations = []      # posted here: their trusts go at the end
        self.db = sa.create_engine(os.environ["STACKVAULT_PERSISTENCE"],
                                   pool_pre_ping=True)
        host, _, port = os.environ["STACKVAULT_JOBBOARD"].rpartition(":")
        self.redis = redis.Redis(host=host, port=int(port))

    def start_api(self):
        with open(self.base / "api.log", "ab") as out:
            self.api = subprocess.Popen(
                [str(pathlib.Path(sys.executable).parent / "stackvault-api"),
                 "--config-file", str(self.conf)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while not api_http.answers(self.url, timeout=1):
            assert self.api.poll() is None, self.log("api")
            assert time.monotonic() < deadline, "the API did not answer"
            time.sleep(0.2)

    def start_conductor(self, name):
        self.conductors[name] = subprocess.Popen(
            [sys.executable, "-m", "protection.cli.conductor",
             "--config-file", str(self.conf), "--name",
             f"{self.prefix}-{name}", "--log-file",
             str(self.base / f"{name}.log")],
            cwd=ROOT, stdin=subprocess.DEVNULL)
        return self.conductors[name]

    def ensure_conductor(self):
        if not any(p.poll() is None for p in self.conductors.values()):
            self.start_conductor(f"c{len(self.conductors)}")

    def stop_conductors(self):
        """SIGTERM every running conductor; each exits 0."""
        for name, proc in self.conductors.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=60) == 0, self.log(name)

    def log(self, name):
        path = self.base / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def logs(self):
        return "\n".join(p.read_text() for p in self.base.glob("*.log"))

    def stop(self):
        for proc in [self.api, *self.conductors.values()]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    # -- what the database and Redis hold -----------------------------------
    def row(self, operation_id):
        with self.db.connect() as conn:
            return conn.execute(sa.text(
                "SELECT * FROM stackvault_operations WHERE id = :id"),
                {"id": operation_id}).mappings().one()

    def flow_text(self, operation_id):
        """Everything TaskFlow keeps of the operation (flow detail, atom
        details: meta, results, failures), as text."""
        with self.db.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT * FROM flowdetails WHERE uuid = :id"),
                {"id": operation_id}).mappings().all()
            rows += conn.execute(sa.text(
                "SELECT * FROM atomdetails WHERE parent_uuid = :id"),
                {"id": operation_id}).mappings().all()
        return repr([dict(r) for r in rows])

    def running_atoms(self, operation_id):
        with self.db.connect() as conn:
            return [r.name for r in conn.execute(sa.text(
                "SELECT name FROM atomdetails WHERE parent_uuid = :id "
                "AND state = 'RUNNING'"), {"id": operation_id})]

    def jobboard_text(self):
        """Every value under this namespace in Redis, as text."""
        found = []
        for key in self.redis.scan_iter(f"{self.prefix}*"):
            kind = self.redis.type(key).decode()
            value = {"hash": self.redis.hgetall, "string": self.redis.get,
                     "list": lambda k: self.redis.lrange(k, 0, -1),
                     "set": self.redis.smembers,
                     "zset": lambda k: self.redis.zrange(k, 0, -1)}.get(
                kind, lambda k: b"")(key)
            found.append(f"{key!r} {value!r}")
        return "\n".join(found)

    def drop_jobs(self):
        for key in self.redis.scan_iter(f"{self.prefix}*"):
            self.redis.delete(key)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, admin_conn):
    prefix = f"fullstack-trusts-{secrets.token_hex(3)}"
    found = Deployment(tmp_path_factory.mktemp("trusts"), prefix)
    found.start_api()
    yield found
    found.stop()
    found.drop_jobs()
    for operation_id in found.operations:     # a test that failed half way
        trust_id = json.loads(found.row(operation_id)["args"]).get(
            "trust_id")
        if trust_id:
            admin_conn.identity.delete_trust(trust_id, ignore_missing=True)
    found.db.dispose()


def _trusts(admin_conn, user_id):
    """The ids of the user's trusts as trustor, as Keystone lists them."""
    return {t.id for t in admin_conn.identity.trusts(trustor_user_id=user_id)}


def _secrets(conn, deployment):
    found = [conn.auth_token, deployment.trustee_password]
    password = conn.config.config.get("auth", {}).get("password")
    return [s for s in found + [password] if s]


def _assert_no_secret(text, secrets_, where):
    for secret in secrets_:
        assert secret not in text, f"a token or password is in {where}"


def _posted(deployment, conn, path, body):
    """POST an operation; its id once it is queued (no conductor yet may
    be running)."""
    started = time.monotonic()
    status, answer = call(deployment.url, "POST", path, conn, body)
    assert status == 202, answer
    sys.stderr.write(f"\nPOST {path} (trust made, job posted): "
                     f"{time.monotonic() - started:.2f} s\n")
    deployment.operations.append(answer["operation_id"])
    return answer["operation_id"]


def _delete_checkpoint(deployment, conn, checkpoint_id):
    deployment.ensure_conductor()
    status, answer = call(deployment.url, "DELETE",
                          f"/v1/checkpoints/{checkpoint_id}", conn)
    if status == 202:
        done = wait_operation(deployment.url, conn, answer["operation_id"],
                              timeout=WAIT)
        assert done["status"] == "succeeded", done


def _ended(deployment, conn, operation_id):
    """The operation once it ended (``interrupted`` is not an end: a
    conductor takes it over once the killed one's claim expired)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = wait_operation(deployment.url, conn, operation_id,
                               timeout=WAIT)
        if found["status"] in ("succeeded", "failed", "aborted"):
            return found
        time.sleep(0.5)
    raise AssertionError(f"operation {operation_id} did not end")


def _trust_ended(deployment, conn, admin_conn, operation_id, trust_id):
    """Wait until the operation's trust is gone from Keystone and its row
    says so (the conductor deletes it just after the operation's end is
    recorded, which the API shows at once); the row's args."""
    deadline = time.monotonic() + 60
    while True:
        args = json.loads(deployment.row(operation_id)["args"])
        if "trust_id" not in args:
            break
        assert time.monotonic() < deadline, (args, deployment.logs())
        time.sleep(0.2)
    assert args["ended_trust_id"] == trust_id      # the same trust
    assert trust_id not in _trusts(admin_conn, conn.current_user_id)
    return args


def _run_queued(deployment, conn, admin_conn, operation_id, scan):
    """The operation is queued with a trust in Keystone and nothing
    secret in its job or row; a conductor started now runs it (and is
    stopped after); its trust is gone after. The ended operation."""
    row = deployment.row(operation_id)
    assert row["status"] == "queued"
    args = row["args"]
    assert '"trust_id"' in args and '"cloud"' not in args, args
    trust_id = json.loads(args)["trust_id"]
    assert trust_id in _trusts(admin_conn, conn.current_user_id)
    _assert_no_secret(deployment.jobboard_text(), scan, "the Redis job")
    deployment.ensure_conductor()
    done = wait_operation(deployment.url, conn, operation_id, timeout=WAIT)
    _trust_ended(deployment, conn, admin_conn, operation_id, trust_id)
    deployment.stop_conductors()     # the next operation waits queued
    row = deployment.row(operation_id)
    for where, text in (("the operations row", repr(dict(row))),
                        ("the flow details",
                         deployment.flow_text(operation_id))):
        _assert_no_secret(text, scan, where)
    return done


def test_protect_and_restore_through_the_api_run_with_the_callers_trust(
        deployment, conn, admin_conn, cleanup):
    name = f"fullstack-trusts-{secrets.token_hex(3)}"
    original = conn.compute.create_keypair(name=name)
    cleanup(teardown.delete_keypair, conn, name)
    scan = _secrets(conn, deployment)
    before = _trusts(admin_conn, conn.current_user_id)

    operation_id = _posted(deployment, conn, "/v1/checkpoints", {
        "name": name, "resources": [{"type": KEYPAIR, "id": name}]})
    done = _run_queued(deployment, conn, admin_conn, operation_id, scan)
    assert done["status"] == "succeeded", (done, deployment.logs()[-3000:])
    checkpoint_id = done["checkpoint_id"]
    cleanup(_delete_checkpoint, deployment, conn, checkpoint_id)
    status, shown = call(deployment.url, "GET",
                         f"/v1/checkpoints/{checkpoint_id}", conn)
    assert shown["checkpoint"]["status"] == "available", shown

    teardown.delete_keypair(conn, name)
    operation_id = _posted(deployment, conn, "/v1/restores",
                           {"checkpoint_id": checkpoint_id})
    done = _run_queued(deployment, conn, admin_conn, operation_id, scan)
    assert done["status"] == "succeeded", (done, deployment.logs()[-3000:])
    restored = conn.compute.get_keypair(name)   # the member's own again
    assert restored.public_key == original.public_key
    assert _trusts(admin_conn, conn.current_user_id) == before
    _assert_no_secret(deployment.logs(), scan, "the logs")


def test_a_conductor_killed_mid_protect_leaves_it_to_another_with_the_trust(
        deployment, conn, admin_conn, cleanup):
    deployment.stop_conductors()        # this test starts its own
    volume = conn.block_storage.create_volume(
        size=1, name=f"fullstack-trusts-{secrets.token_hex(3)}")
    cleanup(teardown.delete_volume, conn, volume.id)
    conn.block_storage.wait_for_status(volume, "available", wait=300)
    scan = _secrets(conn, deployment)

    operation_id = _posted(deployment, conn, "/v1/checkpoints", {
        "name": "fullstack-trusts-kill",
        "resources": [{"type": VOLUME, "id": volume.id}]})
    trust_id = json.loads(deployment.row(operation_id)["args"])[
        "trust_id"]
    first = deployment.start_conductor("killed")
    deadline = time.monotonic() + WAIT
    steps = []
    while not steps:
        assert deployment.row(operation_id)["status"] in ("queued",
                                                          "running")
        assert time.monotonic() < deadline, deployment.log("killed")
        time.sleep(0.1)
        steps = deployment.running_atoms(operation_id)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = time.monotonic()
    deployment.start_conductor("heir")
    done = _ended(deployment, conn, operation_id)
    sys.stderr.write(f"\nkilled while {steps} ran; the heir finished "
                     f"{time.monotonic() - killed_at:.1f} s later\n")
    cleanup(_delete_checkpoint, deployment, conn, done["checkpoint_id"])
    assert done["status"] == "succeeded", (done, deployment.log("heir"))
    _trust_ended(deployment, conn, admin_conn, operation_id, trust_id)
    assert f"{operation_id}" in deployment.log("heir")
    _assert_no_secret(deployment.logs(), scan, "the logs")


def _plan_ran(deployment, conn, plan_id):
    """The plan once its run ended (``last_status`` no longer
    ``running``)."""
    deadline = time.monotonic() + WAIT
    while True:
        status, shown = call(deployment.url, "GET", f"/v1/plans/{plan_id}",
                             conn)
        assert status == 200, shown
        if shown["plan"]["last_status"] != "running":
            return shown["plan"]
        assert time.monotonic() < deadline, deployment.logs()[-3000:]
        time.sleep(0.3)


def _plan_protects(deployment, plan_id):
    """The args of the plan's protect operations, oldest first (each also
    noted for the module's trust cleanup)."""
    with deployment.db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, args FROM stackvault_operations WHERE kind = "
            "'protect' ORDER BY created_at")).mappings().all()
    found = []
    for row in rows:
        args = json.loads(row["args"])
        follow = args.get("follow_up") or args.get("followed_up") or {}
        if follow.get("plan") == plan_id:
            if row["id"] not in deployment.operations:
                deployment.operations.append(row["id"])
            found.append((row["id"], args))
    return found


def _delete_plan(deployment, conn, plan_id):
    call(deployment.url, "DELETE", f"/v1/plans/{plan_id}", conn)


def test_a_plan_run_is_posted_and_its_retention_runs_with_its_trust(
        deployment, conn, admin_conn, cleanup):
    name = f"fullstack-plan-{secrets.token_hex(3)}"
    conn.compute.create_keypair(name=name)
    cleanup(teardown.delete_keypair, conn, name)
    scan = _secrets(conn, deployment)
    before = _trusts(admin_conn, conn.current_user_id)
    status, made = call(deployment.url, "POST", "/v1/plans", conn, {
        "name": name, "keep": 1,
        "resources": [{"type": KEYPAIR, "id": name}]})
    assert status == 201, made
    plan_id = made["plan"]["id"]
    cleanup(_delete_plan, deployment, conn, plan_id)
    deployment.ensure_conductor()

    ran = []
    for _ in range(2):
        started = time.monotonic()
        status, answer = call(deployment.url, "POST",
                              f"/v1/plans/{plan_id}/run", conn)
        assert status == 202, answer
        assert answer["plan"]["last_status"] == "running"
        plan = _plan_ran(deployment, conn, plan_id)
        sys.stderr.write(f"\nplan run through the API and a conductor: "
                         f"{time.monotonic() - started:.1f} s\n")
        assert plan["last_status"] == "succeeded", (
            plan, deployment.logs()[-3000:])
        cleanup(_delete_checkpoint, deployment, conn,
                plan["last_checkpoint"])
        ran.append(plan["last_checkpoint"])

    status, shown = call(deployment.url, "GET",
                         f"/v1/checkpoints/{ran[1]}", conn)
    assert status == 200, shown
    assert (shown["checkpoint"]["project_id"], shown["checkpoint"][
        "plan_id"]) == (conn.current_project_id, plan_id)
    # keep=1: the second run's retention deleted the first checkpoint
    status, _gone = call(deployment.url, "GET", f"/v1/checkpoints/{ran[0]}",
                         conn)
    assert status == 404
    protects = _plan_protects(deployment, plan_id)
    assert len(protects) == 2
    # each run's trust is gone (deleted after the retention and record)
    deadline = time.monotonic() + 60
    while _trusts(admin_conn, conn.current_user_id) != before:
        assert time.monotonic() < deadline, deployment.logs()[-3000:]
        time.sleep(0.3)
    for operation_id, args in _plan_protects(deployment, plan_id):
        assert "trust_id" not in args and args["ended_trust_id"], args
        assert "follow_up" not in args and "cloud" not in args
        _assert_no_secret(deployment.flow_text(operation_id), scan,
                          "the flow details")
    with deployment.db.connect() as db:
        deletes = db.execute(sa.text(
            "SELECT args, status, project_id FROM stackvault_operations "
            "WHERE kind = 'delete' AND checkpoint = :id"),
            {"id": ran[0]}).mappings().all()
    [delete] = deletes
    delete_args = json.loads(delete["args"])
    assert (delete["status"], delete["project_id"]) == (
        "succeeded", conn.current_project_id)
    assert delete_args["trust_lent_by"] == protects[1][0] and \
        "cloud" not in delete_args
    _assert_no_secret(deployment.logs(), scan, "the logs")
