"""Bounded, fail-fast waits for cloud resources.

Every wait has a deadline, polls with an interval that grows with the time
already waited (``poll_lateness`` of it, a twentieth by default: a change is
noticed at most a twentieth of the wait late, and never more than
``poll_max`` late; every ``poll_initial`` at first, because most steps on a
healthy cloud take a second or two), and ends at once when the resource
reaches an error status, with the cloud's own reason.

A poll that cannot be answered (a connection error, a request timeout, an
HTTP 5xx from a service that is restarting) is not an answer: it is retried
until the wait's own deadline, so one bad poll never fails a step whose work
has finished (and a rollback never deletes that work).
"""

import dataclasses
import logging
import time

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from protection import exceptions

LOG = logging.getLogger(__name__)

DEFAULT_FAILURES = ("error",)
_UNANSWERED = object()


def _transient(exc):
    """A poll that the cloud did not answer (worth asking again)."""
    if isinstance(exc, (ks_exceptions.ConnectionError,
                        ks_exceptions.RetriableConnectionFailure)):
        return True
    if isinstance(exc, sdk_exceptions.HttpException) and not isinstance(
            exc, sdk_exceptions.NotFoundException):
        return (exc.status_code or 0) >= 500
    return isinstance(exc, sdk_exceptions.SDKException) and \
        isinstance(getattr(exc, "__cause__", None),
                   ks_exceptions.ConnectionError)


def _poll(fetch, what):
    """``fetch()``, or ``_UNANSWERED`` when the cloud did not answer."""
    try:
        return fetch()
    except Exception as exc:  # noqa: BLE001 - re-raised unless transient
        if not _transient(exc):
            raise
        LOG.warning("polling %s: no answer this time (%s); asking again",
                    what, exc)
        return _UNANSWERED


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Wait settings, from the ``[timeouts]`` config group."""

    status_wait: float = 600.0
    per_gib: float = 120.0
    poll_initial: float = 0.25
    poll_max: float = 5.0
    poll_lateness: float = 0.05

    @classmethod
    def from_config(cls, conf):
        group = conf.timeouts
        return cls(status_wait=group.status_wait, per_gib=group.per_gib,
                   poll_initial=group.poll_initial, poll_max=group.poll_max,
                   poll_lateness=group.poll_lateness)

    def for_size(self, size_gib):
        """The deadline for a step that moves ``size_gib`` GiB of data."""
        return self.status_wait + self.per_gib * max(0.0, float(size_gib or 0))


def fault_of(obj):
    """The cloud's explanation of an error status, if it gives one."""
    for attr in ("fault", "fail_reason", "status_reason", "message"):
        value = getattr(obj, attr, None)
        if isinstance(value, dict):
            value = value.get("message") or value.get("details")
        if value:
            return str(value)
    return None


def interval_after(timeouts, elapsed):
    """Seconds until the next poll, ``elapsed`` seconds into a wait.

    The next poll comes ``poll_lateness`` of the time waited so far later:
    no fixed interval that a long step overshoots by seconds, no floor
    that a short one pays in full. A lower lateness notices the end of a
    step sooner and costs more polls (about ``ln(t / t0) / lateness``
    polls for a wait of ``t`` seconds once past ``t0``)."""
    return min(max(timeouts.poll_initial, timeouts.poll_lateness * elapsed),
               timeouts.poll_max)


def _answers(fetch, what, limit, timeouts, sleep, clock, timed_out):
    """Each answered poll of ``fetch()``, until ``limit`` seconds have
    passed; then ``raise timed_out()``. Unanswered polls are skipped."""
    started = clock()
    deadline = started + limit
    while True:
        obj = _poll(fetch, what)
        if obj is not _UNANSWERED:
            yield obj
        now = clock()
        remaining = deadline - now
        if remaining <= 0:
            raise timed_out()
        sleep(min(interval_after(timeouts, now - started), remaining))


def _status(obj):
    return (getattr(obj, "status", None) or "").lower()


