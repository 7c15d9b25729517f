"""The protection service on devcloud: real ``stackvault conductor``
processes on Redis (the jobboard) and MariaDB (the shared persistence)
that ``tools/devcloud up`` provides (issue 11, item 6).

The demo-sized application, its checkpoint and its deletion are the
crash tests' module fixtures (tests/fullstack/conftest.py, built from
tests/fakes/crash_world.py), on this module's ``world``: a config with
``[jobboard] address`` in a namespace of its own, so these conductors
take only this module's jobs. Every CLI command posts a job
and follows it, exactly as an operator's would; at least one conductor is
running for every command unless a test says otherwise.

* two conductors, a protect and a restore posted at the same time: both
  succeed (the restored copy is checked, the checkpoint verifies);
* a protect whose conductor is killed (``kill -9`` from the test) half
  way, once a backup exists and while a step runs: the other conductor,
  already running, claims the job once the claim expired
  (``claim_expiry`` 4 s here) and finishes it: the checkpoint is
  ``available`` and verifies, Cinder holds exactly one backup per volume
  for it and no temporary snapshot;
* two conductors running two operations, both stopped (SIGTERM) while one
  is running: both exit 0 and release their jobs at once (unclaimed on
  the jobboard when they have exited); one conductor started then runs
  both to ``succeeded``;
* a restore posted while no conductor runs waits ``queued``; a conductor
  starts and takes it, and is killed half way (some creates done, steps
  in flight, the server not yet attached); the other conductor finishes
  it: the copy is right and the sweep by prefix finds exactly one copy of
  each object, each one the restore recorded.

"Half way" is read from the operation's persisted atom states (TaskFlow's
``atomdetails`` rows in the shared database), polled every 0.1 s; which
steps were in flight at the kill, and how long each takeover took, are
printed with the module's timings.
"""

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from taskflow.jobs import backends as job_backends
from taskflow import states as tf_states

from tests.fakes.crash_world import NO_ROOT_DISK
from tests.fakes.crash_world import SERVER
from tests.fakes.crash_world import TIMINGS
from tests.fakes.crash_world import World
from tests.fakes.crash_world import assert_one_copy_each
from tests.fakes.crash_world import assert_protected_once
from tests.fakes.crash_world import checkpoint_leftovers
from tests.fakes.crash_world import remove_restored
from tests.fakes.devcloud import require_devcloud
from tests.fakes.paths import ROOT
from tools.cloudkit import demo_app
from tools.cloudkit import teardown

CLAIM_EXPIRY = 4
KEEP_ALIVE = 1
WAIT = 900              # seconds any one operation may take here
POLL = 0.1              # seconds between two looks at the atom states
# A dead conductor's job moves once its claim expired: no sooner than
# claim_expiry less the keep-alive period (its last extension) and a
# tick of slack, and here well within half a minute even on the loaded
# devcloud.
TAKEOVER_BOUNDS = (CLAIM_EXPIRY - KEEP_ALIVE - 1, 30)


def _step(atom):
    return atom.rpartition("/")[2]


def _running(atoms):
    return sorted(a for a, state in atoms.items()
                  if state == tf_states.RUNNING)


def _done(atoms, prefix):
    return [a for a, state in atoms.items()
            if state == tf_states.SUCCESS and _step(a).startswith(prefix)]


def restore_half_way(atoms):
    """Some creates done, a step in flight, no server attach done yet."""
    return len(_done(atoms, "Create")) >= 2 and \
        not _done(atoms, "Attach") and _running(atoms)


def protect_half_way(atoms):
    """A backup made, a step in flight (the checkpoint is not committed
    before the whole flow is done)."""
    return bool(_done(atoms, "CreateBackup")) and _running(atoms)


