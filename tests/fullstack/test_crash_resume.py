"""Operations killed at real task boundaries on a real cloud, then resumed
or aborted (issue 10, item 8).

The demo-sized application (tools/cloudkit/demo_app.py: network, subnet,
router, security group, image, a server on a fixed-IP port with two
volumes holding known bytes) is made once for the module under a unique
prefix. Each case runs the real ``stackvault`` CLI as a child process with
``STACKVAULT_CRASH_AT=<atom pattern>:<point>``, so the child dies with
``os._exit(137)`` exactly at that task boundary (flows/faults.py), like
``kill -9``. Then ``stackvault operation resume`` (or ``abort``) finishes
(or undoes) it, and the cloud's REAL state is swept by the prefix:

restore, resumed   the restored copy passes ``check_restored`` (server
                   ACTIVE, volume bytes equal, same IP and MAC) and the
                   sweep finds exactly one copy of each original, every
                   one of them listed in the result's ``restored`` map
restore, aborted   the sweep finds nothing, and nothing the operation's
                   journal names is left
protect, resumed   the checkpoint is ``available`` and verifies; Cinder
                   holds exactly one backup of this checkpoint per volume
                   and no temporary snapshot
protect, aborted   the checkpoint is gone, with every backup, snapshot and
                   temporary image it made

The crash points are those whose resume is right today; the ones this
module found still wrong on devcloud are listed beside RESTORE_CRASHES
(open bugs of issue 10). A restored volume or server created just before
the kill is found by its marks (found and fixed with this module).

Protect cases run first, on the live application; then the application is
protected once (module fixture) and deleted, and the restore cases run
against that checkpoint, each deleting its restored copy afterwards.

The bank is a filesystem bank in a temporary directory, named by a
stackvault.conf given with ``--config-file``; ``XDG_DATA_HOME`` points at
a temporary directory too, so the operations database is this module's.
Needs devcloud (byte checks); every wait is bounded; everything named by
the prefix is deleted at the end, also on failure.
"""

import collections
import json
import os
import secrets
import subprocess
import sys
import time

import pytest
from openstack import exceptions as sdk_exceptions

from flows import faults
from tests.fullstack.conftest import require_devcloud
from tools.cloudkit import demo_app
from tools.cloudkit import teardown

SERVER = demo_app.SERVER
# The crash matrix is about resuming, not root disks (tested elsewhere):
# their snapshot would only add time and a restored image to the sweep.
NO_ROOT_DISK = ("--parameter", f"{SERVER}:snapshot_root_disk=false")
# 10.251.X.0/24: a network no other fullstack test uses (they pick
# 10.20-219.X.0/24 at random; the demo has 10.250.1.0/24).
CIDR_SECOND_OCTET = 251
CLI_TIMEOUT = 900
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TIMINGS = []


