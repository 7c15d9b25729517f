"""Nova's fake virt driver, plus answers to Cinder's assisted volume snapshots.

With Cinder's NFS driver a snapshot of an *attached* volume is "assisted":
Cinder writes a new qcow2 overlay, asks Nova (os-assisted-volume-snapshots) to
switch the guest to it, and waits for Nova to report progress 90%.  Deleting
such a snapshot asks Nova to merge files the way libvirt does with a running
guest.  The stock fake driver implements neither, so Cinder would wait for
ever.  This driver does with ``qemu-img`` what libvirt does:

* ``volume_snapshot_create``: the new overlay becomes the "guest's" active
  file; report ``creating`` (Nova's volume API sends progress 90%).
* ``volume_snapshot_delete``: with no merge target, a *pull* (``qemu-img
  rebase`` of the active file onto ``file_to_merge``, or a flatten); with a
  target, a *commit* of ``file_to_merge`` into it and an unsafe rebase of the
  file above; then report ``deleting``.

Like qemu, which keeps the files of the chain open, the driver holds every file
of an attached volume's chain through hard links in
``<share>/.devcloud-held/<volume id>/`` and works through those links: Cinder
deletes merged files of its own temporary snapshots without waiting for Nova.

For each attached NFS volume it keeps a record
``<state_path>/devcloud-volumes/<volume id>.json``::

    {"volume_id", "instance_uuid", "dir": <share mount dir>,
     "held": <link dir>, "active": <active file name>}

which the fullstack tests' byte helper reads to find what a guest would see.

Each image-booted instance also gets a real root disk file, created from its
image at spawn and uploaded by snapshots (``createImage``); see
``nova_root_disk.py``.
"""

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from nova.compute import task_states
from nova import exception
from nova.image import glance
from nova import objects
from nova.virt import block_device as driver_block_device
from nova.virt import fake
from nova.virt import images
from nova.volume import cinder

from devcloud_impl import nova_root_disk

CONF = cfg.CONF
LOG = logging.getLogger(__name__)
HELD = ".devcloud-held"


def _qemu_img(*args, cwd=None):
    argv = ["qemu-img"] + list(args)
    LOG.info("devcloud: %s", " ".join(argv))
    r = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if r.returncode != 0:
        raise RuntimeError(
            "%s failed: %s" % (" ".join(argv), r.stderr.strip())
        )
    return r.stdout


def _info(path):
    return json.loads(
        _qemu_img("info", "--force-share", "--output=json", path)
    )


def _chain(directory, active):
    """File names of the chain, active first, as seen from ``directory``."""
    names = []
    name = active
    while name:
        names.append(name)
        if len(names) > 64:
            raise RuntimeError("backing chain too long at %s" % name)
        backing = _info(os.path.join(directory, name)).get("backing-filename")
        name = os.path.basename(backing) if backing else None
    return names


class SnapshotFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """FakeDriverWithoutFakeNodes answering Nova-assisted volume snapshots,
    with a real root disk file per image-booted instance."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._volume_api = cinder.API()
        self._image_api = glance.API()
        self._lock = threading.Lock()

    # -- root disks --------------------------------------------------------
    def spawn(self, context, instance, image_meta, *args, **kwargs):
        super().spawn(context, instance, image_meta, *args, **kwargs)
        if not instance.image_ref:
            return  # booted from a volume: the volume is its root disk
        try:
            nova_root_disk.create(
                CONF.state_path, instance.uuid,
                lambda path: images.fetch(context, instance.image_ref, path))
        except Exception:
            # Never fail a boot over it: the instance then has no root disk
            # file and its snapshots carry no data (the fake driver's way).
            LOG.exception("devcloud: no root disk for %s", instance.uuid)

    def snapshot(self, context, instance, image_id, update_task_state):
        path = nova_root_disk.existing(CONF.state_path, instance.uuid)
        if path is None or instance.uuid not in self.instances:
            return super().snapshot(context, instance, image_id,
                                    update_task_state)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        update_task_state(
            task_state=task_states.IMAGE_UPLOADING,
            expected_state=task_states.IMAGE_PENDING_UPLOAD)
        nova_root_disk.upload(
            self._image_api, context, image_id, path,
            nova_root_disk.snapshot_formats(instance.image_meta))
        LOG.info("devcloud: root disk of %s uploaded to image %s",
                 instance.uuid, image_id)

    # -- records ---------------------------------------------------------
    @staticmethod
    def _records_dir():
        d = os.path.join(CONF.state_path, "devcloud-volumes")
        os.makedirs(d, exist_ok=True)
        return d

    def _record_path(self, volume_id):
        return os.path.join(self._records_dir(), volume_id + ".json")

    def _load(self, volume_id):
        try:
            with open(self._record_path(volume_id)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _save(self, rec):
        tmp = self._record_path(rec["volume_id"]) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.replace(tmp, self._record_path(rec["volume_id"]))

    def _drop(self, volume_id):
        rec = self._load(volume_id)
        if rec:
            shutil.rmtree(rec["held"], ignore_errors=True)
            try:
                os.unlink(self._record_path(volume_id))
            except FileNotFoundError:
                pass

    # -- holding the chain -------------------------------------------------
    @staticmethod
    def _share_dir(connection_info):
        export = connection_info["data"]["export"]
        return os.path.join(
            CONF.libvirt.nfs_mount_point_base,
            hashlib.md5(export.encode()).hexdigest(),
        )

    def _hold(self, rec):
        """Link every file of the chain into the held dir; unlink the rest."""
        os.makedirs(rec["held"], exist_ok=True)
        active = os.path.join(rec["dir"], rec["active"])
        if not os.path.exists(os.path.join(rec["held"], rec["active"])):
            os.link(active, os.path.join(rec["held"], rec["active"]))
        # Walk from the held active file: held links resolve relative backing
        # names even after Cinder deleted the originals.
        names = []
        name = rec["active"]
        while name:
            names.append(name)
            held = os.path.join(rec["held"], name)
            if not os.path.exists(held):
                os.link(os.path.join(rec["dir"], name), held)
            backing = _info(held).get("backing-filename")
            name = os.path.basename(backing) if backing else None
        for stale in set(os.listdir(rec["held"])) - set(names):
            os.unlink(os.path.join(rec["held"], stale))
        return names

    def _record_for(self, context, instance, volume_id):
        rec = self._load(volume_id)
        if rec:
            return rec
        # e.g. attached before this driver kept records: rebuild from the BDM
        bdm = objects.BlockDeviceMapping.get_by_volume_and_instance(
            context, volume_id, instance.uuid
        )
        info = json.loads(bdm.connection_info)
        return self._new_record(info, instance, volume_id)

    def _new_record(self, connection_info, instance, volume_id):
        d = self._share_dir(connection_info)
        rec = {
            "volume_id": volume_id,
            "instance_uuid": instance.uuid,
            "dir": d,
            "held": os.path.join(d, HELD, volume_id),
            "active": connection_info["data"]["name"],
        }
        self._hold(rec)
        self._save(rec)
        return rec

    # -- attach / detach ---------------------------------------------------
    def attach_volume(
        self,
        context,
        connection_info,
        instance,
        mountpoint,
        disk_bus=None,
        device_type=None,
        encryption=None,
    ):
        super().attach_volume(
            context,
            connection_info,
            instance,
            mountpoint,
            disk_bus,
            device_type,
            encryption,
        )
        if connection_info.get("driver_volume_type") == "nfs":
            volume_id = connection_info.get("serial") or connection_info[
                "data"
            ].get("volume_id")
            with self._lock:
                self._drop(volume_id)
                self._new_record(connection_info, instance, volume_id)

    def detach_volume(
        self, context, connection_info, instance, mountpoint, encryption=None
    ):
        super().detach_volume(
            context, connection_info, instance, mountpoint, encryption
        )
        volume_id = connection_info.get("serial") or connection_info.get(
            "data", {}
        ).get("volume_id")
        if volume_id:
            with self._lock:
                self._drop(volume_id)

    def destroy(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        destroy_disks=True,
        destroy_secrets=True,
    ):
        super().destroy(
            context,
            instance,
            network_info,
            block_device_info,
            destroy_disks,
            destroy_secrets,
        )
        if destroy_disks:
            nova_root_disk.remove(CONF.state_path, instance.uuid)
        with self._lock:
            for fname in os.listdir(self._records_dir()):
                if not fname.endswith(".json"):
                    continue
                rec = self._load(fname[:-5])
                if rec and rec.get("instance_uuid") == instance.uuid:
                    self._drop(rec["volume_id"])

    # -- assisted snapshots ------------------------------------------------
    def _update_status(self, context, snapshot_id, status):
        try:
            self._volume_api.update_snapshot_status(
                context, snapshot_id, status
            )
        except exception.SnapshotNotFound:
            # Cinder deletes its temporary snapshots without waiting for us
            LOG.info(
                "devcloud: snapshot %s is gone already (reporting %s)",
                snapshot_id,
                status,
            )
        except Exception:
            LOG.exception(
                "devcloud: could not report snapshot %s as %s",
                snapshot_id,
                status,
            )

    def _refresh(self, context, instance, volume_id):
        try:
            bdm = objects.BlockDeviceMapping.get_by_volume_and_instance(
                context, volume_id, instance.uuid
            )
            driver_bdm = driver_block_device.convert_volume(bdm)
            if driver_bdm:
                driver_bdm.refresh_connection_info(
                    context, instance, self._volume_api, self
                )
        except Exception:
            LOG.exception(
                "devcloud: refreshing connection info of %s failed", volume_id
            )

    def volume_snapshot_create(
        self, context, instance, volume_id, create_info
    ):
        snapshot_id = create_info.get("snapshot_id")
        try:
            if create_info.get("type") != "qcow2":
                raise RuntimeError(
                    "unknown snapshot type %s" % create_info.get("type")
                )
            with self._lock:
                rec = self._record_for(context, instance, volume_id)
                new_file = create_info["new_file"]
                if not os.path.exists(os.path.join(rec["dir"], new_file)):
                    raise RuntimeError(
                        "new overlay %s does not exist" % new_file
                    )
                rec["active"] = new_file
                self._hold(rec)
                self._save(rec)
        except Exception:
            LOG.exception("devcloud: volume_snapshot_create failed")
            self._update_status(context, snapshot_id, "error")
            raise
        self._update_status(context, snapshot_id, "creating")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                snap = self._volume_api.get_snapshot(context, snapshot_id)
                if snap.get("status") != "creating":
                    break
            except exception.SnapshotNotFound:
                break  # a temporary snapshot, done and deleted already
            except Exception as exc:
                LOG.warning(
                    "devcloud: polling snapshot %s: %s", snapshot_id, exc
                )
            time.sleep(0.5)
        self._refresh(context, instance, volume_id)

    def volume_snapshot_delete(
        self, context, instance, volume_id, snapshot_id, delete_info
    ):
        try:
            if delete_info.get("type") != "qcow2":
                raise RuntimeError(
                    "unknown delete type %s" % delete_info.get("type")
                )
            with self._lock:
                rec = self._record_for(context, instance, volume_id)
                self._merge(
                    rec,
                    delete_info["file_to_merge"],
                    delete_info["merge_target_file"],
                )
                self._hold(rec)
                self._save(rec)
        except Exception:
            LOG.exception("devcloud: volume_snapshot_delete failed")
            self._update_status(context, snapshot_id, "error_deleting")
            raise
        self._update_status(context, snapshot_id, "deleting")
        self._refresh(context, instance, volume_id)

    @staticmethod
    def _merge(rec, file_to_merge, merge_target):
        held = rec["held"]
        active = rec["active"]
        if merge_target is None:
            # blockRebase ("pull"): the active file absorbs what lies above
            # file_to_merge, or everything (flatten) if there is none.
            if file_to_merge:
                fmt = _info(os.path.join(held, file_to_merge))["format"]
                _qemu_img(
                    "rebase",
                    "-f",
                    "qcow2",
                    "-b",
                    file_to_merge,
                    "-F",
                    fmt,
                    active,
                    cwd=held,
                )
            else:
                _qemu_img("rebase", "-f", "qcow2", "-b", "", active, cwd=held)
            return
        # blockCommit: file_to_merge goes down into merge_target; the file
        # above it is then re-pointed at merge_target.
        chain = _chain(held, active)
        if file_to_merge not in chain or merge_target not in chain:
            raise RuntimeError(
                "%s/%s not in chain %s" % (file_to_merge, merge_target, chain)
            )
        above = (
            chain[chain.index(file_to_merge) - 1]
            if chain.index(file_to_merge) > 0
            else None
        )
        _qemu_img("commit", "-f", "qcow2", "-d", file_to_merge, cwd=held)
        if above:
            fmt = _info(os.path.join(held, merge_target))["format"]
            _qemu_img(
                "rebase",
                "-u",
                "-f",
                "qcow2",
                "-b",
                merge_target,
                "-F",
                fmt,
                above,
                cwd=held,
            )
