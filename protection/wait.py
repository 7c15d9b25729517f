"""Bounded, fail-fast waits for cloud resources.

Every wait has a deadline, polls with a growing interval (fast at first,
because most steps on a healthy cloud take a second or two), and ends at once
when the resource reaches an error status, with the cloud's own reason.
"""

import dataclasses
import time

from openstack import exceptions as sdk_exceptions

from protection import exceptions

DEFAULT_FAILURES = ("error",)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Wait settings, from the ``[timeouts]`` config group."""

    status_wait: float = 600.0
    per_gib: float = 120.0
    poll_initial: float = 0.5
    poll_max: float = 5.0

    @classmethod
    def from_config(cls, conf):
        group = conf.timeouts
        return cls(status_wait=group.status_wait, per_gib=group.per_gib,
                   poll_initial=group.poll_initial, poll_max=group.poll_max)

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


def _intervals(timeouts):
    interval = timeouts.poll_initial
    while True:
        yield interval
        interval = min(interval * 1.5, timeouts.poll_max)


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
    deadline = clock() + limit
    last = None
    for interval in _intervals(timeouts):
        obj = fetch()
        last = (getattr(obj, "status", None) or "").lower()
        if last in wanted:
            return obj
        if last in failed:
            reason = fault_of(obj)
            detail = f": {reason}" if reason else " (the cloud gave no reason)"
            raise exceptions.ResourceFailed(
                f"{what} went to status {last!r}{detail}")
        remaining = deadline - clock()
        if remaining <= 0:
            raise exceptions.WaitTimeout(
                f"{what} did not reach {'/'.join(sorted(wanted))} within "
                f"{limit:.0f}s (last status {last!r})")
        sleep(min(interval, remaining))
    raise AssertionError("unreachable")


def wait_for_delete(fetch, *, what, timeouts, failures=("error_deleting",),
                    timeout=None, sleep=time.sleep, clock=time.monotonic):
    """Poll ``fetch()`` until it raises NotFound (or returns None)."""
    failed = {s.lower() for s in failures}
    limit = timeouts.status_wait if timeout is None else timeout
    deadline = clock() + limit
    for interval in _intervals(timeouts):
        try:
            obj = fetch()
        except sdk_exceptions.NotFoundException:
            return
        if obj is None:
            return
        last = (getattr(obj, "status", None) or "").lower()
        if last in failed:
            reason = fault_of(obj)
            raise exceptions.ResourceFailed(
                f"{what} could not be deleted: status {last!r}"
                + (f": {reason}" if reason else ""))
        remaining = deadline - clock()
        if remaining <= 0:
            raise exceptions.WaitTimeout(
                f"{what} was not deleted within {limit:.0f}s "
                f"(last status {last!r})")
        sleep(min(interval, remaining))


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
    current = (getattr(obj, "status", None) or "").lower()
    if settled and current not in {s.lower() for s in settled}:
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
    deadline = clock() + timeouts.status_wait
    for interval in _intervals(timeouts):
        try:
            return call()
        except sdk_exceptions.NotFoundException:
            return None
        except sdk_exceptions.ConflictException as exc:
            if clock() >= deadline:
                raise exceptions.ResourceFailed(
                    f"{what} could not be deleted within "
                    f"{timeouts.status_wait:.0f}s: "
                    f"{exc.details or exc}") from None
            sleep(interval)
    raise AssertionError("unreachable")
