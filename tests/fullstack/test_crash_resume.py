"""Operations killed at real task boundaries on a real cloud, then resumed
or aborted (issue 10, item 8).

The demo-sized application (tools/cloudkit/demo_app.py: network, subnet,
router, security group, image, a server on a fixed-IP port with two
volumes holding known bytes) is made once for the module under a unique
prefix. Each case runs the real ``stackvault`` CLI as a child process with
``STACKVAULT_CRASH_AT=<atom pattern>:<point>``, so the child dies with
``os._exit(137)`` exactly at that task boundary (flows/faults.py), like
``kill -9``.

To keep CI time down, the crash points come in *chains*: the operation is
killed at the first point, ``operation resume`` is run killed at the
second, and so on; every crash is followed by a resume (the next one), the
last by a resume to the end (or an abort). Each point of a chain comes
later in the flow than the one before, so the resumed run always reaches
it. After every crash the cloud is swept (no original restored twice, at
most one backup and temporary snapshot per volume); at the end:

restore, resumed   the restored copy passes ``check_restored`` (server
                   ACTIVE, volume bytes equal, same IP and MAC), the sweep
                   finds exactly one copy of each original, every one of
                   them listed in the result's ``restored`` map, and no
                   Neutron object of the restored network still carries
                   a stackvault mark
restore, aborted   the sweep finds nothing, and nothing the operation's
                   journal names is left
protect, resumed   the checkpoint is ``available`` and verifies; Cinder
                   holds exactly one backup of this checkpoint per volume
                   and no temporary snapshot
protect, aborted   the checkpoint is gone, with every backup, snapshot and
                   temporary image it made (also when killed before the
                   backup's id was journaled: found by its mark, and when
                   the operations database is gone: found in the bank)

Protect cases run first, on the live application; then the application is
protected once (module fixture) and deleted, and the restore cases run
against that checkpoint, each deleting its restored copy afterwards.

The bank is a filesystem bank in a temporary directory, named by a
stackvault.conf given with ``--config-file``; ``XDG_DATA_HOME`` points at
a temporary directory too, so the operations database is this module's.
Needs devcloud (byte checks); every wait is bounded; everything named by
the prefix is deleted at the end, also on failure. The timings of every
case are printed at the end of the module (doc/operations.rst lists them).
"""

import collections
import copy
import secrets
import time

import pytest
from openstack import exceptions as sdk_exceptions

from flows import faults
from tests.fakes.crash_world import NO_ROOT_DISK
from tests.fakes.crash_world import SERVER
from tests.fakes.crash_world import TIMINGS
from tests.fakes.crash_world import World
from tests.fakes.crash_world import assert_one_copy_each
from tests.fakes.crash_world import assert_protected_once
from tests.fakes.crash_world import checkpoint_leftovers
from tests.fakes.crash_world import listings
from tests.fakes.crash_world import names
from tests.fakes.crash_world import remove_restored
from tests.fakes.crash_world import sweep
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit import demo_app
from tools.cloudkit import teardown


# -- sweeping the cloud by the prefix ----------------------------------------
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


# -- module fixtures (app, checkpoint, deleted_app: in the conftest) --------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_devcloud()
    prefix = f"svcrash-{secrets.token_hex(3)}"
    return World(tmp_path_factory.mktemp("crash"), prefix)


@pytest.fixture
def timed(request):
    started = time.monotonic()
    yield
    spec = getattr(request.node, "callspec", None)
    params = " ".join(map(str, spec.params.values())) if spec else ""
    TIMINGS.append((f"{request.node.originalname} {params}",
                    time.monotonic() - started))


# -- chains of crashes -------------------------------------------------------
def crash_chain(world, kind, points, args, after_each, started):
    """Run ``kind`` (with ``args``) killed at ``points[0]``, then resume it
    killed at each next point in turn: every crash is followed by a resume
    (the next one, or the caller's last). ``after_each(op)`` sweeps the
    cloud after every crash; the operation is appended to ``started`` at
    once (for the caller's cleanup) and returned.

    Each point must come later in the flow than the one before it (the
    same linear flow, or causally after: a restore's server after its
    children), so that the resumed run always reaches it."""
    op = world.crashed(kind, points[0], *args)
    started.append(op)
    after_each(op)
    for point in points[1:]:
        proc = world.run("operation", "resume", op["ID"], crash_at=point)
        assert proc.returncode == faults.EXIT_CODE, (point, proc.stdout,
                                                     proc.stderr)
        assert "fault injected" in proc.stderr, proc.stderr
        after_each(op)
    return op


