"""The protection service: a TaskFlow conductor that runs posted operations.

``stackvault conductor`` claims jobs from the jobboard
(:mod:`protection.operations.jobboard`) with TaskFlow's own conductors
(blocking or nonblocking, ``[conductor] max_jobs`` at once) and runs each job's
operation from the shared persistence database.

Where the bookkeeping lives. TaskFlow's executor conductor dispatches a
job by loading an engine from the job's flow detail and running it; what
stackvault does around a run (take the operation over, claim the
checkpoint, beat the heartbeats, then commit or fail the checkpoint and
finish the operation's row) is not in the flow, and cannot all be: the
finish of a failed operation comes after TaskFlow's rollback. So this
conductor overrides the one dispatch hook, ``_dispatch_job``: it hands
the job's operation to :meth:`ProtectionService.resume`, exactly what
``stackvault operation resume`` runs, whose runner builds the flow from
the factory TaskFlow recorded (:mod:`protection.operations.flow_factory`) on
the job's flow detail. Consuming, abandoning and claiming stay TaskFlow's.

A job is consumed when its operation ended (succeeded, failed, aborted)
and abandoned (its claim released, for any conductor) when the conductor
was stopped (SIGTERM: the operation stops at a task boundary, resumable;
a job claimed but not started yet is released untouched, and no run
starts any more) or the run broke for another reason. Every start is
counted in the operation's flow detail; after ``[jobboard]
max_attempts`` starts (a conductor dying during the job counts) the
operation ends ``failed`` with the last reason instead of being run
again.

An operation posted by the API acts with the Keystone trust it recorded
(:mod:`protection.auth`); one whose trust Keystone no longer honours
(deleted, expired, its trustor's role removed) is not retried: it ends
``failed`` with that reason at once. An abort asked through the API
(``abort`` in the operation's args, with who asked) is run as an abort.

An operation with a follow-up (``follow_up`` in its args: a plan run the
API posted, whose retention and plan record come after its protect) has
it run by the ``after`` hook once the operation ended, before the job is
consumed and only then is its trust deleted (:meth:`JobWorker.
follow_up`). The conductor knows nothing of plans: the hook is handed in
by :mod:`protection.cli.conductor`, as the periodic hooks are.
"""

import logging
import signal
import threading
import time

from taskflow.conductors.backends import impl_blocking
from taskflow.conductors.backends import impl_nonblocking

from protection import exceptions
from protection.auth import trusts
from protection.checkpoint.store import Tenancy
from protection.operations import store as ops
from protection.model import progress as progress_mod
from protection.operations import runner as runner_mod

LOG = logging.getLogger(__name__)
CONSUME, RELEASE = True, False
TICK = 1.0            # seconds between two looks of the Ticker


def log_progress(event):
    """A progress listener: the conductor's log lines."""
    if event.resource is None:
        LOG.info("%s operation %s %s", event.operation, event.message,
                 event.state)
    elif event.state in (progress_mod.STEP, progress_mod.FAILED):
        LOG.info("%s %s: %s %s", event.operation, event.resource,
                 event.state, event.step or "")


