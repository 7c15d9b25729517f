"""Test-only access to the root disk of a devcloud server.

devcloud's Nova driver gives each image-booted instance a root disk file,
``<state>/data/nova/devcloud-disks/<server id>/disk``, created from its
image at spawn and uploaded by ``createImage`` (see
``tools/devcloud_impl/nova_root_disk.py``). ``write_root_disk`` plays the
guest writing to its disk; ``read_root_disk`` reads what a guest would.
Against any other cloud (or a devcloud whose driver predates root disks)
they raise ``volume_bytes.NotDevcloud`` with the reason.
"""

import os

from tools.cloudkit import volume_bytes

NotDevcloud = volume_bytes.NotDevcloud


def disk_file(server_id):
    state = volume_bytes.state_dir()
    volume_bytes.require()
    path = state / "data" / "nova" / "devcloud-disks" / server_id / "disk"
    if not path.is_file():
        raise NotDevcloud(
            "server %s has no root disk file at %s (booted from a volume, "
            "or devcloud's Nova driver predates root disks)"
            % (server_id, path))
    return path


def read_root_disk(server_id, length, offset=0):
    with open(disk_file(server_id), "rb") as f:
        f.seek(offset)
        data = f.read(length)
    return data + b"\0" * (length - len(data))


def write_root_disk(server_id, data, offset=0):
    with open(disk_file(server_id), "r+b") as f:
        f.seek(offset)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
