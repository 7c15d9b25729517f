"""ProtectionService: what a protection service (or the CLI) calls.

Every operation takes the cloud connection it acts on explicitly: protect
reads the cloud being protected, restore creates resources with the
credentials of the project it restores into (never someone else's).
"""

import dataclasses
import logging
import time
import typing

from openstack import exceptions as sdk_exceptions

from flows import builder
from flows import contract
from flows import engine
from protection import checkpoint as cp
from protection import checkpoint_check
from protection import exceptions
from protection import parameters as params_mod
from protection import plugin as plugin_mod
from protection import saved_metadata
from protection.context import ResourceContext
from protection.graph import ResourceGraph
from protection import progress as progress_mod
from protection.progress import Progress
from protection.progress import ProgressEvent
from protection.report import Failure, StatusBoard
from protection.resource import Resource, key_str
from protection.restored_ids import RestoredIds
from protection.wait import Timeouts

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class OperationResult:
    """The outcome of protect, restore, delete or verify."""

    operation: str
    status: str                       # success | failed
    checkpoint_id: typing.Optional[str] = None
    resources: dict = dataclasses.field(default_factory=dict)
    failures: list = dataclasses.field(default_factory=list)
    restored: dict = dataclasses.field(default_factory=dict)
    policy: typing.Optional[str] = None
    left_behind: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    rollback_failures: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return self.status == "success"

    def to_dict(self):
        data = {
            "operation": self.operation,
            "status": self.status,
            "checkpoint_id": self.checkpoint_id,
            "resources": self.resources,
            "failures": [f.to_dict() for f in self.failures],
            "seconds": round(self.seconds, 2),
        }
        if self.operation == plugin_mod.RESTORE:
            data["restored"] = self.restored
            data["policy"] = self.policy
            data["left_behind"] = self.left_behind
        if self.operation == plugin_mod.VERIFY:
            data["problems"] = self.problems
        if self.warnings:
            data["warnings"] = self.warnings
        if self.rollback_failures:
            data["rollback_failures"] = [f.to_dict()
                                         for f in self.rollback_failures]
        return data


def _ids_as_dict(restored):
    return {key_str(key): new_id for key, new_id in
            sorted(restored.as_dict().items())}