class JobWorker:
    """Runs one job's operation; says whether to consume the job."""

    def __init__(self, conf, service, connect, sleep=time.sleep,
                 after=None):
        self.conf = conf
        self.service = service
        self.connect = connect
        self.sleep = sleep
        # The follow-up hook of operations that have one (a posted plan
        # run: protection.plans.run.AfterProtect, handed in by the CLI).
        self.after = after
        self.active = {}          # job -> operation id, while it runs
        self.orphans = set()      # ids this process may still own
        self._lock = threading.Lock()

    def stop(self):
        """SIGTERM: running operations stop at their next task boundary,
        and no job is started any more (one already claimed is released
        untouched)."""
        self.service.runner.stop()

    @property
    def _backoff(self):
        return min(5.0, self.conf.jobboard.claim_expiry / 2)

    def __call__(self, job):
        operation_id = (job.details or {}).get("operation_id")
        if not operation_id:
            LOG.warning("job %s names no operation: consumed", job)
            return CONSUME
        with self._lock:
            self.active[job] = operation_id
        try:
            if self.run(operation_id) is RELEASE:
                return RELEASE
            return self.follow_up(operation_id)
        finally:
            with self._lock:
                self.active.pop(job, None)

    def run(self, operation_id):
        if self.service.runner.stopping:
            LOG.info("stopping: operation %s released untouched",
                     operation_id)
            return RELEASE
        stores = self.service.stores
        try:
            op = stores.operations.get(operation_id)
        except ops.OperationNotFound:
            LOG.warning("operation %s is gone: job consumed", operation_id)
            return CONSUME
        if op.status in ops.FINAL:
            return CONSUME
        if op.owner_alive():
            # Its owner still beats (another conductor whose claim lapsed,
            # or the poster not done yet): leave it, look again later.
            LOG.info("operation %s is still owned by %s:%s; released",
                     operation_id, op.owner_host, op.owner_pid)
            self.sleep(self._backoff)
            return RELEASE
        attempts, last_error = stores.flows.note_attempt(operation_id)
        if attempts > self.conf.jobboard.max_attempts:
            return self.give_up(op, attempts - 1, last_error)
        LOG.info("running %s %s (attempt %d)", op.kind, operation_id,
                 attempts)
        return self._resume(operation_id, (op.args or {}).get("abort"))

    def _take_over(self, operation_id, abort):
        """The service's resume, or its abort when one was asked
        (``abort``: who asked, ``{"project_id", "user_id"}``)."""
        if abort:
            self.service.abort(operation_id, self.connect, Tenancy(
                abort.get("project_id"), abort.get("user_id")))
        else:
            self.service.resume(operation_id, self.connect)

    def _resume(self, operation_id, abort=None):
        stores = self.service.stores
        try:
            self._take_over(operation_id, abort)
        except trusts.TrustNotHonoured as exc:
            # Retrying cannot help: ended now, with the reason.
            LOG.warning("operation %s: %s", operation_id, exc)
            return self.end(stores.operations.get(operation_id), str(exc))
        except runner_mod.OperationInterrupted:
            LOG.info("operation %s stopped at a task boundary; released",
                     operation_id)
            return RELEASE
        except exceptions.OperationFailed as exc:
            LOG.info("operation %s: %s", operation_id, exc)
            return CONSUME
        except ops.OperationBusy as exc:
            # Another process won the operation (a resume racing this
            # conductor): its job waits for it to end.
            LOG.info("operation %s: %s; released", operation_id, exc)
            self.sleep(self._backoff)
            return RELEASE
        except ops.OwnershipLost as exc:
            # Taken from this process, or the database was away: if it
            # is still recorded as ours it is released (now or later).
            LOG.warning("%s; job released", exc)
            self.let_go(operation_id)
            self.sleep(self._backoff)
            return RELEASE
        except Exception as exc:  # noqa: BLE001 - counted, then given up
            # The service released the operation (its _take_over);
            # failing to record why must not stop the job's release.
            reason = f"{type(exc).__name__}: {exc}"
            LOG.warning("operation %s broke: %s", operation_id, reason,
                        exc_info=LOG.isEnabledFor(logging.DEBUG))
            self.let_go(operation_id)
            try:
                stores.flows.note_attempt(operation_id, error=reason)
            except Exception as note_exc:  # noqa: BLE001 - logged
                LOG.warning("operation %s: why it broke was not recorded: "
                            "%s", operation_id, note_exc)
            self.sleep(self._backoff)
            return RELEASE
        LOG.info("operation %s succeeded", operation_id)
        return CONSUME

    def follow_up(self, operation_id):
        """The job's operation ended: run its follow-up (if it has one,
        not run yet), which ends its trust; whether to consume the job.
        It runs while the job is still claimed: a conductor that dies
        during it (or a hook that breaks) leaves the job unconsumed, and
        the next conductor to claim it finds the operation ended and
        runs the follow-up again."""
        try:
            self.service.follow_up(operation_id, self.after)
        except ops.OperationNotFound:
            return CONSUME
        except Exception as exc:  # noqa: BLE001 - the job is retried
            LOG.warning("operation %s: its follow-up broke: %s: %s; job "
                        "released", operation_id, type(exc).__name__, exc,
                        exc_info=LOG.isEnabledFor(logging.DEBUG))
            self.sleep(self._backoff)
            return RELEASE
        return CONSUME

    def let_go(self, operation_id):
        """Release an operation whose run stopped here if this process is
        still its recorded owner (the service releases it too, but not
        while the database is away: a live conductor's pid would keep it
        from every process of this host); retried by the Ticker
        (:meth:`release_orphans`) until the database answers."""
        try:
            self.service.stores.operations.release_mine(operation_id)
        except Exception as exc:  # noqa: BLE001 - retried by the ticker
            LOG.warning("operation %s not released yet: %s", operation_id,
                        exc)
            with self._lock:
                self.orphans.add(operation_id)

    def release_orphans(self):
        """Retry :meth:`let_go` for each operation still pending (not one
        this worker runs again meanwhile)."""
        with self._lock:
            pending = self.orphans - set(self.active.values())
            self.orphans -= pending
        for operation_id in sorted(pending):
            self.let_go(operation_id)

    def give_up(self, op, attempts, last_error):
        """Too many starts: the service takes the operation over and ends
        it ``failed`` with the last reason (still abortable); whether to
        consume the job."""
        reason = (f"given up after {attempts} attempts by conductors; last: "
                  f"{last_error or 'the conductor running it died'}")
        return self.end(op, reason)

    def end(self, op, reason):
        """Take the operation over and end it ``failed`` with ``reason``
        (still abortable); whether to consume the job."""
        try:
            owned = self.service.stores.operations.take_over(op.id)
        except ops.OperationBusy as exc:
            LOG.info("operation %s not given up: %s", op.id, exc)
            return RELEASE
        LOG.warning("operation %s: %s", op.id, reason)
        self.service.give_up(owned, reason)
        return CONSUME


