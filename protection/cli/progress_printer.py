"""Per-resource progress lines on a terminal (stderr)."""

import sys
import threading
import time

from protection.model import progress


class ProgressPrinter:
    """A progress listener that prints one line per state change.

    Byte counts are printed at most once a second per resource.
    """

    def __init__(self, stream=None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self._clock = clock
        self._start = clock()
        self._last_bytes = {}
        self._lock = threading.Lock()

    def __call__(self, event):
        if event.resource is None:
            if event.state == progress.STARTED:
                self._write(f"{event.operation:8} operation {event.message}")
            return
        now = self._clock()
        what = f"{event.resource.type} {event.resource.id}"
        if event.resource.name and event.resource.name != event.resource.id:
            what += f" ({event.resource.name})"
        if event.state == progress.BYTES:
            last = self._last_bytes.get(event.resource.key, -10)
            if now - last < 1.0 and event.done != event.total:
                return
            self._last_bytes[event.resource.key] = now
            total = f"/{event.total / 2**20:.1f}" if event.total else ""
            detail = f"{event.done / 2**20:.1f}{total} MiB"
        elif event.state == progress.STEP:
            detail = f"{event.step}" + (f": {event.message}"
                                        if event.message else "")
        else:
            detail = event.state + (f" at {event.step}"
                                    if event.step else "")
        self._write(f"{event.operation:8} {what}: {detail}")

    def _write(self, text):
        with self._lock:
            self.stream.write(f"{self._clock() - self._start:7.1f}s  "
                              f"{text}\n")
            self.stream.flush()
