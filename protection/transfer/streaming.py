"""Helpers for moving a stream of bytes with constant memory.

Used by plugins that copy data between the cloud and the bank (the image
plugin) and by banks that cut data into segments (the Swift bank):

- :func:`split` cuts a stream of chunks into consecutive pieces of a fixed
  size, each piece itself a stream, without holding more than one chunk;
- :class:`SinglePass` is a request body that can be sent once only, so an
  HTTP client that retries after a broken connection fails loudly instead
  of sending the rest of a half-consumed stream as if it were the whole;
  it also remembers the source's own exception, which HTTP libraries tend
  to wrap in a generic connection error;
- :func:`close` ends a stream its reader stops early (a generator's
  ``finally``, an HTTP response), whatever kind of iterable it is.
"""

from concurrent import futures
import threading


def close(chunks):
    """Close ``chunks`` when it can be closed (a generator, a response's
    stream); a list or other plain iterable needs nothing."""
    closer = getattr(chunks, "close", None)
    if closer is not None:
        closer()


class Splitter:
    """Consecutive pieces of ``size`` bytes (the last may be shorter).

    Iterate over the splitter to get the pieces; consume each piece before
    asking for the next one (a piece left half-read is drained first, so
    the pieces stay aligned).
    """

    def __init__(self, chunks, size):
        if size <= 0:
            raise ValueError("piece size must be positive")
        self._chunks = iter(chunks)
        self._size = size
        self._pending = b""
        self._done = False
        self._current = None

    def _fill(self):
        """Make ``_pending`` non-empty unless the source is exhausted."""
        while not self._pending and not self._done:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                return
            self._pending = chunk

    def __iter__(self):
        while True:
            if self._current is not None:
                for _ in self._current:     # drain an abandoned piece
                    pass
                self._current = None
            self._fill()
            if not self._pending:
                return
            self._current = self._piece()
            yield self._current

    def _piece(self):
        left = self._size
        while left:
            self._fill()
            if not self._pending:
                return
            chunk = self._pending
            if len(chunk) <= left:
                # The common case (chunks divide the piece size): pass the
                # chunk on as it is, no copy.
                self._pending = b""
            else:
                chunk, self._pending = chunk[:left], chunk[left:]
            left -= len(chunk)
            yield chunk


def split(chunks, size):
    """Iterate over consecutive ``size``-byte pieces of ``chunks``."""
    return iter(Splitter(chunks, size))


class BackgroundHashes:
    """Feed chunks to ``hashlib`` objects on worker threads, in order.

    hashlib releases the GIL while it hashes a large buffer, so the hashes
    run in parallel with the thread that receives and writes the data (on
    a copy of a large image, hashing costs more CPU than moving the bytes).
    One thread per hash keeps each hash's updates in order; ``update``
    waits for a hash's previous chunk before handing it the next, so at
    most one chunk is in flight and memory stays bounded. Chunks must be
    immutable (``bytes``). Use as a context manager; read digests after
    :meth:`wait` (or the ``with`` block).
    """

    def __init__(self, *hashes):
        self.hashes = hashes
        self._pools = [futures.ThreadPoolExecutor(
            1, thread_name_prefix="stackvault-hash") for _ in hashes]
        self._pending = [None] * len(hashes)

    def update(self, chunk):
        for index, (hasher, pool) in enumerate(zip(self.hashes,
                                                   self._pools)):
            if self._pending[index] is not None:
                self._pending[index].result()
            self._pending[index] = pool.submit(hasher.update, chunk)

    def wait(self):
        for index, pending in enumerate(self._pending):
            if pending is not None:
                self._pending[index] = None
                pending.result()

    def close(self):
        try:
            self.wait()
        finally:
            for pool in self._pools:
                pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class SinglePass:
    """An iterable request body that refuses to be iterated twice.

    ``error`` is the exception the source raised, if any (HTTP clients wrap
    exceptions raised while sending a body; callers re-raise this one).
    ``limit``: raise :class:`TooLarge` instead of sending more bytes.
    """

    class TooLarge(Exception):
        pass

    class Replayed(Exception):
        pass

    def __init__(self, chunks, limit=None):
        self._chunks = chunks
        self._limit = limit
        self._started = False
        self._lock = threading.Lock()
        self.sent = 0
        self.error = None

    def __iter__(self):
        with self._lock:
            if self._started:
                self.error = self.error or self.Replayed(
                    "the request body was sent once already; a retry would "
                    "send only what was left of the stream")
                raise self.error
            self._started = True
        return self._generate()

    def _generate(self):
        try:
            for chunk in self._chunks:
                if self._limit is not None and \
                        self.sent + len(chunk) > self._limit:
                    raise self.TooLarge(
                        f"more than {self._limit} bytes")
                self.sent += len(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            self.error = exc
            raise