# -- protect -----------------------------------------------------------------


def _assert_no_duplicate_backups(conn, app, checkpoint_id):
    """The sweep after every crash: at most one backup and one temporary
    snapshot of each volume for this checkpoint (marked by its id)."""
    backups, snapshots, _ = checkpoint_leftovers(conn, checkpoint_id)
    for found in (backups, snapshots):
        per_volume = collections.Counter(o.volume_id for o in found)
        assert set(per_volume) <= set(app["volumes"]), found
        assert all(n == 1 for n in per_volume.values()), found


# Each chain: a protect killed at the first point, resumed and killed at
# the next, ... then resumed to the end. A volume's points follow its
# linear flow (the '*' matches either volume: the one killed at a point
# always reaches the next); the whole flow's point comes after every atom.
PROTECT_CHAINS = {
    "volume": [
        "OS::Cinder::Volume#*/CreateTemporarySnapshot:after_call",
        "OS::Cinder::Volume#*/WaitSnapshotAvailable:before",
        "OS::Cinder::Volume#*/CreateBackup:after_call",
        "OS::Cinder::Volume#*/WaitBackupAvailable:before",
        "OS::Cinder::Volume#*/DeleteTemporarySnapshot:before",
        "OS::Cinder::Volume#*/SaveVolumeMetadata:after_save",
        "protect:after_save",
    ],
    "image-server": [
        "OS::Glance::Image#*/SaveImageData:before",
        "OS::Glance::Image#*/SaveImageMetadata:before",
        "OS::Nova::Server#*/SaveServerMetadata:after_save",
        "protect:after_save",
    ],
}


def _protect_args(world, app):
    return ("--name", f"{world.prefix}-crash", *NO_ROOT_DISK,
            f"{SERVER}={app['server'].id}")


@pytest.mark.parametrize("chain", sorted(PROTECT_CHAINS))
def test_a_protect_killed_again_and_again_resumes_to_one_checkpoint(
        conn, world, app, timed, chain):
    started = []
    try:
        op = crash_chain(
            world, "protect", PROTECT_CHAINS[chain],
            _protect_args(world, app), lambda op: _assert_no_duplicate_backups(
                conn, app, op["Checkpoint"]), started)
        checkpoint_id = op["Checkpoint"]
        result = world.ok("operation", "resume", op["ID"])
        assert result["status"] == "success", result
        assert_protected_once(conn, world, app, checkpoint_id)
    finally:
        for op in started:
            world.run("checkpoint", "delete", "--force", op["Checkpoint"])
    assert checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])


def test_a_protect_killed_before_its_journal_write_aborts_to_nothing(
        conn, world, app, timed):
    """Killed after Cinder answered, before the backup id was journaled:
    the abort finds the backup by its mark."""
    op = world.crashed("protect",
                       "OS::Cinder::Volume#*/CreateBackup:after_call",
                       *_protect_args(world, app))
    checkpoint_id = op["Checkpoint"]
    try:
        backups, _, _ = checkpoint_leftovers(conn, checkpoint_id)
        assert backups, "the killed protect made no backup to undo"
        result = world.ok("operation", "abort", op["ID"])
        assert result["status"] == "aborted", result
        listed = [c["ID"] for c in world.ok("checkpoint", "list")]
        assert checkpoint_id not in listed
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "aborted"
        assert checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])
    finally:
        world.run("checkpoint", "delete", "--force", checkpoint_id)


