#!/usr/bin/env python3
"""stackvault's main job, end to end, on a real cloud (devcloud by default).

1. create a small application: a network with a subnet, a router (gateway
   on the external network) and a security group; an image; a server on a
   port with a fixed IP, with two volumes holding known random bytes;
2. protect it into the default filesystem bank (``stackvault protect`` of
   the server: its volumes, image and network come with it);
3. delete the whole application;
4. restore it (``stackvault restore``);
5. check it: server ACTIVE, both volumes attached with the same bytes, the
   same fixed IP and MAC; then print the time of each phase.

Every stackvault step runs the real CLI, printed before it runs, so the
output shows what to type. What an earlier run left (the application, the
restored copy, demo checkpoints and their backups) is removed first, so the
demo can run again and again. The restored application is kept for you to
look at.

Run it through ``make demo`` (which installs stackvault and brings devcloud
up first), or directly with OS_CLOUD/OS_CLIENT_CONFIG_FILE set.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import openstack

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402
from tools.cloudkit.demo_app import PREFIX, SERVER  # noqa: E402


def say(text=""):
    print(text, flush=True)


def stackvault(*args, quiet=False):
    """Run the stackvault CLI (progress on stderr, JSON on stdout)."""
    command = ["stackvault", *([] if quiet else ["--progress"]), *args,
               "-f", "json"]
    if not quiet:
        say("$ " + " ".join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        say(done.stdout)
        raise demo_app.AppCheckFailed(
            f"stackvault {' '.join(args[:2])} failed "
            f"(exit {done.returncode})")
    return json.loads(done.stdout) if done.stdout.strip() else None


def remove_leftovers(conn):
    """Earlier runs: checkpoints (with their backups), applications."""
    for checkpoint in stackvault("checkpoint", "list", quiet=True) or []:
        if checkpoint["Name"] == PREFIX and \
                checkpoint["Status"] != "protecting":
            stackvault("checkpoint", "delete", checkpoint["ID"], quiet=True)
    for server in demo_app.ours(conn.compute.servers()):
        teardown.delete_server(conn, server.id)
    for volume in demo_app.ours(conn.block_storage.volumes()):
        teardown.delete_volume(conn, volume.id)
    for router in demo_app.ours(conn.network.routers()):
        teardown.dismantle_router(conn, router.id)
    for network in demo_app.ours(conn.network.networks()):
        teardown.delete_network(conn, network.id)
    for group in demo_app.ours(conn.network.security_groups()):
        teardown.delete_security_group(conn, group.id)
    for image in demo_app.ours(conn.image.images()):
        teardown.delete_image(conn, image.id)


def main():
    if not os.environ.get("OS_CLOUD"):
        say("demo: set OS_CLOUD (for devcloud: eval \"$(tools/devcloud "
            "env)\"), or run 'make demo'")
        return 2
    conn = openstack.connect()
    phases = []

    def phase(name, call, *args):
        say(f"\n== {name}")
        started = time.monotonic()
        result = call(*args)
        phases.append((name, time.monotonic() - started))
        return result

    try:
        phase("clean up earlier demo runs", remove_leftovers, conn)
        app = phase("create the application", demo_app.create_application,
                    conn, PREFIX, demo_app.CIDR, demo_app.FIXED_IP, say)
        protected = phase("protect", stackvault, "protect", "--name",
                          PREFIX, f"{SERVER}={app['server'].id}")
        checkpoint = protected["checkpoint_id"]
        say(f"  checkpoint {checkpoint}: {protected['status']}, "
            f"{len(protected['resources'])} resources")
        phase("delete the application", demo_app.delete_application, conn,
              app)
        result = phase("restore", stackvault, "restore", checkpoint)
        phase("check the restored application", demo_app.check_restored,
              conn, app, result["restored"], say)
    except demo_app.AppCheckFailed as exc:
        say(f"\ndemo FAILED: {exc}")
        return 1

    say("\n== report")
    for name, seconds in phases:
        say(f"  {name:<32} {seconds:7.1f} s")
    say(f"  {'total':<32} {sum(s for _, s in phases):7.1f} s")
    say("\nThe restored application is kept; see 'stackvault resource "
        f"list' and 'stackvault checkpoint show {checkpoint}'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
