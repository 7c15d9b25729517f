#!/usr/bin/env python3
"""stackvault's main job, end to end, on a real cloud (devcloud by default).

1. create a small workload with known bytes in it,
2. protect it into the default filesystem bank (``stackvault protect``),
3. delete the workload,
4. restore it (``stackvault restore``),
5. check the restored copy byte for byte, and print the time of each phase.

Every stackvault step runs the real CLI, printed before it runs, so the
output shows what to type. Leftovers of an earlier run (workload, restored
copies, demo checkpoints and their backups) are removed first, so the demo
can run again and again. The restored copy is kept for you to look at.

Run it through ``make demo`` (which installs stackvault and brings devcloud
up first), or directly with OS_CLOUD/OS_CLIENT_CONFIG_FILE set.
"""

import json
import os
import pathlib
import secrets
import subprocess
import sys
import time

import openstack
from openstack import exceptions as sdk_exceptions

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fullstack import devcloud_volume  # noqa: E402

PREFIX = "stackvault-demo"
MiB = 1024 * 1024
VOLUME = "OS::Cinder::Volume"
IMAGE = "OS::Glance::Image"
TIMEOUT = 600


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def stackvault(*args):
    """Run the stackvault CLI (progress on stderr, JSON on stdout)."""
    command = ["stackvault", "--progress", *args, "-f", "json"]
    say("$ " + " ".join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        say(done.stdout)
        raise DemoFailed(f"stackvault {args[0]} failed "
                         f"(exit {done.returncode})")
    return json.loads(done.stdout)


def wait(fetch, status, what):
    deadline = time.monotonic() + TIMEOUT
    while True:
        obj = fetch()
        if obj.status.lower() == status:
            return obj
        if "error" in obj.status.lower() or obj.status == "killed":
            raise DemoFailed(f"{what} went to {obj.status}")
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what} is still {obj.status} after "
                             f"{TIMEOUT}s")
        time.sleep(0.5)


def wait_gone(fetch, what):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            fetch()
        except sdk_exceptions.NotFoundException:
            return
        time.sleep(0.5)
    raise DemoFailed(f"{what} was not deleted within {TIMEOUT}s")


# -- the workload -------------------------------------------------------------
def remove_leftovers(conn):
    """Earlier runs' checkpoints (and backups), workloads and copies."""
    for checkpoint in stackvault_quiet("checkpoint", "list"):
        if checkpoint["Name"] == PREFIX and \
                checkpoint["Status"] != "protecting":
            stackvault_quiet("checkpoint", "delete", checkpoint["ID"])
    for volume in conn.block_storage.volumes():
        if (volume.name or "").startswith(PREFIX):
            conn.block_storage.delete_volume(volume)
            wait_gone(lambda v=volume: conn.block_storage.get_volume(v.id),
                      f"volume {volume.id}")
    for image in conn.image.images():
        if (image.name or "").startswith(PREFIX):
            conn.image.delete_image(image)


def stackvault_quiet(*args):
    done = subprocess.run(["stackvault", *args, "-f", "json"],
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout) if done.stdout.strip() else []


def create_workload(conn):
    image_bytes = secrets.token_bytes(4 * MiB)
    image = conn.image.create_image(
        name=f"{PREFIX}-image", data=image_bytes, disk_format="raw",
        container_format="bare", allow_duplicates=True, wait=True,
        timeout=TIMEOUT)
    volume = conn.block_storage.create_volume(size=1,
                                              name=f"{PREFIX}-data")
    wait(lambda: conn.block_storage.get_volume(volume.id), "available",
         f"volume {volume.id}")
    volume_bytes = secrets.token_bytes(8 * MiB)
    devcloud_volume.write_volume(volume.id, volume_bytes, 0)
    say(f"  image  {image.id}  {len(image_bytes) // MiB} MiB random")
    say(f"  volume {volume.id}  1 GiB, {len(volume_bytes) // MiB} MiB "
        "random at offset 0")
    return image, image_bytes, volume, volume_bytes


def delete_workload(conn, image, volume):
    conn.image.delete_image(image)
    conn.block_storage.delete_volume(volume)
    wait_gone(lambda: conn.block_storage.get_volume(volume.id),
              f"volume {volume.id}")
    wait_gone(lambda: conn.image.get_image(image.id), f"image {image.id}")


def check_restored(conn, restored, image, image_bytes, volume,
                   volume_bytes):
    new_image = restored[f"{IMAGE}#{image.id}"]
    new_volume = restored[f"{VOLUME}#{volume.id}"]
    got = b"".join(conn.image.download_image(new_image, stream=True)
                   .iter_content(MiB))
    if got != image_bytes:
        raise DemoFailed(f"restored image {new_image} differs")
    say(f"  image  {new_image}: {len(got)} bytes, equal")
    if conn.block_storage.get_volume(new_volume).status != "available":
        raise DemoFailed(f"restored volume {new_volume} is not available")
    got = devcloud_volume.read_volume(new_volume, len(volume_bytes), 0)
    if got != volume_bytes:
        raise DemoFailed(f"restored volume {new_volume} differs")
    say(f"  volume {new_volume}: {len(got)} bytes, equal")


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
        image, image_bytes, volume, volume_bytes = phase(
            "create the workload", create_workload, conn)
        protected = phase("protect", stackvault, "protect", "--name",
                          PREFIX, f"{VOLUME}={volume.id}",
                          f"{IMAGE}={image.id}")
        checkpoint = protected["checkpoint_id"]
        say(f"  checkpoint {checkpoint}: {protected['status']}")
        phase("delete the workload", delete_workload, conn, image, volume)
        result = phase("restore", stackvault, "restore", checkpoint,
                       "--parameter", f"{VOLUME}:restore_name="
                       f"{PREFIX}-data-restored",
                       "--parameter", f"{IMAGE}:restore_name="
                       f"{PREFIX}-image-restored")
        phase("check the restored workload", check_restored, conn,
              result["restored"], image, image_bytes, volume, volume_bytes)
    except DemoFailed as exc:
        say(f"\ndemo FAILED: {exc}")
        return 1

    say("\n== report")
    for name, seconds in phases:
        say(f"  {name:<30} {seconds:7.1f} s")
    say(f"  {'total':<30} {sum(s for _, s in phases):7.1f} s")
    say(f"\nThe restored copies are kept; see 'stackvault resource list' "
        f"and 'stackvault checkpoint show {checkpoint}'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
