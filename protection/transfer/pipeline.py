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
holds, whatever the size of a piece. A :class:`Budget` shared by several
transfers bounds them together: each piece in flight holds one of its
slots (a reader's read-ahead takes only free slots and waits for none,
so a transfer always gets on with the piece its consumer needs, and
slots are taken in each transfer's order: no transfer waits holding a
slot another needs to finish).

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

from protection.transfer import streaming

DEFAULT_DEPTH = 2


class Cancelled(Exception):
    """Raised from a queue once the pipeline failed (the first error is
    the one reported)."""


class Budget:
    """Slots for pieces in flight, shared by every transfer given it.

    ``limit`` may be changed while transfers run (a new value applies to
    the next slot taken).
    """

    def __init__(self, limit):
        if limit < 1:
            raise ValueError("a budget needs at least 1 slot")
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def take(self, pipeline, wait=True):
        """Take a slot (True); without ``wait``, False when none is free.
        Waiting ends with Cancelled once ``pipeline`` failed."""
        with self._cond:
            while self.used >= self.limit:
                if not wait:
                    return False
                pipeline.check()
                self._cond.wait()
            pipeline.check()
            self.used += 1
            return True

    def give(self):
        with self._cond:
            self.used -= 1
            self._cond.notify_all()

    def wake(self):
        """Let the waiting takers look at their pipelines' errors."""
        with self._cond:
            self._cond.notify_all()


class _Pipeline:
    """The state every queue of one transfer shares: one condition, the
    first error, the budget it takes slots from (or None)."""

    def __init__(self, depth, budget=None):
        if depth < 1:
            raise ValueError("queue depth must be at least 1")
        self.depth = depth
        self.cond = threading.Condition()
        self.error = None
        self.budget = budget

    def fail(self, exc):
        with self.cond:
            if self.error is None:
                self.error = exc
            self.cond.notify_all()
        if self.budget is not None:
            self.budget.wake()

    def take_slot(self, wait=True):
        return self.budget is None or self.budget.take(self, wait)

    def give_slot(self):
        if self.budget is not None:
            self.budget.give()

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


class _Running:
    """The puts in flight of one :func:`put_pieces`: at most
    ``concurrency``, each holding a slot of the pipeline's budget."""

    def __init__(self, pipeline, concurrency):
        self._pipeline = pipeline
        self._concurrency = concurrency
        self._count = 0

    def start(self):
        """Wait for room and a slot (Cancelled once the pipeline failed)."""
        pipeline = self._pipeline
        with pipeline.cond:
            while self._count >= self._concurrency and \
                    pipeline.error is None:
                pipeline.cond.wait()
            pipeline.check()
        pipeline.take_slot()
        with pipeline.cond:
            self._count += 1

    def end(self):
        pipeline = self._pipeline
        pipeline.give_slot()
        with pipeline.cond:
            self._count -= 1
            pipeline.cond.notify_all()


def put_pieces(pieces, put, concurrency, depth=DEFAULT_DEPTH,
               name="stackvault-put", budget=None):
    """Store consecutive pieces concurrently; return ``put``'s results in
    the pieces' order.

    ``pieces``: an iterable of pieces, each an iterable of ``bytes``
    chunks, read on this thread in order (:func:`streaming.split`'s pieces
    qualify). ``put(index, chunks)`` runs on a worker and must consume
    ``chunks`` to its end. On any failure the first error is raised here
    after every worker ended; pieces already stored stay (the caller knows
    their names and removes them). With ``budget``, each piece also holds
    one of its slots until its put ended (waited for before the piece is
    read).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    pipeline = _Pipeline(depth, budget)
    results = {}
    running = _Running(pipeline, concurrency)

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
            running.end()

    with futures.ThreadPoolExecutor(concurrency,
                                    thread_name_prefix=name) as pool:
        count = 0
        try:
            for piece in pieces:
                running.start()
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
    With ``budget``, each piece holds one of its slots from its start
    until the consumer took its last chunk: the piece the consumer needs
    waits for a slot, the read-ahead takes only free ones.
    """

    def __init__(self, readers, concurrency, depth=DEFAULT_DEPTH,
                 name="stackvault-get", budget=None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._readers = list(readers)
        self._concurrency = concurrency
        self._pipeline = _Pipeline(depth, budget)
        self._pool = futures.ThreadPoolExecutor(concurrency,
                                                thread_name_prefix=name)
        self._queues = {}
        self._started = 0
        self._holding = 0           # slots of started, unconsumed pieces

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
                streaming.close(chunks)

    def _start_up_to(self, needed, end):
        while self._started < min(end, len(self._readers)):
            if not self._pipeline.take_slot(wait=self._started == needed):
                return              # read ahead once slots are free
            self._holding += 1
            queue = _Queue(self._pipeline)
            self._queues[self._started] = queue
            self._pool.submit(self._work, queue,
                              self._readers[self._started])
            self._started += 1

    def __iter__(self):
        try:
            for index in range(len(self._readers)):
                self._start_up_to(index, index + self._concurrency)
                yield from self._queues.pop(index)
                self._holding -= 1
                self._pipeline.give_slot()
        except Cancelled:
            raise self._pipeline.error from None

    def close(self):
        self._pipeline.fail(Cancelled("the consumer stopped"))
        self._pool.shutdown(wait=True)
        for _ in range(self._holding):
            self._pipeline.give_slot()
        self._holding = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
