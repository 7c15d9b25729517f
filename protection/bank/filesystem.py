"""FileSystemBank: the embedded default bank, a directory on local disk.

Every write goes to a temporary file in the target's directory, is fsynced,
and is renamed over the target (then the directory is fsynced), so a crash
leaves either the old object or the new one.

A crash mid-write leaves its temporary file (``.tmp-*``). Listing a
directory removes the temporary files in it that nobody wrote to for
``TEMP_MAX_AGE`` seconds: a live writer touches its file with every chunk,
and a request stalled that long has failed its own timeout
(``[timeouts] request``, 60 s by default) well before.
"""

import errno
import logging
import os
import tempfile
import time

from protection import config
from protection import exceptions
from protection.bank import base
from protection.bank import keys

LOG = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
TEMP_MAX_AGE = 600.0


class FileSystemBank(base.Bank):
    name = "filesystem"

    def __init__(self, path):
        # realpath: _path() compares resolved paths with the root, so the
        # root must be resolved too (the bank directory may be a symlink).
        self.root = os.path.realpath(os.path.expanduser(path))
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise exceptions.BankError(
                f"cannot create bank directory {self.root}: "
                f"{exc.strerror}") from None

    def _makedirs(self, directory):
        """Create ``directory`` (inside the bank) and every missing folder
        between it and the root with mode 0700: ``os.makedirs`` gives only
        the last one its mode, the others the umask's (0755)."""
        missing = []
        while directory != self.root and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:     # another writer made it first
                pass

    @classmethod
    def from_config(cls, conf, **kwargs):
        return cls(config.filesystem_bank_path(conf))

    def describe(self):
        return f"filesystem bank at {self.root}"

    def _path(self, key):
        keys.validate_key(key)
        path = os.path.join(self.root, *key.split("/"))
        # Belt and braces: the validated key cannot escape, and neither can
        # a symlink planted inside the bank.
        real = os.path.realpath(path)
        if not (real == self.root or real.startswith(self.root + os.sep)):
            raise exceptions.InvalidBankKey(key, "resolves outside the bank")
        return path

    def put(self, key, data):
        path = self._path(key)
        directory = os.path.dirname(path)
        self._makedirs(directory)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
        reader = base.HashingReader(base.iter_chunks(data))
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in reader:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self._fsync_dir(directory)
        return base.ObjectInfo(key=key, size=reader.size, sha256=reader.sha256)

    @staticmethod
    def _fsync_dir(directory):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, key, chunk_size=base.DEFAULT_CHUNK_SIZE):
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise exceptions.ObjectNotFound(key) from None
        except IsADirectoryError:
            raise exceptions.ObjectNotFound(key) from None
        return self._read(handle, chunk_size)

    @staticmethod
    def _read(handle, chunk_size):
        with handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    def list(self, prefix=""):
        keys.validate_prefix(prefix)
        # Walk only the deepest directory the prefix names.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = os.path.join(self.root, *base_dir.split("/")) if base_dir \
            else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            for filename in filenames:
                if filename.startswith(TEMP_PREFIX):
                    self._clean_temporary(os.path.join(dirpath, filename))
                    continue
                key = rel + filename
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    @staticmethod
    def _clean_temporary(path):
        """Remove a crashed write's leftover, once it is old enough."""
        try:
            if time.time() - os.stat(path).st_mtime > TEMP_MAX_AGE:
                os.unlink(path)
                LOG.info("filesystem bank: removed %s, left by a write "
                         "that did not finish", path)
        except FileNotFoundError:
            pass            # its writer renamed or removed it meanwhile
        except OSError as exc:
            LOG.warning("filesystem bank: cannot remove %s: %s", path, exc)

    def exists(self, key):
        return os.path.isfile(self._path(key))

    def delete(self, key):
        path = self._path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        # Remove directories the delete left empty, up to the bank root.
        directory = os.path.dirname(path)
        while directory != self.root:
            try:
                os.rmdir(directory)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    break
                raise
            directory = os.path.dirname(directory)