class ProtectionService:
    def __init__(self, conf, registry, bank, progress=None):
        self.conf = conf
        self.registry = registry
        self.bank = bank
        self.checkpoints = cp.CheckpointStore(
            bank, owner_timeout=conf.bank.owner_timeout)
        self.progress = progress or Progress()
        self.timeouts = Timeouts.from_config(conf)
        self.max_workers = conf.engine.max_workers

    # -- discovery -----------------------------------------------------------
    def list_resources(self, conn, resource_type=None):
        plugins = [self.registry.get(resource_type)] if resource_type \
            else list(self.registry)
        found = []
        for plugin in plugins:
            found.extend(plugin.list_resources(conn))
        return found

    def show_resource(self, conn, resource_type, resource_id):
        plugin = self.registry.get(resource_type)
        try:
            return plugin.show_resource(conn, resource_id)
        except sdk_exceptions.NotFoundException:
            raise exceptions.ResourceNotFound(
                f"{resource_type} {resource_id} not found") from None

    def resource_graph(self, conn, resources):
        def dependencies(resource):
            return self.registry.get(resource.type).dependencies(conn,
                                                                 resource)
        return ResourceGraph.build(resources, dependencies)

    # -- shared plumbing -----------------------------------------------------
    def _validated_parameters(self, operation, graph, parameters):
        parameters = parameters or {}
        params_mod.check_targets(parameters, graph)
        merged = {}
        for resource in graph:
            plugin = self.registry.get(resource.type)
            merged[resource.key] = params_mod.validate(
                plugin.schema_for(operation),
                params_mod.for_resource(parameters, resource), resource)
        return merged

    def _saved_metadata(self, checkpoint, check):
        """Each resource's ``metadata.json``; with ``check``, each one is
        checked against its plugin's ``metadata_schema`` first (raises
        InvalidMetadata naming the resource)."""
        saved = {}
        for resource in checkpoint.graph:
            metadata = checkpoint.section(resource).load_metadata()
            if check:
                saved_metadata.check(self.registry.get(resource.type),
                                     resource, metadata)
            saved[resource.key] = metadata
        return saved

    def _metadata_problems(self, checkpoint):
        problems = []
        for resource in checkpoint.graph:
            plugin = self.registry.get(resource.type)
            metadata = checkpoint.section(resource).load_metadata()
            problems += [f"{resource}: metadata.json: {p}" for p in
                         saved_metadata.problems(plugin.metadata_schema,
                                                 metadata)]
        return problems

    def _context_factory(self, operation, checkpoint, conn, parameters,
                         restored, metadata=None):
        metadata = metadata or {}

        def make(resource, progress):
            return ResourceContext(
                operation=operation, resource=resource, conn=conn,
                bank=checkpoint.section(resource),
                parameters=parameters.get(resource.key, {}),
                restored=restored,
                progress=progress.for_resource(operation, resource),
                timeouts=self.timeouts, conf=self.conf,
                checkpoint_id=checkpoint.id,
                metadata=metadata.get(resource.key, {}))
        return make

    def _run(self, operation, graph, make_context, policy):
        for resource in graph:     # every type needs a plugin, checked early
            self.registry.get(resource.type)
        board = StatusBoard()
        progress = Progress([board, self.progress.emit])
        try:
            built = builder.build(operation, graph, self.registry,
                                  lambda res: make_context(res, progress))
        except contract.ContractError as exc:
            if isinstance(exc, exceptions.StackvaultError):
                raise
            raise exceptions.PluginError(str(exc)) from None

        def on_step(resource, step, failed):
            progress.emit(ProgressEvent(
                operation, resource,
                progress_mod.FAILED if failed else progress_mod.STEP,
                step=step))

        outcome = engine.run(built, max_workers=self.max_workers,
                             policy=policy, on_step=on_step)
        failed = {f.resource.key for f in outcome.failures if f.resource}
        statuses = {}
        for resource in graph:
            status = "failed" if resource.key in failed else \
                board.status_of(resource)
            statuses[key_str(resource.key)] = status
        return outcome, statuses

    def _checkpoint(self, checkpoint_id, want_available=True):
        checkpoint = self.checkpoints.get(checkpoint_id)
        if want_available:
            checkpoint.require_available()
        return checkpoint

    # -- operations
    def protect(self, conn, name, resources, parameters=None,
                operation_id=None):
        """Protect ``resources`` (``Resource`` or ``(type, id)``) and their
        dependencies into a new checkpoint; return the OperationResult.

        ``operation_id`` is recorded as the checkpoint's owner while it is
        ``protecting`` (a new id when ``None``). Raises CommitRefused when
        the checkpoint was deleted or changed meanwhile.

        Raises OperationFailed (with ``result``) when protection failed: the
        checkpoint is then ``error``, with reasons, never ``available``.
        """
        started = time.monotonic()
        if not resources:
            raise exceptions.StackvaultError("nothing to protect: name at "
                                             "least one resource")
        roots = [r if isinstance(r, Resource) else
                 self.show_resource(conn, r[0], r[1]) for r in resources]
        graph = self.resource_graph(conn, roots)
        merged = self._validated_parameters(plugin_mod.PROTECT, graph,
                                            parameters)
        plan = {"name": name,
                "resources": [list(r.key) for r in roots],
                "parameters": parameters or {}}
        checkpoint = self.checkpoints.create(plan, graph, operation_id)
        make = self._context_factory(plugin_mod.PROTECT, checkpoint, conn,
                                     merged, RestoredIds())
        try:
            with checkpoint.keep_alive():
                outcome, statuses = self._run(plugin_mod.PROTECT, graph,
                                              make, plugin_mod.ROLLBACK)
        except BaseException as exc:
            checkpoint.fail([f"protect aborted: {exc}"])
            raise
        for resource in graph:
            status = statuses[key_str(resource.key)]
            checkpoint.set_resource_status(
                resource, "available" if outcome.succeeded else status)
        result = OperationResult(
            plugin_mod.PROTECT, "success" if outcome.succeeded else "failed",
            checkpoint_id=checkpoint.id, resources=statuses,
            failures=outcome.failures,
            rollback_failures=outcome.revert_failures,
            seconds=time.monotonic() - started)
        if outcome.succeeded:
            checkpoint.commit()
            result.resources = {k: "available" for k in statuses}
            return result
        for failure in outcome.failures:
            if failure.resource is not None:
                checkpoint.set_resource_status(failure.resource, "error",
                                               failure.message)
        checkpoint.fail([str(f) for f in outcome.failures])
        raise exceptions.OperationFailed(plugin_mod.PROTECT,
                                         outcome.failures, result)

    def restore(self, checkpoint_id, conn, parameters=None,
                policy=plugin_mod.ROLLBACK):
        """Restore a checkpoint into the cloud/project of ``conn``.

        ``policy``: ``rollback`` (default) reverts everything the restore
        created when a step fails; ``keep`` leaves it and lists it.
        """
        started = time.monotonic()
        if policy not in plugin_mod.POLICIES:
            raise exceptions.StackvaultError(
                f"unknown failure policy {policy!r} (use "
                f"{' or '.join(plugin_mod.POLICIES)})")
        checkpoint = self._checkpoint(checkpoint_id)
        checkpoint_check.check_before_restore(checkpoint)
        graph = checkpoint.graph
        merged = self._validated_parameters(plugin_mod.RESTORE, graph,
                                            parameters)
        saved = self._saved_metadata(checkpoint, check=True)
        restored = RestoredIds()
        make = self._context_factory(plugin_mod.RESTORE, checkpoint, conn,
                                     merged, restored, saved)
        outcome, statuses = self._run(plugin_mod.RESTORE, graph, make, policy)
        result = OperationResult(
            plugin_mod.RESTORE, "success" if outcome.succeeded else "failed",
            checkpoint_id=checkpoint.id, resources=statuses,
            failures=outcome.failures, restored=_ids_as_dict(restored),
            policy=policy, rollback_failures=outcome.revert_failures,
            seconds=time.monotonic() - started)
        if outcome.succeeded:
            return result
        if policy == plugin_mod.KEEP:
            result.left_behind = dict(result.restored)
        raise exceptions.OperationFailed(plugin_mod.RESTORE,
                                         outcome.failures, result)

    def delete(self, checkpoint_id, conn, force=False, operation_id=None):
        """Delete what the checkpoint's plugins stored, then the checkpoint.

        Refused while the protect or delete that owns the checkpoint is
        alive; a ``protecting`` checkpoint whose owner died needs
        ``force``. Every plugin's ``check_delete`` runs before anything is
        deleted: a refusal leaves the checkpoint as it was. A damaged
        checkpoint without a readable index loses its objects only (see
        :mod:`protection.checkpoint_check`).
        """
        started = time.monotonic()
        checkpoint = self._checkpoint(checkpoint_id, want_available=False)
        checkpoint_check.check_owner(checkpoint, force)
        if not checkpoint.index_readable:
            self.checkpoints.remove(checkpoint)
            return OperationResult(
                plugin_mod.DELETE, "success", checkpoint_id=checkpoint.id,
                warnings=[checkpoint_check.unreadable_delete_note(checkpoint)],
                seconds=time.monotonic() - started)
        saved = self._saved_metadata(checkpoint, check=False)
        refused = checkpoint_check.delete_precheck(self.registry, checkpoint,
                                                   conn, saved)
        if refused:
            result = OperationResult(
                plugin_mod.DELETE, "failed", checkpoint_id=checkpoint.id,
                failures=refused, seconds=time.monotonic() - started)
            raise exceptions.OperationFailed(plugin_mod.DELETE, refused,
                                             result)
        checkpoint.claim(cp.DELETING, operation_id)
        make = self._context_factory(plugin_mod.DELETE, checkpoint, conn, {},
                                     RestoredIds(), saved)
        with checkpoint.keep_alive():
            outcome, statuses = self._run(plugin_mod.DELETE,
                                          checkpoint.graph, make,
                                          plugin_mod.KEEP)
        result = OperationResult(
            plugin_mod.DELETE, "success" if outcome.succeeded else "failed",
            checkpoint_id=checkpoint.id, resources=statuses,
            failures=outcome.failures, seconds=time.monotonic() - started)
        if not outcome.succeeded:
            checkpoint.fail_delete([str(f) for f in outcome.failures])
            raise exceptions.OperationFailed(plugin_mod.DELETE,
                                             outcome.failures, result)
        self.checkpoints.remove(checkpoint)
        return result

    def verify(self, checkpoint_id, conn=None):
        """Recompute every object hash; with ``conn``, run plugin checks."""
        started = time.monotonic()
        checkpoint = self._checkpoint(checkpoint_id)
        problems = cp.verify_objects(checkpoint)
        problems += self._metadata_problems(checkpoint)
        failures, statuses = [], {}
        if conn is not None:
            make = self._context_factory(
                plugin_mod.VERIFY, checkpoint, conn, {}, RestoredIds(),
                self._saved_metadata(checkpoint, check=False))
            outcome, statuses = self._run(plugin_mod.VERIFY,
                                          checkpoint.graph, make,
                                          plugin_mod.KEEP)
            failures = outcome.failures
        ok = not problems and not failures
        result = OperationResult(
            plugin_mod.VERIFY, "success" if ok else "failed",
            checkpoint_id=checkpoint.id, resources=statuses,
            failures=failures, problems=problems,
            warnings=list(checkpoint.warnings),
            seconds=time.monotonic() - started)
        if not ok:
            bank_failures = [Failure(None, "verify-bank", p)
                             for p in problems]
            raise exceptions.OperationFailed(plugin_mod.VERIFY,
                                             bank_failures + failures, result)
        return result

    # -- checkpoints
    def list_checkpoints(self):
        return self.checkpoints.list()

    def show_checkpoint(self, checkpoint_id):
        return self.checkpoints.get(checkpoint_id)
