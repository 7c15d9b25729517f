"""The bank interface that every bank backend implements."""

import abc
import dataclasses
import hashlib
import io
import json
import typing

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """What was stored: the object's key, size and sha256 (hex), and the
    bank's own fingerprint of it (see :meth:`Bank.fingerprints`; ``None``
    when the bank has none)."""

    key: str
    size: int
    sha256: str
    fingerprint: typing.Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Listed:
    """One object as a bank's listing reports it: its size and the bank's
    fingerprint (``None``: the bank does not vouch for this object)."""

    size: int
    fingerprint: typing.Optional[str]


def iter_chunks(data, chunk_size=DEFAULT_CHUNK_SIZE):
    """Yield ``bytes`` chunks from bytes, a binary file or an iterable."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start:start + chunk_size])
        return
    if hasattr(data, "read"):
        while True:
            chunk = data.read(chunk_size)
            if not chunk:
                return
            yield chunk
        return
    for chunk in data:
        if chunk:
            yield bytes(chunk)


def encode_json(obj):
    """The bytes ``put_json`` stores for ``obj``."""
    return json.dumps(obj, indent=2, sort_keys=True).encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class CountingReader:
    """Pass chunks through while counting bytes."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self.size = 0

    def __iter__(self):
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


class HashingReader:
    """Pass chunks through while counting bytes and computing sha256."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._hash = hashlib.sha256()
        self.size = 0

    def __iter__(self):
        for chunk in self._chunks:
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk

    @property
    def sha256(self):
        return self._hash.hexdigest()


class Bank(abc.ABC):
    """A key/object store with streaming put and get.

    Keys are validated with :func:`protection.bank.keys.validate_key`.
    Writes are atomic: a reader sees the old object or the new one whole,
    never a part. Memory use is bounded by the chunk size, whatever the
    object's size.
    """

    name = "bank"

    @abc.abstractmethod
    def put(self, key, data):
        """Store ``data`` (bytes, binary file, or iterable of bytes).

        Returns :class:`ObjectInfo`: size and sha256 of what was stored.
        """

    @abc.abstractmethod
    def get(self, key, chunk_size=DEFAULT_CHUNK_SIZE):
        """Return an iterator of the object's bytes in chunks.

        Raises :class:`~protection.exceptions.ObjectNotFound`.
        """

    @abc.abstractmethod
    def list(self, prefix=""):
        """Return the sorted keys that start with ``prefix``."""

    @abc.abstractmethod
    def delete(self, key):
        """Delete ``key``; deleting a missing key is not an error."""

    def exists(self, key):
        return key in self.list(key)

    def fingerprints(self, prefix=""):
        """``{key: Listed}`` for every object under ``prefix``, told by the
        bank without reading the objects, or ``None`` when the bank keeps
        no native fingerprint (the default).

        A fingerprint is a string that changes whenever the object's
        content changes, equal to the one :meth:`put` returned in
        :class:`ObjectInfo` for the same object; it is only ever compared
        for equality (:func:`protection.checkpoint.verify.verify_objects`).
        """
        return None

    def describe(self):
        """A one-line human description (for `checkpoint show` and logs)."""
        return self.name

    # -- conveniences built on the primitives --------------------------------
    def get_bytes(self, key):
        return b"".join(self.get(key))

    def put_json(self, key, obj):
        return self.put(key, io.BytesIO(encode_json(obj)))

    def get_json(self, key):
        return json.loads(self.get_bytes(key).decode("utf-8"))

    def sha256(self, key):
        """Stream the object and return ``(size, sha256)``."""
        reader = HashingReader(self.get(key))
        for _ in reader:
            pass
        return reader.size, reader.sha256
