"""Running one operation's flow durably.

The flow of an operation is rebuilt the same way every time, from the
operation's JSON arguments and the checkpoint (stable atom names:
``TYPE#ID/step``), by the factory TaskFlow recorded in its flow detail
(:mod:`protection.operations.flow_factory`), so a resumed operation gets back
exactly the atoms it had; live objects (the connection, the bank section,
progress) are injected into each atom in this process and never persisted. The
engine saves every atom's state and result in the persistence database
(:mod:`flows.persistence`); what each creating task made is journaled in the
operation's row (:mod:`protection.operations.store`) the moment the API returns
it, and so is the restore's map of new ids.
"""

import contextlib
import dataclasses
import signal
import threading
import typing

from taskflow import exceptions as tf_exceptions

from flows import builder
from flows import contract
from flows import engine
from protection import exceptions
from protection.operations import fence as fence_mod
from protection.operations import flow_factory
from protection.operations import metrics
from protection.operations import store as ops
from protection.model import progress as progress_mod
from protection.plugin.context import Journal
from protection.plugin.context import ResourceContext
from protection.heartbeat import Heartbeat
from protection.model.progress import Progress
from protection.model.progress import ProgressEvent
from protection.model.report import StatusBoard
from protection.model.resource import key_str
from protection.model.resource import parse_key_str
from protection.model.restored_ids import RestoredIds


@dataclasses.dataclass
class Run:
    """What one run of an operation's flow left."""

    outcome: engine.RunOutcome
    statuses: dict
    restored: RestoredIds
    journal: Journal
    timings: dict = dataclasses.field(default_factory=dict)
    api_calls: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OperationInputs:
    """Everything one operation's flow is built from: the operation, its
    checkpoint, the connection it acts on and what each resource gets."""

    operation: typing.Any         # protection.operations.store.Operation
    checkpoint: typing.Any        # protection.checkpoint.store.Checkpoint
    conn: typing.Any
    parameters: dict              # resource key -> validated parameters
    metadata: dict                # resource key -> metadata.json
    policy: str = contract.ROLLBACK
    selected: typing.Any = None   # ResourceGraph of a selective restore

    @property
    def graph(self):
        """The resources this operation runs: the checkpoint's, or the
        part a selective restore chose (protection.restore.selection)."""
        return self.selected if self.selected is not None else \
            self.checkpoint.graph


def off_the_signal_handler(stop):
    """Run ``stop`` on a thread of its own and return the thread.

    A signal handler runs on the main thread between two of its
    bytecodes: possibly inside a database write (SQLite then makes the
    handler's own write wait for the interrupted one, which cannot go on
    until the handler returns: a Ctrl-C hung for the busy timeout) or
    holding a lock the stop needs. On its own thread, the stop waits for
    the main thread to let go instead.
    """
    thread = threading.Thread(target=stop, name="stackvault-stop",
                              daemon=True)
    thread.start()
    return thread


def _suspend(running):
    try:
        running.suspend()
    except tf_exceptions.InvalidState:
        pass        # not compiled yet: its first atom transition suspends it


class OperationInterrupted(exceptions.StackvaultError):
    """Stopped at a task boundary (SIGINT/SIGTERM); resumable."""

    def __init__(self, operation_id):
        super().__init__(
            f"operation {operation_id} was interrupted and can be finished "
            f"or undone: stackvault operation resume {operation_id} | "
            f"stackvault operation abort {operation_id}")
        self.operation_id = operation_id


def build_flow(registry, operation, graph, make, abort=False):
    """The operation's flow over ``graph`` (a plugin's contract mistake is
    a PluginError)."""
    for resource in graph:     # every type needs a plugin, checked early
        registry.get(resource.type)
    try:
        return builder.build(operation, graph, registry, make, abort=abort)
    except contract.ContractError as exc:
        if isinstance(exc, exceptions.StackvaultError):
            raise
        raise exceptions.PluginError(str(exc)) from None


