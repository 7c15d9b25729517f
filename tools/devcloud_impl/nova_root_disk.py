"""Root disks of devcloud's fake Nova instances: one real file each.

Nova's fake virt driver keeps nothing of an instance but its name and power
state, so a snapshot (``createImage``) of it carries no data. devcloud's
driver gives every *image-booted* instance a root disk file instead:

``<state_path>/devcloud-disks/<instance uuid>/disk``
    created at spawn with the bytes of the instance's image (as stored in
    Glance, no format conversion), kept across reboots and re-spawns of the
    same instance, uploaded by ``createImage`` (the snapshot image gets
    exactly its bytes) and removed when Nova destroys the instance's disks.

A test plays the guest by writing into that file (``tools/cloudkit/
root_disk.py``). Boot-from-volume instances have no such file: their root
disk is the volume.

This module has no Nova import, so stackvault's unit tests cover it; the
driver (``nova_driver.py``) calls it with Nova's image API.
"""

import os
import shutil

DISKS = "devcloud-disks"
DISK = "disk"


def disk_dir(state_path, instance_uuid):
    return os.path.join(state_path, DISKS, instance_uuid)


def disk_path(state_path, instance_uuid):
    return os.path.join(disk_dir(state_path, instance_uuid), DISK)


def existing(state_path, instance_uuid):
    """The instance's root disk file, or None when it has none."""
    path = disk_path(state_path, instance_uuid)
    return path if os.path.isfile(path) else None


def create(state_path, instance_uuid, fetch):
    """The root disk file, created with ``fetch(path)`` (which writes the
    image's bytes at ``path``) unless it exists already: a hard reboot or
    a re-spawn of the same instance keeps what the guest wrote. Written
    under a temporary name first, so a failed fetch leaves no disk."""
    path = disk_path(state_path, instance_uuid)
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".part"
    try:
        fetch(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path


def snapshot_formats(image_meta):
    """``(disk_format, container_format)`` of a snapshot: those of the image
    the instance booted from (the file holds that image's bytes)."""
    def field(name, default):
        if hasattr(image_meta, "obj_attr_is_set"):
            if image_meta.obj_attr_is_set(name):
                return getattr(image_meta, name) or default
            return default
        return (image_meta or {}).get(name) or default
    return field("disk_format", "raw"), field("container_format", "bare")


def upload(image_api, context, image_id, path, formats):
    """Upload the root disk file's bytes into the snapshot ``image_id``
    (Nova's image API: formats set first, then the data)."""
    disk_format, container_format = formats
    metadata = {"disk_format": disk_format,
                "container_format": container_format}
    with open(path, "rb") as data:
        image_api.update(context, image_id, metadata, data)


def remove(state_path, instance_uuid):
    """Delete the instance's root disk (nothing there is fine)."""
    shutil.rmtree(disk_dir(state_path, instance_uuid), ignore_errors=True)