def wait_for_status(fetch, status, *, what, timeouts,
                    failures=DEFAULT_FAILURES, timeout=None,
                    sleep=time.sleep, clock=time.monotonic):
    """Poll ``fetch()`` until its ``status`` is ``status``; return the object.

    ``status`` may be a string or a collection of acceptable statuses;
    comparison ignores case. ``failures`` end the wait at once with
    :class:`~protection.exceptions.ResourceFailed`; running out of time
    raises :class:`~protection.exceptions.WaitTimeout`. ``what`` names the
    resource in messages (``"volume 1234"``).
    """
    wanted = {status.lower()} if isinstance(status, str) else \
        {s.lower() for s in status}
    failed = {s.lower() for s in failures}
    limit = timeouts.status_wait if timeout is None else timeout
    last = None

    def timed_out():
        return exceptions.WaitTimeout(
            f"{what} did not reach {'/'.join(sorted(wanted))} within "
            f"{limit:.0f}s (last status {last!r})")

    for obj in _answers(fetch, what, limit, timeouts, sleep, clock,
                        timed_out):
        last = _status(obj)
        if last in wanted:
            return obj
        if last in failed:
            reason = fault_of(obj)
            detail = f": {reason}" if reason else " (the cloud gave no reason)"
            raise exceptions.ResourceFailed(
                f"{what} went to status {last!r}{detail}")
    raise AssertionError("unreachable")


def wait_for_delete(fetch, *, what, timeouts, failures=("error_deleting",),
                    timeout=None, sleep=time.sleep, clock=time.monotonic):
    """Poll ``fetch()`` until it raises NotFound (or returns None)."""
    failed = {s.lower() for s in failures}
    limit = timeouts.status_wait if timeout is None else timeout
    last = None

    def timed_out():
        return exceptions.WaitTimeout(
            f"{what} was not deleted within {limit:.0f}s "
            f"(last status {last!r})")

    try:
        for obj in _answers(fetch, what, limit, timeouts, sleep, clock,
                            timed_out):
            if obj is None:
                return
            last = _status(obj)
            if last in failed:
                reason = fault_of(obj)
                raise exceptions.ResourceFailed(
                    f"{what} could not be deleted: status {last!r}"
                    + (f": {reason}" if reason else ""))
    except sdk_exceptions.NotFoundException:
        return


def delete_when_settled(fetch, delete, *, what, timeouts, settled=None,
                        failures=("error_deleting",), sleep=time.sleep,
                        clock=time.monotonic):
    """Delete a cloud object and wait until it is gone, all bounded.

    The one way stackvault undoes what it created:

    1. ``fetch()`` (NotFound or ``None``: already gone, nothing to do);
    2. with ``settled`` (statuses in which the service allows a delete),
       wait for one of them first: a volume or backup still being created
       refuses to be deleted;
    3. ``delete()``, retried while the service answers 409 Conflict (an IP
       allocation or a port still going away holds a Neutron object);
    4. wait until ``fetch()`` says NotFound.

    Every wait ends within ``timeouts.status_wait``.
    """
    try:
        obj = fetch()
    except sdk_exceptions.NotFoundException:
        return
    if obj is None:
        return
    if settled and _status(obj) not in {s.lower() for s in settled}:
        wait_for_status(fetch, settled, what=what, timeouts=timeouts,
                        failures=(), sleep=sleep, clock=clock)
    retry_on_conflict(delete, what=what, timeouts=timeouts, sleep=sleep,
                      clock=clock)
    wait_for_delete(fetch, what=what, timeouts=timeouts, failures=failures,
                    sleep=sleep, clock=clock)


def retry_on_conflict(call, *, what, timeouts, sleep=time.sleep,
                      clock=time.monotonic):
    """Call ``call()``; while the service answers 409, retry (bounded by
    ``timeouts.status_wait``). NotFound counts as done."""
    started = clock()
    deadline = started + timeouts.status_wait
    while True:
        try:
            return call()
        except sdk_exceptions.NotFoundException:
            return None
        except sdk_exceptions.ConflictException as exc:
            now = clock()
            if now >= deadline:
                raise exceptions.ResourceFailed(
                    f"{what} could not be deleted within "
                    f"{timeouts.status_wait:.0f}s: "
                    f"{exc.details or exc}") from None
            sleep(interval_after(timeouts, now - started))
