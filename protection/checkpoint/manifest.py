"""The manifest of a checkpoint: every object it holds with its sha256,
size and (where the bank gives one) native fingerprint, and the check of
an object read back against its entry."""

import threading

from protection.checkpoint.load import FORMAT_VERSION


class Manifest:
    """Thread-safe record of the objects a checkpoint holds."""

    def __init__(self, objects=None):
        self._objects = dict(objects or {})
        self._lock = threading.Lock()

    def record(self, relative_key, info):
        entry = {"sha256": info.sha256, "size": info.size}
        if info.fingerprint is not None:
            entry["fingerprint"] = info.fingerprint
        with self._lock:
            self._objects[relative_key] = entry

    def forget(self, relative_key):
        with self._lock:
            self._objects.pop(relative_key, None)

    def objects(self):
        with self._lock:
            return dict(self._objects)

    def to_dict(self, format_version=FORMAT_VERSION):
        return {"format_version": format_version, "objects": self.objects()}


def hash_problem(relative, expected, size, sha):
    """What is wrong with an object read as ``size`` bytes hashing to
    ``sha``, against its manifest entry, or None."""
    if sha != expected["sha256"] or size != expected["size"]:
        return (f"{relative}: sha256 mismatch (expected "
                f"{expected['sha256']}, {expected['size']} bytes; found "
                f"{sha}, {size} bytes)")
    return None
