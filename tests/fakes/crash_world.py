"""The crash tests' world on a real cloud (devcloud): the demo-sized
application of ``tools/cloudkit/demo_app.py``, the ``stackvault`` CLI run
in a child process against a private bank and operations database
(``World``), sweeping the cloud by the application's name prefix, and the
checks that a resumed or aborted operation left exactly what it should.

Shared by ``tests/fullstack/test_crash_resume.py`` and
``tests/fullstack/test_conductor.py``; the module fixtures built from it
(``app``, ``checkpoint``, ``deleted_app``) are in
``tests/fullstack/conftest.py``. ``TIMINGS`` collects what each step
took; ``report_timings`` prints them when the application goes.
"""

import collections
import json
import os
import secrets
import subprocess
import sys
import time

from flows import faults
from tests.fakes.paths import ROOT
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
TIMINGS = []


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
        before = {o["ID"] for o in self.ok("operation", "list")}
        proc = self.run(kind, *args, crash_at=crash_at)
        assert proc.returncode == faults.EXIT_CODE, (proc.stdout,
                                                     proc.stderr)
        assert "fault injected" in proc.stderr, proc.stderr
        ops = [o for o in self.ok("operation", "list")
               if o["ID"] not in before]
        assert [(o["Kind"], o["Status"]) for o in ops] == [
            (kind, "interrupted")], ops
        return ops[0]


def listings(conn):
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
            for kind, listing in listings(conn).items()}


def names(found):
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


def report_timings():
    lines = [f"  {name:<78} {secs:6.1f} s" for name, secs in TIMINGS]
    lines.append(f"  {'total':<78} {sum(s for _, s in TIMINGS):6.1f} s")
    sys.stderr.write("\ncrash/resume timings:\n" + "\n".join(lines) + "\n")


def checkpoint_leftovers(conn, checkpoint_id):
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


def assert_protected_once(conn, world, app, checkpoint_id):
    """The checkpoint is ``available`` and verifies; Cinder holds exactly
    one available backup per volume for it and no temporary snapshot or
    image is left."""
    shown = world.ok("checkpoint", "show", checkpoint_id)
    assert shown["status"] == "available", shown
    verified = world.ok("checkpoint", "verify", checkpoint_id)
    assert verified["status"] == "success", verified
    backups, snapshots, images = checkpoint_leftovers(conn, checkpoint_id)
    per_volume = collections.Counter(b.volume_id for b in backups)
    assert per_volume == {v: 1 for v in app["volumes"]}, backups
    assert all(b.status == "available" for b in backups), backups
    assert (snapshots, images) == ([], []), (snapshots, images)


def remove_restored(conn, world, operation_id):
    shown = world.run("operation", "show", operation_id)
    if shown.returncode == 0:
        restored = json.loads(shown.stdout).get("restored") or {}
        try:
            teardown.delete_restored(conn, restored)
        finally:
            remove_prefixed(conn, world.prefix)
    else:
        remove_prefixed(conn, world.prefix)


def _marked(conn, networks):
    """Neutron objects of these networks that still carry a stackvault
    mark (a description ``stackvault:<hash>``, replaced by the saved one
    once the object's id is journaled): ``{kind: [object]}``."""
    listings = {"network": conn.network.networks,
                "subnet": conn.network.subnets,
                "router": conn.network.routers,
                "security group": conn.network.security_groups,
                "port": conn.network.ports}
    return {kind: [o for o in listing()
                   if (o.description or "").startswith("stackvault:")
                   and (o.id in networks
                        or getattr(o, "network_id", None) in networks)]
            for kind, listing in listings.items()}


def assert_one_copy_each(conn, world, app, restored):
    """The sweep by prefix: exactly the originals' names, once each, and
    every server, volume, network, router, group and image among them is
    one the restore recorded; no Neutron object of the restored network
    still carries a mark."""
    found = sweep(conn, world.prefix)
    assert names(found) == app["names"], found
    recorded = set(restored.values())
    for kind in ("server", "volume", "network", "router",
                 "security group", "image"):
        assert set(found[kind]) <= recorded, (kind, found[kind], restored)
    marked = _marked(conn, set(found["network"]))
    assert not any(marked.values()), marked


# -- the module fixtures' bodies (fixtures in tests/fullstack/conftest.py) ---
def live_application(conn, world):
    """Yields the live application; at the end everything with the prefix
    (and every checkpoint of the bank, with its backups) goes."""
    third = secrets.randbelow(200) + 20
    cidr = f"10.{CIDR_SECOND_OCTET}.{third}.0/24"
    fixed_ip = f"10.{CIDR_SECOND_OCTET}.{third}.10"
    started = time.monotonic()
    try:
        made = demo_app.create_application(conn, world.prefix, cidr,
                                           fixed_ip, say=lambda _: None)
        made["names"] = names(sweep(conn, world.prefix))
        TIMINGS.append(("create the application",
                        time.monotonic() - started))
        yield made
    finally:
        failures = []
        # A test deletes a checkpoint through another operations database:
        # this one's catalog still lists it until it is reindexed.
        world.run("checkpoint", "reindex")
        listed = world.run("checkpoint", "list")
        for checkpoint in json.loads(listed.stdout or "[]"):
            proc = world.run("checkpoint", "delete", "--force",
                             checkpoint["ID"])
            if proc.returncode != 0:
                failures.append(proc.stderr)
        remove_prefixed(conn, world.prefix)
        report_timings()
        assert listed.returncode == 0 and not failures, (listed.stderr,
                                                         failures)


def protect_application(world, app):
    """Protects the application (no crash); the checkpoint's id."""
    started = time.monotonic()
    result = world.ok("protect", "--name", world.prefix,
                      *NO_ROOT_DISK, f"{SERVER}={app['server'].id}")
    assert result["status"] == "success", result
    TIMINGS.append(("protect (no crash)", time.monotonic() - started))
    return result["checkpoint_id"]


def delete_application(conn, world, app):
    """Deletes the (protected) application: the restore cases' start."""
    started = time.monotonic()
    demo_app.delete_application(conn, app)
    assert not any(sweep(conn, world.prefix).values())
    TIMINGS.append(("delete the application", time.monotonic() - started))
    return app