def test_delete_force_without_the_operations_database(conn, world, app,
                                                     tmp_path, timed):
    """The protect's database is gone (another host's): delete --force
    still finds its backups and snapshots, by what it recorded in the
    bank the moment Cinder answered."""
    op = world.crashed("protect",
                       "OS::Cinder::Volume#*/WaitBackupAvailable:before",
                       *_protect_args(world, app))
    checkpoint_id = op["Checkpoint"]
    stranger = copy.copy(world)
    stranger.env = dict(world.env, XDG_DATA_HOME=str(tmp_path / "other"))
    try:
        assert checkpoint_leftovers(conn, checkpoint_id)[0]
        result = stranger.ok("checkpoint", "delete", "--force",
                             checkpoint_id)
        assert result["status"] == "success", result
        assert checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])
    finally:
        world.run("operation", "abort", op["ID"])
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


def _assert_no_duplicates(conn, world, app):
    """The sweep after every crash: no original restored twice."""
    found = names(sweep(conn, world.prefix))
    for kind, counts in found.items():
        for name, count in counts.items():
            assert count <= app["names"][kind][name], (kind, name, found)


# Each chain: a restore killed at the first point, resumed and killed at
# the next, ... then resumed to the end. Its points follow one path of
# the flow: a network's linear chain, then the server (restored after
# every child), then one branch of the server's graph.
RESTORE_CHAINS = {
    "network-ports": [
        "OS::Neutron::Network#*/CreateNetwork:after_call",
        "OS::Neutron::Network#*/CreateSubnet-*:after_call",
        "OS::Neutron::Network#*/EnsureRouter-*:after_call",
        "OS::Neutron::Network#*/AddRouterInterface-*:after_save",
        # Ports are created while the server boots (pipelined restore):
        # neither create comes surely before the other, so the chain
        # goes on from the server's, and AttachPort is after both.
        "OS::Nova::Server#*/CreateServer:after_call",
        "OS::Nova::Server#*/WaitServerActive:before",
        "OS::Nova::Server#*/AttachPort*:before",
        "OS::Nova::Server#*/WaitPortAttached*:before",
    ],
    "image-volumes": [
        "OS::Glance::Image#*/CreateImage:after_call",
        "OS::Glance::Image#*/UploadImageData:before",
        "OS::Glance::Image#*/CheckRestoredImage:before",
        "OS::Nova::Server#*/AttachVolume*:before",
        "OS::Nova::Server#*/WaitVolumeInUse*:before",
    ],
}


@pytest.mark.parametrize("chain", sorted(RESTORE_CHAINS))
def test_a_restore_killed_again_and_again_resumes_to_one_copy(
        conn, world, deleted_app, checkpoint, timed, chain):
    started = []
    try:
        op = crash_chain(world, "restore", RESTORE_CHAINS[chain],
                         [checkpoint], lambda _op: _assert_no_duplicates(
                             conn, world, deleted_app), started)
        result = world.ok("operation", "resume", op["ID"])
        assert result["status"] == "success", result
        demo_app.check_restored(conn, deleted_app, result["restored"],
                                say=lambda _: None)
        assert_one_copy_each(conn, world, deleted_app, result["restored"])
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "succeeded"
    finally:
        for op in started:
            remove_restored(conn, world, op["ID"])
    assert not any(sweep(conn, world.prefix).values())


ABORT_CHAIN = [
    # the networks' and the security group's creates may be in flight at
    # this point: what the dead process made is found by its tags
    "OS::Cinder::Volume#*/CreateVolumeFromBackup:after_call",
    "OS::Nova::Server#*/CreateServer:after_save",
]


def test_a_killed_restore_aborts_to_nothing(conn, world, deleted_app,
                                            checkpoint, timed):
    started = []
    try:
        op = crash_chain(world, "restore", ABORT_CHAIN, [checkpoint],
                         lambda _op: _assert_no_duplicates(
                             conn, world, deleted_app), started)
        assert any(sweep(conn, world.prefix).values()), \
            "the killed restore made nothing to undo"
        before = world.ok("operation", "show", op["ID"])
        result = world.ok("operation", "abort", op["ID"])
        assert result["status"] == "aborted", result
        assert sweep(conn, world.prefix) == {
            kind: {} for kind in listings(conn)}
        assert _gone(conn, _journal_pairs(before)) == []
        assert world.ok("operation", "show", op["ID"])["status"] == \
            "aborted"
    finally:
        for op in started:
            remove_restored(conn, world, op["ID"])
