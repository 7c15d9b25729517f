"""Test-only access to the bytes of a devcloud Cinder volume.

``read_volume(volume_id, length, offset=0) -> bytes`` and
``write_volume(volume_id, data, offset=0)`` read and write a volume the way a
guest would see it.  They work only against devcloud (tools/devcloud), where
Cinder's NFS driver keeps each volume as files in a local directory; against
any other cloud they raise ``NotDevcloud`` so tests can skip their byte checks
with that reason.

How the "guest view" is found:

1. The state directory is ``$DEVCLOUD_HOME`` or ``<checkout>/.devcloud``; the
   share's files are in ``<state>/nfs-export/`` (bind-mounted where Cinder
   looks for its NFS share).
2. If the volume is attached, devcloud's Nova driver keeps a record
   ``<state>/data/nova/devcloud-volumes/<id>.json`` naming the active file
   and a directory of hard links that holds the whole backing chain (as a
   running qemu would); that record wins, because it is updated at the
   moment a snapshot switches the guest to a new overlay.
3. Otherwise Cinder's ``volume-<id>.info`` (written once a volume has had
   snapshots) names the active file, else the file is ``volume-<id>``.
4. A raw file is read and written directly (past its end reads as zeros: the
   files are sparse).  A qcow2 overlay is read with ``qemu-img convert``
   (the whole chain, as raw, into a sparse temporary file) and written with
   ``qemu-io write -s``, so the bytes land in the active overlay exactly as a
   guest write would.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]   # tools/cloudkit/..


class NotDevcloud(Exception):
    """The volume's bytes are not reachable: the cloud is not a devcloud."""


def state_dir():
    env = os.environ.get("DEVCLOUD_HOME")
    return Path(env).resolve() if env else _CHECKOUT / ".devcloud"


def _export(state):
    export = state / "nfs-export"
    if not (state / "devcloud.json").exists() or not export.is_dir():
        raise NotDevcloud(
            "no devcloud state at %s (set DEVCLOUD_HOME?)" % state
        )
    return export


def require():
    """Raise NotDevcloud (with the reason) unless volume bytes are
    reachable: the cloud's state directory is a devcloud's."""
    _export(state_dir())


def active_file(volume_id):
    """Path of the file a guest of ``volume_id`` reads and writes now."""
    state = state_dir()
    export = _export(state)
    record = (
        state / "data" / "nova" / "devcloud-volumes" / (volume_id + ".json")
    )
    if record.exists():
        rec = json.loads(record.read_text())
        path = Path(rec["held"]) / rec["active"]
        if path.exists():
            return path
    info = export / ("volume-%s.info" % volume_id)
    if info.exists():
        path = export / json.loads(info.read_text())["active"]
    else:
        path = export / ("volume-%s" % volume_id)
    if not path.exists():
        raise NotDevcloud(
            "volume %s has no file in %s: is OS_CLOUD the devcloud "
            "of this state directory?" % (volume_id, export)
        )
    return path


def _format(path):
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)["format"]


def read_volume(volume_id, length, offset=0):
    path = active_file(volume_id)
    if _format(path) == "raw":
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        return data + b"\0" * (length - len(data))
    with tempfile.TemporaryDirectory(prefix="devcloud-vol-") as tmp:
        raw = os.path.join(tmp, "raw")
        subprocess.run(
            ["qemu-img", "convert", "-U", "-O", "raw", str(path), raw],
            check=True,
            timeout=300,
            capture_output=True,
        )
        with open(raw, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    return data + b"\0" * (length - len(data))


def write_volume(volume_id, data, offset=0):
    path = active_file(volume_id)
    if _format(path) == "raw":
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return
    with tempfile.NamedTemporaryFile(prefix="devcloud-vol-") as src:
        src.write(data)
        src.flush()
        r = subprocess.run(
            [
                "qemu-io",
                "-f",
                "qcow2",
                "-c",
                "write -q -s %s %d %d" % (src.name, offset, len(data)),
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if r.returncode != 0 or "error" in (r.stdout + r.stderr).lower():
            raise RuntimeError(
                "qemu-io write to %s failed: %s%s" % (path, r.stdout, r.stderr)
            )