# -- the stackvault CLI, in a child process ----------------------------------
class World:
    """A private bank and operations database, and the CLI run against
    them (the same env for every child, so they share both)."""

    def __init__(self, base, prefix):
        self.prefix = prefix
        conf = base / "stackvault.conf"
        conf.write_text(f"[filesystem_bank]\npath = {base / 'bank'}\n")
        self.conf = str(conf)
        self.env = dict(os.environ, XDG_DATA_HOME=str(base / "data"))
        self.env.pop("STACKVAULT_CRASH_AT", None)

    def run(self, *args, crash_at=None):
        env = dict(self.env)
        if crash_at:
            env["STACKVAULT_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "protection.cli.main", "--config-file",
             self.conf, *args, "-f", "json"],
            env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT,
            cwd=ROOT)

    def ok(self, *args):
        proc = self.run(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def crashed(self, kind, crash_at, *args):
        """Run ``kind`` killed at ``crash_at``; the interrupted operation."""
        proc = self.run(kind, *args, crash_at=crash_at)
        assert proc.returncode == faults.EXIT_CODE, (proc.stdout,
                                                     proc.stderr)
        assert "fault injected" in proc.stderr, proc.stderr
        ops = [o for o in self.ok("operation", "list")
               if o["Kind"] == kind and o["Status"] == "interrupted"]
        assert len(ops) == 1, ops
        return ops[0]


# -- sweeping the cloud by the prefix ----------------------------------------
def _listings(conn):
    return {
        "server": conn.compute.servers,
        "volume": conn.block_storage.volumes,
        "network": conn.network.networks,
        "subnet": conn.network.subnets,
        "router": conn.network.routers,
        "security group": conn.network.security_groups,
        "port": conn.network.ports,
        "image": conn.image.images,
    }


def sweep(conn, prefix):
    """``{kind: {id: name}}`` of everything named with ``prefix``."""
    return {kind: {r.id: r.name for r in demo_app.ours(listing(), prefix)}
            for kind, listing in _listings(conn).items()}


def _names(found):
    return {kind: collections.Counter(ids.values())
            for kind, ids in found.items()}


def remove_prefixed(conn, prefix):
    """Delete everything named with ``prefix`` (dependents first)."""
    found = sweep(conn, prefix)
    teardown.delete_resources(conn, {
        teardown.SERVER: list(found["server"]),
        teardown.PORT: list(found["port"]),
        teardown.VOLUME: list(found["volume"]),
        teardown.IMAGE: list(found["image"]),
        teardown.ROUTER: list(found["router"]),
        teardown.NETWORK: list(found["network"]),
        teardown.SUBNET: list(found["subnet"]),
        teardown.GROUP: list(found["security group"]),
    })


def _gone(conn, type_id_pairs):
    """The (type, id) pairs that still exist."""
    getters = {teardown.SERVER: conn.compute.get_server,
               teardown.VOLUME: conn.block_storage.get_volume,
               teardown.IMAGE: conn.image.get_image,
               teardown.NETWORK: conn.network.get_network,
               teardown.SUBNET: conn.network.get_subnet,
               teardown.ROUTER: conn.network.get_router,
               teardown.GROUP: conn.network.get_security_group,
               teardown.PORT: conn.network.get_port}
    left = []
    for rtype, rid in type_id_pairs:
        get = getters.get(rtype)
        if get is None:
            continue
        try:
            get(rid)
        except sdk_exceptions.NotFoundException:
            continue
        left.append((rtype, rid))
    return left


# -- module fixtures ---------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_devcloud()
    prefix = f"svcrash-{secrets.token_hex(3)}"
    return World(tmp_path_factory.mktemp("crash"), prefix)


@pytest.fixture(scope="module")
def app(conn, world):
    """The live application; everything with the prefix (and every
    checkpoint of the bank, with its backups) goes at the end."""
    third = secrets.randbelow(200) + 20
    cidr = f"10.{CIDR_SECOND_OCTET}.{third}.0/24"
    fixed_ip = f"10.{CIDR_SECOND_OCTET}.{third}.10"
    started = time.monotonic()
    try:
        made = demo_app.create_application(conn, world.prefix, cidr,
                                           fixed_ip, say=lambda _: None)
        made["names"] = _names(sweep(conn, world.prefix))
        TIMINGS.append(("create the application",
                        time.monotonic() - started))
        yield made
    finally:
        failures = []
        listed = world.run("checkpoint", "list")
        for checkpoint in json.loads(listed.stdout or "[]"):
            proc = world.run("checkpoint", "delete", "--force",
                             checkpoint["ID"])
            if proc.returncode != 0:
                failures.append(proc.stderr)
        remove_prefixed(conn, world.prefix)
        _report_timings()
        assert listed.returncode == 0 and not failures, (listed.stderr,
                                                         failures)


@pytest.fixture(scope="module")
def checkpoint(world, app):
    started = time.monotonic()
    result = world.ok("protect", "--name", world.prefix,
                      *NO_ROOT_DISK, f"{SERVER}={app['server'].id}")
    assert result["status"] == "success", result
    TIMINGS.append(("protect (no crash)", time.monotonic() - started))
    return result["checkpoint_id"]


@pytest.fixture(scope="module")
def deleted_app(conn, world, app, checkpoint):
    """The application, protected and then deleted: restore cases' start."""
    started = time.monotonic()
    demo_app.delete_application(conn, app)
    assert not any(sweep(conn, world.prefix).values())
    TIMINGS.append(("delete the application", time.monotonic() - started))
    return app


@pytest.fixture
def timed(request):
    started = time.monotonic()
    yield
    kind = request.node.originalname.replace("test_a_killed_", "")
    crash_at = getattr(request.node, "callspec", None)
    crash_at = crash_at.params.get("crash_at", "") if crash_at else ""
    TIMINGS.append((f"{kind} {crash_at}", time.monotonic() - started))


def _report_timings():
    lines = [f"  {name:<78} {secs:6.1f} s" for name, secs in TIMINGS]
    lines.append(f"  {'total':<78} {sum(s for _, s in TIMINGS):6.1f} s")
    sys.stderr.write("\ncrash/resume timings:\n" + "\n".join(lines) + "\n")


# -- protect -----------------------------------------------------------------
def _checkpoint_leftovers(conn, checkpoint_id):
    """Cinder backups and snapshots, Glance images, of this checkpoint."""
    backups = [b for b in conn.block_storage.backups(details=True)
               if checkpoint_id in (b.description or "")
               or checkpoint_id in (b.name or "")]
    snapshots = [s for s in conn.block_storage.snapshots(details=True)
                 if checkpoint_id in (s.name or "")
                 or checkpoint_id in (s.description or "")]
    images = [i for i in conn.image.images()
              if checkpoint_id in (i.name or "")]
    return backups, snapshots, images


def _protect_crashed(world, app, crash_at):
    return world.crashed("protect", crash_at, "--name",
                         f"{world.prefix}-crash", *NO_ROOT_DISK,
                         f"{SERVER}={app['server'].id}")


PROTECT_CRASHES = [
    "OS::Cinder::Volume#*/CreateBackup:after_call",
    "OS::Cinder::Volume#*/WaitBackupAvailable:before",
    "OS::Nova::Server#*/SaveServerMetadata:before",
]


@pytest.mark.parametrize("crash_at", PROTECT_CRASHES)
def test_a_killed_protect_resumes_to_a_verified_checkpoint(
        conn, world, app, timed, crash_at):
    op = _protect_crashed(world, app, crash_at)
    checkpoint_id = op["Checkpoint"]
    try:
        result = world.ok("operation", "resume", op["ID"])
        assert result["status"] == "success", result
        shown = world.ok("checkpoint", "show", checkpoint_id)
        assert shown["status"] == "available", shown
        verified = world.ok("checkpoint", "verify", checkpoint_id)
        assert verified["status"] == "success", verified
        backups, snapshots, _ = _checkpoint_leftovers(conn, checkpoint_id)
        per_volume = collections.Counter(b.volume_id for b in backups)
        assert per_volume == {v: 1 for v in app["volumes"]}, backups
        assert all(b.status == "available" for b in backups), backups
        assert snapshots == [], snapshots
    finally:
        world.run("checkpoint", "delete", "--force", checkpoint_id)
    assert _checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])