class Conductors(World):
    """The crash tests' World on a jobboard, with conductor processes."""

    def __init__(self, base, prefix):
        super().__init__(base, prefix)
        with open(self.conf, "a") as conf:
            conf.write(
                "[persistence]\nconnection = "
                f"{os.environ['STACKVAULT_PERSISTENCE']}\n"
                f"[jobboard]\naddress = {os.environ['STACKVAULT_JOBBOARD']}\n"
                f"namespace = {prefix}\nclaim_expiry = {CLAIM_EXPIRY}\n"
                f"keep_alive = {KEEP_ALIVE}\n"
                # one job each: the two of the first test go to two
                "[conductor]\nmax_jobs = 1\nwait_timeout = 0.5\n")
        self.base = base
        self.procs = {}
        self.autostart = True
        self.db = sa.create_engine(os.environ["STACKVAULT_PERSISTENCE"],
                                   pool_pre_ping=True)

    def start(self, name):
        log = self.base / f"{name}.log"
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "protection.cli.conductor",
             "--config-file", self.conf, "--name", f"{self.prefix}-{name}",
             "--log-file", str(log)],
            env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL)
        return self.procs[name]

    def alive(self):
        return [n for n, p in self.procs.items() if p.poll() is None]

    def stop(self, name, sig=signal.SIGTERM):
        """Signal a conductor and wait for it; its exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        return proc.wait(timeout=WAIT)

    def stop_all(self):
        for name in self.alive():
            assert self.stop(name) == 0, self.logs()

    def logs(self):
        return {p.name: p.read_text()[-3000:]
                for p in self.base.glob("*.log")}

    def log(self, name):
        return (self.base / f"{name}.log").read_text()

    def run(self, *args, crash_at=None):
        if self.autostart and not self.alive():
            self.start(f"auto{len(self.procs)}")
        return super().run(*args, crash_at=crash_at)

    # -- what the shared database and the jobboard say ----------------------
    def row(self, operation_id):
        """``(status, owner_pid)`` of the operation's row, as stored."""
        with self.db.connect() as conn:
            return tuple(conn.execute(sa.text(
                "SELECT status, owner_pid FROM stackvault_operations "
                "WHERE id = :id"), {"id": operation_id}).one())

    def atoms(self, operation_id):
        """``{atom name: state}`` of the operation's persisted flow (its
        flow detail is named by the operation id)."""
        with self.db.connect() as conn:
            return dict(conn.execute(sa.text(
                "SELECT name, state FROM atomdetails "
                "WHERE parent_uuid = :id"), {"id": operation_id}).all())

    def job_states(self):
        """``{operation id: job state}`` of this namespace's jobs."""
        host, _, port = os.environ["STACKVAULT_JOBBOARD"].rpartition(":")
        board = job_backends.fetch(
            f"{self.prefix}-test", {"board": "redis", "host": host,
                                    "port": int(port),
                                    "namespace": self.prefix})
        board.connect()
        try:
            return {job.details["operation_id"]: job.state
                    for job in board.iterjobs(ensure_fresh=True)}
        finally:
            board.close()

    # -- waiting --------------------------------------------------------------
    def until(self, operation_id, reached, what):
        """Poll the operation's atom states until ``reached(atoms)``; the
        atoms then. Fails if the operation ends first."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            atoms = self.atoms(operation_id)
            if reached(atoms):
                return atoms
            status, _owner = self.row(operation_id)
            assert status not in ("succeeded", "failed", "aborted"), (
                f"operation {operation_id} ended {status} before {what}")
            time.sleep(POLL)
        raise AssertionError(f"operation {operation_id}: not {what} "
                             f"within {WAIT} s; {self.logs()}")

    def owned_by(self, operation_id, proc):
        """Wait until ``proc`` owns the operation; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < WAIT:
            status, owner = self.row(operation_id)
            if owner == proc.pid:
                return time.monotonic() - started
            assert status not in ("succeeded", "failed", "aborted"), (
                status, self.logs())
            time.sleep(POLL)
        raise AssertionError(f"{proc.pid} never took {operation_id}: "
                             f"{self.logs()}")

    def kill_half_way(self, name, operation_id, reached, what):
        """kill -9 conductor ``name`` once ``reached``; what was running."""
        atoms = self.until(operation_id, reached, what)
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        return _running(atoms)

    def take_over(self, kind, operation_id, half_way):
        """A victim conductor takes the posted operation and is killed
        (kill -9) once ``half_way``; an heir, started while the victim
        owns it, finishes it. Returns what was running at the kill, the
        seconds from the kill until the heir owned it, and the ended
        operation (checked: succeeded, on the second attempt)."""
        victim = self.start(f"{kind}-victim")
        self.owned_by(operation_id, victim)
        heir = self.start(f"{kind}-heir")
        in_flight = self.kill_half_way(f"{kind}-victim", operation_id,
                                       half_way, "half way")
        took = self.owned_by(operation_id, heir)       # since the kill
        shown = self.ended(operation_id)
        assert shown["status"] == "succeeded", (shown, self.logs())
        _assert_takeover_time(took, self)
        assert f"running {kind} {operation_id} (attempt 2)" in \
            self.log(f"{kind}-heir"), self.logs()
        return in_flight, took, shown

    def wait_for(self, operation_id, done, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            shown = self.ok("operation", "show", operation_id)
            if done(shown):
                return shown
            time.sleep(0.5)
        raise AssertionError(f"operation {operation_id}: no {what} within "
                             f"{WAIT} s: {shown}; {self.logs()}")

    def ended(self, operation_id):
        return self.wait_for(operation_id, lambda s: s["status"] in (
            "succeeded", "failed", "aborted"), "end")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_devcloud()
    missing = [v for v in ("STACKVAULT_JOBBOARD", "STACKVAULT_PERSISTENCE")
               if not os.environ.get(v)]
    assert not missing, (f"{missing} not set: eval \"$(tools/devcloud "
                         "env)\" after tools/devcloud up")
    world = Conductors(tmp_path_factory.mktemp("conductor"),
                       f"svcond-{os.urandom(3).hex()}")
    yield world
    world.autostart = False
    world.stop_all()


def test_two_conductors_protect_and_restore_at_once(conn, world, app,
                                                    checkpoint):
    world.stop_all()
    world.start("a")
    world.start("b")
    protect = world.ok("protect", "--no-wait", "--name",
                       f"{world.prefix}-second",
                       f"{SERVER}={app['server'].id}")
    restore = world.ok("restore", "--no-wait", checkpoint)
    assert protect["status"] == restore["status"] == "queued"
    protected = world.ended(protect["operation_id"])
    restored = world.ended(restore["operation_id"])
    owners = {protected["owner"], restored["owner"]}
    try:
        assert len(owners) == 2, owners
        assert protected["status"] == "succeeded", (protected, world.logs())
        assert restored["status"] == "succeeded", (restored, world.logs())
        assert set(restored["result"]) >= {"restored", "left_behind",
                                           "operation_id", "status"}
        demo_app.check_restored(conn, app, restored["result"]["restored"],
                                say=lambda _: None)
        verified = world.ok("checkpoint", "verify",
                            protected["checkpoint_id"])
        assert verified["status"] == "success", verified
    finally:
        teardown.delete_restored(conn, restored["result"]["restored"]
                                 if restored.get("result") else {})
        world.ok("checkpoint", "delete", protected["checkpoint_id"])




def _timed(what, started):
    TIMINGS.append((what, time.monotonic() - started))


def _assert_takeover_time(took, world):
    low, high = TAKEOVER_BOUNDS
    assert low <= took <= high, (took, world.logs())


def test_a_protect_whose_conductor_is_killed_half_way_is_finished(
        conn, world, app):
    started = time.monotonic()
    world.stop_all()
    world.autostart = False
    checkpoint_id = None
    try:
        posted = world.ok("protect", "--no-wait", "--name",
                          f"{world.prefix}-takeover", *NO_ROOT_DISK,
                          f"{SERVER}={app['server'].id}")
        operation_id = posted["operation_id"]
        checkpoint_id = world.ok("operation", "show",
                                 operation_id)["checkpoint_id"]
        in_flight, took, _shown = world.take_over("protect", operation_id,
                                                  protect_half_way)
    finally:
        world.autostart = True
    try:
        assert_protected_once(conn, world, app, checkpoint_id)
    finally:
        if checkpoint_id:
            world.ok("checkpoint", "delete", "--force", checkpoint_id)
    assert checkpoint_leftovers(conn, checkpoint_id) == ([], [], [])
    _timed(f"conductor: protect killed half way (in flight: "
           f"{', '.join(map(_step, in_flight))}), taken over in "
           f"{took:.1f} s", started)


def test_conductors_stopped_with_jobs_posted_release_them_to_the_next(
        conn, world, app, checkpoint):
    """Two conductors each take an operation (a protect, a verify); both
    get SIGTERM while the protect runs; one conductor started afterwards
    runs both to the end."""
    started = time.monotonic()
    world.stop_all()
    world.autostart = False
    protect_cp = None
    try:
        world.start("a")
        world.start("b")
        protect = world.ok("protect", "--no-wait", "--name",
                           f"{world.prefix}-stopped", *NO_ROOT_DISK,
                           f"{SERVER}={app['server'].id}")["operation_id"]
        verify = world.ok("checkpoint", "verify", "--no-wait",
                          checkpoint)["operation_id"]
        protect_cp = world.ok("operation", "show",
                              protect)["checkpoint_id"]
        world.until(protect, _running, "running")
        running = {name: world.procs[name] for name in ("a", "b")}
        for proc in running.values():
            proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(timeout=WAIT)
                 for name, proc in running.items()}
        stopped = time.monotonic()
        jobs = world.job_states()
        for name in running:
            world.procs.pop(name)
        assert codes == {"a": 0, "b": 0}, (codes, world.logs())
        assert f"operation {protect} stopped at a task boundary; " \
               "released" in world.log("a") + world.log("b"), world.logs()
        assert world.ok("operation", "show", protect)["status"] == \
            "interrupted"
        # released, not left claimed until the claim expires
        assert jobs[protect] == tf_states.UNCLAIMED, jobs
        assert jobs.get(verify, tf_states.UNCLAIMED) == \
            tf_states.UNCLAIMED, jobs
        world.start("c")
        protected = world.ended(protect)
        verified = world.ended(verify)
        ran_again = time.monotonic() - stopped
    finally:
        world.autostart = True
    try:
        assert protected["status"] == "succeeded", (protected, world.logs())
        assert verified["status"] == "succeeded", (verified, world.logs())
        assert world.ok("checkpoint", "show",
                        protect_cp)["status"] == "available"
        backups, snapshots, _ = checkpoint_leftovers(conn, protect_cp)
        assert collections.Counter(b.volume_id for b in backups) == {
            v: 1 for v in app["volumes"]}, backups
        assert snapshots == [], snapshots
    finally:
        if protect_cp:
            world.ok("checkpoint", "delete", "--force", protect_cp)
    assert checkpoint_leftovers(conn, protect_cp) == ([], [], [])
    _timed(f"conductor: both stopped, one started ({ran_again:.1f} s "
           "from the stop to both ended)", started)


def test_a_restore_whose_conductor_is_killed_half_way_is_finished(
        conn, world, deleted_app, checkpoint):
    """Posted while no conductor runs (it waits queued); the conductor
    that takes it is killed half way; the other one finishes it."""
    started = time.monotonic()
    world.stop_all()
    world.autostart = False
    try:
        operation_id = world.ok("restore", "--no-wait",
                                checkpoint)["operation_id"]
        time.sleep(1)
        assert world.ok("operation", "show", operation_id)["status"] == \
            "queued"
        in_flight, took, shown = world.take_over("restore", operation_id,
                                                 restore_half_way)
    finally:
        world.autostart = True
    try:
        restored = shown["result"]["restored"]
        demo_app.check_restored(conn, deleted_app, restored,
                                say=lambda _: None)
        assert_one_copy_each(conn, world, deleted_app, restored)
    finally:
        remove_restored(conn, world, operation_id)
    _timed(f"conductor: restore killed half way (in flight: "
           f"{', '.join(map(_step, in_flight))}), taken over in "
           f"{took:.1f} s", started)
