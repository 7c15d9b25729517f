"""The map from an original resource to what a restore created for it."""

import threading

from protection import exceptions


class RestoredIds:
    """Thread-safe ``(type, original id) -> new id`` map for one restore.

    ``on_change(ids)`` is called (under the lock) after every change, so
    that the map can be kept durably as it grows.

    Children record their new ids before their parents' restore flows start
    (the flow builder guarantees that order), so a server's tasks can look
    up the new ids of its volumes, image and networks. Sub-objects (subnets,
    ports, security groups) are recorded the same way under their own types.
    """

    def __init__(self, initial=None, on_change=None):
        self._ids = dict(initial or {})
        self._lock = threading.Lock()
        self._key_locks = {}
        self._on_change = on_change

    def _changed(self):
        if self._on_change is not None:
            self._on_change(dict(self._ids))

    def record(self, rtype, original_id, new_id):
        with self._lock:
            self._ids[(rtype, original_id)] = new_id
            self._changed()

    def forget(self, rtype, original_id):
        with self._lock:
            if self._ids.pop((rtype, original_id), None) is not None:
                self._changed()

    def get(self, rtype, original_id, default=None):
        with self._lock:
            return self._ids.get((rtype, original_id), default)

    def require(self, rtype, original_id):
        """The new id, or a clear error when it was never restored."""
        new_id = self.get(rtype, original_id)
        if new_id is None:
            raise exceptions.StackvaultError(
                f"{rtype} {original_id} has no restored counterpart "
                "(was it part of the checkpoint and restored first?)")
        return new_id

    def create_once(self, rtype, original_id, create):
        """Restore a shared sub-object exactly once per restore.

        Two resources' flows may both need one original object (a router
        or security group used by two protected networks). The first caller
        runs ``create()`` (which returns the new id) and records it; the
        others wait for it and reuse that id. Returns ``(new_id, created)``:
        only a caller with ``created`` true may delete it on revert.
        """
        key = (rtype, original_id)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            existing = self.get(rtype, original_id)
            if existing is not None:
                return existing, False
            new_id = create()
            self.record(rtype, original_id, new_id)
            return new_id, True

    def as_dict(self):
        with self._lock:
            return dict(self._ids)

    def __contains__(self, key):
        with self._lock:
            return key in self._ids