def test_a_killed_protect_aborts_to_nothing(conn, world, app, timed):
    op = _protect_crashed(world, app,
                          "OS::Cinder::Volume#*/WaitBackupAvailable:before")
    checkpoint_id = op["Checkpoint"]
    try:
        backups, _, _ = _checkpoint_leftovers(conn, checkpoint_id)
        assert backups, "the killed protect made no backup to undo"
        result = world.ok("operation", "abort", op["ID"])
        assert result["status"] == "aborted", result
        listed = [c["ID"] for c in world.ok("checkpoint", "list")]
        assert checkpoint_id not in listed
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "aborted"
        assert _checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])
    finally:
        world.run("checkpoint", "delete", "--force", checkpoint_id)


# -- restore -----------------------------------------------------------------
def _journal_pairs(op):
    """(type, id) of everything an operation created or restored."""
    pairs = [(key.partition("#")[0], new_id)
             for key, new_id in (op.get("restored") or {}).items()]
    pairs += [(atom.partition("#")[0], new_id)
              for atom, new_id in (op.get("created") or {}).items()
              if new_id]
    return pairs


def _remove_restored(conn, world, operation_id):
    shown = world.run("operation", "show", operation_id)
    if shown.returncode == 0:
        restored = json.loads(shown.stdout).get("restored") or {}
        try:
            teardown.delete_restored(conn, restored)
        finally:
            remove_prefixed(conn, world.prefix)
    else:
        remove_prefixed(conn, world.prefix)