def _dispatching_to(base):
    class Conductor(base):
        """TaskFlow's conductor, dispatching to a :class:`JobWorker`."""

        def __init__(self, name, board, worker, **kwargs):
            super().__init__(name, board, **kwargs)
            self.worker = worker

        def _dispatch_job(self, job):
            return self.worker(job)
    return Conductor


BlockingConductor = _dispatching_to(impl_blocking.BlockingConductor)
NonBlockingConductor = _dispatching_to(impl_nonblocking.NonBlockingConductor)


def make_conductor(conf, name, board, worker):
    options = {"wait_timeout": conf.conductor.wait_timeout, "log": LOG}
    if conf.conductor.type == "blocking":
        return BlockingConductor(name, board, worker, **options)
    return NonBlockingConductor(
        name, board, worker, max_simultaneous_jobs=conf.conductor.max_jobs,
        **options)


class Ticker:
    """A daemon thread that extends the claims of the jobs being worked
    on every ``interval`` seconds and calls the periodic hooks.

    ``periodic``: ``[(seconds, callable)]``, each called (with no
    argument) at most every ``seconds``; a hook that raises is logged and
    called again next time. This is where work the service does on its
    own (running due plans, :mod:`protection.plans.periodic`) is wired in.
    """

    def __init__(self, interval, worker, expiry, periodic=()):
        self.interval = interval
        self.worker = worker
        self.expiry = expiry
        self._extended = 0.0
        self.periodic = [[seconds, hook, 0.0] for seconds, hook in periodic]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="conductor-ticker")

    def tick(self, now=None):
        now = time.monotonic() if now is None else now
        if now - self._extended >= self.interval:
            self._extended = now
            self._extend()
            if self.worker.orphans:
                self.worker.release_orphans()
        for entry in self.periodic:
            seconds, hook, last = entry
            if now - last >= seconds:
                entry[2] = now
                try:
                    hook()
                except Exception:  # noqa: BLE001 - logged, retried
                    LOG.exception("periodic hook %r failed", hook)

    def _extend(self):
        with self.worker._lock:
            jobs = list(self.worker.active)
        for job in jobs:
            try:
                job.extend_expiry(self.expiry)
            except Exception as exc:  # noqa: BLE001 - next tick retries
                LOG.warning("cannot extend the claim on %s: %s", job, exc)

    def _loop(self):
        while not self._stop.wait(TICK):
            self.tick()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=TICK + 1)


def serve(conf, service, board, name, connect, periodic=(), after=None):
    """Run a conductor until SIGTERM/SIGINT: then running operations stop
    at their next task boundary, their jobs are released for another
    conductor, and this returns. ``after``: the follow-up hook of
    operations that have one (:meth:`JobWorker.follow_up`)."""
    worker = JobWorker(conf, service, connect, after=after)
    conductor = make_conductor(conf, name, board, worker)

    def stop():
        worker.stop()
        conductor.stop()

    def on_signal(signum, _frame):
        LOG.info("signal %d: stopping; running operations stop at a task "
                 "boundary and their jobs are released", signum)
        runner_mod.off_the_signal_handler(stop)
    previous = {sig: signal.signal(sig, on_signal)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    LOG.info("conductor %s: %s jobboard at %s, namespace %s, up to %d "
             "jobs", name, conf.jobboard.backend, conf.jobboard.address,
             conf.jobboard.namespace, conf.conductor.max_jobs)
    try:
        with Ticker(conf.jobboard.keep_alive, worker,
                    conf.jobboard.claim_expiry, periodic):
            conductor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    LOG.info("conductor %s stopped", name)