def _unmark_what_is_kept(op, policy, outcome, built):
    """A restore that failed under ``keep`` leaves what it made to the
    user: its marks come off as they would have at the end (nothing will
    undo it)."""
    if op.kind == contract.RESTORE and policy == contract.KEEP and \
            not outcome.succeeded and not outcome.suspended:
        outcome.unmark_failures = builder.unmark_now(built)


class Runner:
    """Builds and runs operations' flows with persistence.

    ``persistent=False`` runs new operations on TaskFlow's in-memory
    engine instead (the operations row and its journal are still kept;
    such an operation cannot be resumed): only
    ``benchmarks/durability.py`` uses it, to measure what persistence
    costs. Resume and abort always load the saved flow.
    """

    def __init__(self, conf, registry, progress, stores, timeouts,
                 persistent=True):
        self.conf = conf
        self.persistent = persistent
        self.registry = registry
        self.progress = progress
        self.stores = stores
        self.timeouts = timeouts
        self._engines = set()
        self._lock = threading.Lock()
        self._interrupted = False
        self._stopping = False

    # -- interruption ---------------------------------------------------------
    def interrupt(self):
        """Stop every running engine at its next task boundary."""
        with self._lock:
            self._interrupted = True
            engines = list(self._engines)
        for running in engines:
            _suspend(running)

    @property
    def stopping(self):
        """Whether :meth:`stop` was called: nothing is to run any more."""
        return self._stopping

    def stop(self):
        """The process is stopping (a conductor after SIGTERM): interrupt
        every running engine, and every engine that starts from now on
        at its first atom (unlike :meth:`interrupt`, not cleared when a
        run ends)."""
        with self._lock:
            self._stopping = True
        self.interrupt()

    def _track(self, running, fence=None):
        """Follow an engine about to run: an interruption (or a tripped
        ``fence``) that comes before it is compiled is applied at its
        first atom transition."""
        def on_atom(_state, details=None):  # TaskFlow passes details=
            if self._interrupted or self._stopping or \
                    (fence is not None and fence.tripped):
                _suspend(running)
        running.atom_notifier.register("*", on_atom)
        with self._lock:
            self._engines.add(running)

    def _untrack(self, running):
        with self._lock:
            self._engines.discard(running)

    @contextlib.contextmanager
    def handle_signals(self):
        """While in the block, SIGINT/SIGTERM suspend the running
        operation at its next task boundary (main thread only); the
        previous handlers come back afterwards."""
        stoppers = []

        def on_signal(signum, _frame):
            stoppers.append(off_the_signal_handler(self.interrupt))
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, on_signal) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for stopper in stoppers:
                stopper.join()
            with self._lock:
                self._interrupted = False   # later runs start afresh

    # -- building -------------------------------------------------------------
    def _restored_ids(self, op):
        store = self.stores.operations
        initial = {parse_key_str(k): v for k, v in (op.restored or {}).items()}

        def save(ids):
            store.save_restored(op.id, {key_str(k): v
                                        for k, v in sorted(ids.items())})
        return RestoredIds(initial, on_change=save)

    def _context_factory(self, inputs, restored, journal, progress):
        op = inputs.operation

        def make(resource):
            return ResourceContext(
                operation=op.kind, resource=resource, conn=inputs.conn,
                bank=inputs.checkpoint.section(resource),
                parameters=inputs.parameters.get(resource.key, {}),
                restored=restored,
                progress=progress.for_resource(op.kind, resource),
                timeouts=self.timeouts, conf=self.conf,
                checkpoint_id=inputs.checkpoint.id,
                metadata=inputs.metadata.get(resource.key, {}),
                journal=journal)
        return make

    def _build(self, inputs, make, abort):
        return build_flow(self.registry, inputs.operation.kind,
                          inputs.graph, make, abort)

    def _persistence(self, op, resume, fence):
        """Where the engine keeps its state: the operation's flow detail,
        written through ``fence`` (:mod:`protection.operations.fence`)."""
        if not (self.persistent or resume):
            return None
        flows = self.stores.flows
        if resume:
            try:
                book, detail = flows.load(op.id)
            except LookupError:
                raise exceptions.StackvaultError(
                    f"operation {op.id} has no saved flow to resume "
                    "(pruned?)") from None
        else:
            book, detail = flows.create(op.id, {"kind": op.kind})
        if not flow_factory.recorded(detail):
            flow_factory.record(detail, flows.backend, op)
        return engine.Persistence(fence_mod.FencedBackend(flows.backend,
                                                          fence),
                                  book, detail)

    def _build_lent(self, inputs, make, abort):
        """What :mod:`protection.operations.flow_factory` calls back with the
        flow's JSON arguments: the flow, built on the live objects of
        ``inputs``."""
        op = inputs.operation

        def build(args):
            if (args["operation_id"], args["kind"]) != (op.id, op.kind):
                raise exceptions.StackvaultError(
                    f"operation {op.id}: its saved flow is that of "
                    f"{args['kind']} {args['operation_id']}")
            return self._build(inputs, make, abort)
        return build

    # -- running --------------------------------------------------------------
    def run(self, inputs, resume=False, abort=False):
        """Run (or resume, or abort) the operation of ``inputs``; return a
        Run."""
        op = inputs.operation
        store = self.stores.operations
        # A journal loaded empty holds only what this run gets from the
        # cloud: nothing in it is read back from storage (Journal doc).
        journal = Journal(op.id, store, resuming=resume or abort,
                          initial=op.journal,
                          read_back=bool(op.journal) and (resume or abort))
        restored = self._restored_ids(op)
        board, timings = StatusBoard(), metrics.ResourceTimings()
        progress = Progress([board, timings, self.progress.emit])
        fence = fence_mod.Fence(store, op.id, op.generation,
                                store.owner_timeout)
        persisted = self._persistence(op, resume or abort, fence)
        build = self._build_lent(inputs, self._context_factory(
            inputs, restored, journal, progress), abort)
        if persisted is None:
            built = flow_factory.build_unrecorded(op, build)
        else:
            built = flow_factory.rebuild(persisted.flow_detail, build,
                                         op.id)

        def on_step(resource, step, failed):
            progress.emit(ProgressEvent(
                op.kind, resource,
                progress_mod.FAILED if failed else progress_mod.STEP,
                step=step))

        policy = contract.ROLLBACK if abort else inputs.policy
        outcome, calls = self._run_fenced(inputs, built, fence, policy,
                                          persisted, on_step)
        if fence.tripped:
            raise ops.OwnershipLost(op.id, fence.tripped)
        _unmark_what_is_kept(op, policy, outcome, built)
        if abort:
            outcome.failures = [f for f in outcome.failures
                                if f.step != "abort"]
        return Run(outcome, self._statuses(inputs, outcome, board),
                   restored, journal, timings.as_dict(),
                   dict(sorted(calls.items())))

    def _run_fenced(self, inputs, built, fence, policy, persisted, on_step):
        """Run the engine while the fence's heartbeat beats: ``(outcome,
        API calls)``."""
        op = inputs.operation
        started = []

        def on_engine(running):
            started.append(running)
            self._track(running, fence)
        # The fence's bound counts from a beat written now, not from its
        # making: building and recording the flow may take longer than
        # the bound (TaskFlow migrating a new MariaDB database took over
        # 2 s, and the run stopped before its first task).
        fence.beat()
        try:
            with Heartbeat(fence.beat, fence_mod.beat_interval(
                    self.stores.operations.owner_timeout),
                    f"operation {op.id} heartbeat"), \
                    metrics.api_calls(inputs.conn) as calls:
                outcome = engine.run(
                    built, max_workers=self.conf.engine.max_workers,
                    policy=policy, on_step=on_step,
                    persistence=persisted,
                    on_engine=on_engine)
        finally:
            for running in started:
                self._untrack(running)
            with self._lock:        # an interruption stops one run only
                self._interrupted = False
        return outcome, calls

    @staticmethod
    def _statuses(inputs, outcome, board):
        failed = {f.resource.key for f in outcome.failures if f.resource}
        statuses = {}
        for resource in inputs.graph:
            if resource.key in failed:
                status = "failed"
            elif outcome.succeeded:
                status = progress_mod.DONE
            else:
                status = board.status_of(resource)
            statuses[key_str(resource.key)] = status
        return statuses