def _restore_crashed(world, checkpoint, crash_at):
    return world.crashed("restore", crash_at, checkpoint)


def _assert_one_copy_each(conn, world, app, restored):
    """The sweep by prefix: exactly the originals' names, once each, and
    every server, volume, network, router, group and image among them is
    one the restore recorded."""
    found = sweep(conn, world.prefix)
    assert _names(found) == app["names"], found
    recorded = set(restored.values())
    for kind in ("server", "volume", "network", "router",
                 "security group", "image"):
        assert set(found[kind]) <= recorded, (kind, found[kind], restored)


# Only the crash points whose resume is right today. Found by this module
# on devcloud and still open (issue 10), so not in the matrix yet:
# - a kill while CreateNetwork, CreateSubnet or EnsureSecurityGroup is in
#   flight (e.g. at CreateVolumeFromBackup:after_call or
#   CreateNetwork:after_save, another flow's atom): Neutron objects carry
#   no mark, so the resume makes a second network and security group of
#   the same name, or its subnet is refused as overlapping, and an abort
#   leaves the one the dead process made;
# - a kill at UploadImageData:before: the resumed upload gets HTTP 409
#   from Glance;
# - a kill at AttachVolume*:before: once in four runs the resume did not
#   finish within 12 minutes (timing-dependent, not diagnosed).
RESTORE_CRASHES = [
    "OS::Nova::Server#*/CreateServer:after_call",
]


@pytest.mark.parametrize("crash_at", RESTORE_CRASHES)
def test_a_killed_restore_resumes_to_one_copy(conn, world, deleted_app,
                                               checkpoint, timed, crash_at):
    op = _restore_crashed(world, checkpoint, crash_at)
    try:
        result = world.ok("operation", "resume", op["ID"])
        assert result["status"] == "success", result
        demo_app.check_restored(conn, deleted_app, result["restored"],
                                say=lambda _: None)
        _assert_one_copy_each(conn, world, deleted_app, result["restored"])
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "succeeded"
    finally:
        _remove_restored(conn, world, op["ID"])
    assert not any(sweep(conn, world.prefix).values())


@pytest.mark.parametrize("crash_at", [
    # Not CreateVolumeFromBackup:after_call: the networks' creates may be
    # in flight then, and an unmarked Neutron object made by the dead
    # process is left by the abort (the open bug listed above).
    "OS::Nova::Server#*/CreateServer:after_save",
])
def test_a_killed_restore_aborts_to_nothing(conn, world, deleted_app,
                                            checkpoint, timed, crash_at):
    op = _restore_crashed(world, checkpoint, crash_at)
    try:
        assert any(sweep(conn, world.prefix).values()), \
            "the killed restore made nothing to undo"
        before = world.ok("operation", "show", op["ID"])
        result = world.ok("operation", "abort", op["ID"])
        assert result["status"] == "aborted", result
        assert sweep(conn, world.prefix) == {
            kind: {} for kind in _listings(conn)}
        assert _gone(conn, _journal_pairs(before)) == []
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "aborted"
    finally:
        _remove_restored(conn, world, op["ID"])
