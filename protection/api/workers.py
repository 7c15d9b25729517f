"""The pool that runs operations inside the API process when no
jobboard is configured (one process serving a small cloud).

The request that starts an operation returns once it is recorded (202
with its id); a worker thread runs it to its end, and its row in the
operations table says how it went. At most ``[api] operation_workers``
run at once and ``[api] max_queued_operations`` wait: beyond that a new
operation is refused with 503 before anything is recorded. An API
process that dies leaves its running operations ``interrupted``, to be
resumed or aborted as any other.
"""

import concurrent.futures
import dataclasses
import logging
import threading

from protection import exceptions
from protection.api import errors

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Submitted:
    """What an operation handed to the pool returns at once."""

    kind: str
    operation_id: str


class WorkerPool:
    def __init__(self, workers, max_queued):
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="stackvault-operation")
        self._capacity = workers + max_queued
        self._pending = 0
        self._lock = threading.Lock()

    def require_room(self):
        """Raise 503 when the pool is full (checked before an operation
        is recorded, so a refused one leaves nothing behind)."""
        with self._lock:
            if self._pending >= self._capacity:
                raise errors.ServiceUnavailable(
                    f"{self._pending} operations are running or waiting "
                    "in this API process; try again later",
                    headers={"Retry-After": errors.RETRY_AFTER})

    def submit(self, operation, run):
        """Run ``run()`` (the operation's whole flow) on a worker."""
        with self._lock:
            self._pending += 1
        self._pool.submit(self._run, operation.kind, operation.id, run)
        return Submitted(operation.kind, operation.id)

    def _run(self, kind, operation_id, run):
        try:
            run()
            LOG.info("%s %s finished", kind, operation_id)
        except exceptions.StackvaultError as exc:
            LOG.warning("%s %s ended: %s", kind, operation_id, exc)
        except Exception:  # noqa: BLE001 - a worker must outlive one op
            LOG.exception("%s %s failed", kind, operation_id)
        finally:
            with self._lock:
                self._pending -= 1

    @property
    def pending(self):
        with self._lock:
            return self._pending

    def shutdown(self, wait=True):
        self._pool.shutdown(wait=wait)
