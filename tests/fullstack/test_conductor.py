"""The protection service on devcloud: real ``stackvault conductor``
processes on Redis (the jobboard) and MariaDB (the shared persistence)
that ``tools/devcloud up`` provides (issue 11, item 6).

The demo-sized application, its checkpoint and its deletion are the
fixtures of ``test_crash_resume`` (reused, with this module's ``world``:
a config with ``[jobboard] address`` in a namespace of its own, so these
conductors take only this module's jobs). Every CLI command posts a job
and follows it, exactly as an operator's would; at least one conductor is
running for every command unless a test says otherwise.

* two conductors, a protect and a restore posted at the same time: both
  succeed (the restored copy is checked, the checkpoint verifies);
* with every conductor stopped, a restore is posted (``--no-wait``, it
  waits ``queued``); a conductor starts and takes it; it dies half way
  (``STACKVAULT_CRASH_AT``: ``os._exit`` as the server is created, like
  kill -9 at that moment); its claim
  expires (``claim_expiry`` 4 s here) and another conductor finishes the
  restore: the copy is right and the sweep by prefix finds exactly one
  copy of each object, each one the restore recorded.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from flows import faults
from tests.fullstack.conftest import require_devcloud
from tests.fullstack.test_crash_resume import ROOT
from tests.fullstack.test_crash_resume import SERVER
from tests.fullstack.test_crash_resume import World
from tests.fullstack.test_crash_resume import _assert_one_copy_each
from tests.fullstack.test_crash_resume import _remove_restored
from tests.fullstack import test_crash_resume as crash
from tools.cloudkit import demo_app
from tools.cloudkit import teardown

# The crash tests' module fixtures, on this module's ``world``.
app = crash.app
checkpoint = crash.checkpoint
deleted_app = crash.deleted_app

CLAIM_EXPIRY = 4
# Where the first conductor dies (os._exit, as kill -9: flows/faults.py):
# half way, once the server exists (its volumes, image and network are
# restored, the server is not yet ACTIVE nor attached). A kill at a
# random moment is not used: a kill while some Neutron steps are in
# flight still breaks their re-run (open bugs of issue 10, listed in
# test_crash_resume; e.g. AddRouterInterface re-run gets "Router already
# has a port on subnet").
KILL_AT = "OS::Nova::Server#*/CreateServer:after_call"
WAIT = 900              # seconds any one operation may take here


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
                "keep_alive = 1\n"
                # one job each: the two of the first test go to two
                "[conductor]\nmax_jobs = 1\nwait_timeout = 0.5\n")
        self.base = base
        self.procs = {}
        self.autostart = True

    def start(self, name, crash_at=None):
        log = self.base / f"{name}.log"
        env = dict(self.env)
        if crash_at:
            env["STACKVAULT_CRASH_AT"] = crash_at
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "protection.cli.conductor",
             "--config-file", self.conf, "--name", f"{self.prefix}-{name}",
             "--log-file", str(log)],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
        return self.procs[name]

    def alive(self):
        return [n for n, p in self.procs.items() if p.poll() is None]

    def stop(self, name, sig=signal.SIGTERM):
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        assert proc.wait(timeout=WAIT) in (0, -signal.SIGKILL), self.logs()

    def stop_all(self):
        for name in self.alive():
            self.stop(name)

    def logs(self):
        return {p.name: p.read_text()[-3000:]
                for p in self.base.glob("*.log")}

    def run(self, *args, crash_at=None):
        if self.autostart and not self.alive():
            self.start(f"auto{len(self.procs)}")
        return super().run(*args, crash_at=crash_at)

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


def test_a_killed_conductor_restore_is_finished_by_another(
        conn, world, deleted_app, checkpoint):
    world.stop_all()
    world.autostart = False
    try:
        posted = world.ok("restore", "--no-wait", checkpoint)
        operation_id = posted["operation_id"]
        assert world.ok("operation", "show", operation_id)["status"] == \
            "queued"
        victim = world.start("victim", crash_at=KILL_AT)
        assert victim.wait(timeout=WAIT) == faults.EXIT_CODE, world.logs()
        world.start("heir")
        shown = world.ended(operation_id)
    finally:
        world.autostart = True
    try:
        assert shown["status"] == "succeeded", (shown, world.logs())
        assert shown["owner"].endswith(str(world.procs["heir"].pid)), shown
        restored = shown["result"]["restored"]
        demo_app.check_restored(conn, deleted_app, restored,
                                say=lambda _: None)
        _assert_one_copy_each(conn, world, deleted_app, restored)
    finally:
        _remove_restored(conn, world, operation_id)
