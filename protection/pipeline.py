"""Consecutive objects moved concurrently, with bounded memory.

Image data is one sequential stream (a Glance download, or an upload
into Glance) cut into consecutive bank objects, and a large Swift object
is cut into segments. Moving one object after the other leaves each side
idle while the other works (the download waits for the bank's write, the
next object waits for the previous one's last response). These helpers
overlap them, each object still moved by one request of its own:

- :func:`put_pieces`: the calling thread reads the source, piece after
  piece, and hands each piece's chunks through a queue of ``depth``
  chunks to a worker thread that stores the piece (``put(index,
  chunks)``); at most ``concurrency`` pieces are in flight;
- :class:`PieceReader`: the chunks of consecutive pieces, in order, for a
  sequential consumer (a request body); while the consumer takes one
  piece, workers read the next ``concurrency - 1`` into their queues.

Memory is bounded by ``concurrency x (depth + 1)`` chunks (``depth``
queued and one in hand per worker), plus the one the calling thread
holds, whatever the size of a piece.

A failure anywhere (the source, a worker, the consumer) cancels every
queue: a worker blocked on its queue stops; a put or read in progress
sees :class:`Cancelled` raised from its chunk iterator and aborts (a bank
stores nothing of an aborted put: a put never sees a normal end of data
that was cut short). The first error is raised in the calling thread,
once every worker has ended: no thread outlives the call, and every
object stored is whole.
"""

import collections
from concurrent import futures
import threading

DEFAULT_DEPTH = 2


class Cancelled(Exception):
    """Raised from a queue once the pipeline failed (the first error is
    the one reported)."""


class _Pipeline:
    """The state every queue of one transfer shares: one condition, the
    first error."""

    def __init__(self, depth):
        if depth < 1:
            raise ValueError("queue depth must be at least 1")
        self.depth = depth
        self.cond = threading.Condition()
        self.error = None

    def fail(self, exc):
        with self.cond:
            if self.error is None:
                self.error = exc
            self.cond.notify_all()

    def check(self):
        """Raise Cancelled once the pipeline failed (hold ``cond``)."""
        if self.error is not None:
            raise Cancelled(str(self.error))


class _Queue:
    """One piece's chunks, from one thread to another: ``put`` blocks while
    ``depth`` chunks wait; iterating yields them until ``close``."""

    def __init__(self, pipeline):
        self._pipeline = pipeline
        self._chunks = collections.deque()
        self._closed = False

    def put(self, chunk):
        pipeline = self._pipeline
        with pipeline.cond:
            while len(self._chunks) >= pipeline.depth and \
                    pipeline.error is None:
                pipeline.cond.wait()
            pipeline.check()
            self._chunks.append(chunk)
            pipeline.cond.notify_all()

    def close(self):
        with self._pipeline.cond:
            self._closed = True
            self._pipeline.cond.notify_all()

    @property
    def drained(self):
        with self._pipeline.cond:
            return self._closed and not self._chunks

    def __iter__(self):
        pipeline = self._pipeline
        while True:
            with pipeline.cond:
                while not self._chunks and not self._closed and \
                        pipeline.error is None:
                    pipeline.cond.wait()
                pipeline.check()
                if not self._chunks:
                    return
                chunk = self._chunks.popleft()
                pipeline.cond.notify_all()
            yield chunk


def _close(iterator):
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def put_pieces(pieces, put, concurrency, depth=DEFAULT_DEPTH,
               name="stackvault-put"):
    """Store consecutive pieces concurrently; return ``put``'s results in
    the pieces' order.

    ``pieces``: an iterable of pieces, each an iterable of ``bytes``
    chunks, read on this thread in order (:func:`streaming.split`'s pieces
    qualify). ``put(index, chunks)`` runs on a worker and must consume
    ``chunks`` to its end. On any failure the first error is raised here
    after every worker ended; pieces already stored stay (the caller knows
    their names and removes them).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    pipeline = _Pipeline(depth)
    results = {}
    running = [0]

    def work(index, queue):
        try:
            results[index] = put(index, iter(queue))
            if not queue.drained:
                raise RuntimeError(
                    f"piece {index}: the put returned before the end of "
                    "its data")
        except Cancelled:
            pass
        except BaseException as exc:
            pipeline.fail(exc)
        finally:
            with pipeline.cond:
                running[0] -= 1
                pipeline.cond.notify_all()

    with futures.ThreadPoolExecutor(concurrency,
                                    thread_name_prefix=name) as pool:
        count = 0
        try:
            for piece in pieces:
                with pipeline.cond:
                    while running[0] >= concurrency and \
                            pipeline.error is None:
                        pipeline.cond.wait()
                    pipeline.check()
                    running[0] += 1
                queue = _Queue(pipeline)
                pool.submit(work, count, queue)
                count += 1
                for chunk in piece:
                    queue.put(chunk)
                queue.close()
        except Cancelled:
            pass                    # a worker's error, raised below
        except BaseException as exc:
            pipeline.fail(exc)
    # Leaving the executor joined every worker.
    if pipeline.error is not None:
        raise pipeline.error
    return [results[index] for index in range(count)]


class PieceReader:
    """The chunks of consecutive pieces, in order, read ahead concurrently.

    ``readers``: one callable per piece returning an iterator of its
    chunks (it may raise at its end, after checking what it read). Up to
    ``concurrency`` pieces are read at once: the one being consumed and
    the next ones. Iterate once; :meth:`close` (or the ``with`` block)
    stops and joins the workers, also when the consumer stopped early.
    A worker's error is raised from the iteration as soon as it happens.
    """

    def __init__(self, readers, concurrency, depth=DEFAULT_DEPTH,
                 name="stackvault-get"):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._readers = list(readers)
        self._concurrency = concurrency
        self._pipeline = _Pipeline(depth)
        self._pool = futures.ThreadPoolExecutor(concurrency,
                                                thread_name_prefix=name)
        self._queues = {}
        self._started = 0

    def _work(self, queue, reader):
        chunks = None
        try:
            chunks = reader()
            for chunk in chunks:
                queue.put(chunk)
            queue.close()
        except Cancelled:
            pass
        except BaseException as exc:
            self._pipeline.fail(exc)
        finally:
            if chunks is not None:
                _close(chunks)

    def _start_up_to(self, end):
        while self._started < min(end, len(self._readers)):
            queue = _Queue(self._pipeline)
            self._queues[self._started] = queue
            self._pool.submit(self._work, queue,
                              self._readers[self._started])
            self._started += 1

    def __iter__(self):
        try:
            for index in range(len(self._readers)):
                self._start_up_to(index + self._concurrency)
                yield from self._queues.pop(index)
        except Cancelled:
            raise self._pipeline.error from None

    def close(self):
        self._pipeline.fail(Cancelled("the consumer stopped"))
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
