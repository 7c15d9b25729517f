"""ProtectionService: what a protection service (or the CLI) calls.

Every operation takes the cloud connection it acts on explicitly: protect
reads the cloud being protected, restore creates resources with the
credentials of the project it restores into (never someone else's).

Every protect, restore, delete and verify is an *operation*: recorded in
the persistence database with an id, run as a persisted TaskFlow flow
(:mod:`protection.operations.runner`), and, when its process dies or is
interrupted, resumed (:meth:`ProtectionService.resume`) or undone
(:meth:`ProtectionService.abort`) by another process.
"""

import logging
import time

from openstack import exceptions as sdk_exceptions

from protection.checkpoint import store as cp
from protection.checkpoint import check as checkpoint_check
from protection.checkpoint import verify as checkpoint_verify
from protection import exceptions
from protection.operations import flow_progress
from protection.operations import store as ops
from protection.model import parameters as params_mod
from protection.plugin import base as plugin_mod
from protection.model import progress as progress_mod
from protection.plugin import journal as protect_journal
from protection.operations import runner as runner_mod
from protection.restore import preview as restore_preview
from protection.plugin import saved_metadata
from protection.restore import selection
from protection.model.graph import ResourceGraph
from protection.model.progress import Progress
from protection.model.progress import ProgressEvent
from protection.model.report import Failure
from protection.model.report import OperationResult
from protection.model.resource import Resource
from protection.model.resource import key_str
from protection.plugin.wait import Timeouts

LOG = logging.getLogger(__name__)
DAY = 86400.0


def _ids_as_dict(restored):
    return {key_str(key): new_id for key, new_id in
            sorted(restored.as_dict().items())}


class ProtectionService:
    def __init__(self, conf, registry, bank, progress=None, stores=None,
                 poster=None, executor=None):
        self.conf = conf
        self.registry = registry
        self.bank = bank
        self.checkpoints = cp.CheckpointStore(
            bank, owner_timeout=conf.bank.owner_timeout)
        self.progress = progress or Progress()
        self.timeouts = Timeouts.from_config(conf)
        self.stores = stores or runner_mod.Stores(conf)
        self.runner = runner_mod.Runner(conf, registry, self.progress,
                                        self.stores, self.timeouts)
        # With a jobboard (protection.operations.jobboard.Poster), new
        # operations are posted for a conductor instead of run here.
        self.poster = poster
        # Without one, an executor (protection.api.workers.WorkerPool, in
        # the standalone API) runs them in the background: the caller
        # gets the operation at once instead of waiting for its end.
        self.executor = executor

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

    def _saved_metadata(self, checkpoint, check, verified=False):
        """Each resource's ``metadata.json``; with ``check``, each one is
        checked against its plugin's ``metadata_schema`` first (raises
        InvalidMetadata naming the resource). ``verified`` (a restore's
        reads): each against its sha256 in the manifest (raises
        CheckpointDamaged), as the pre-check may not have read it."""
        saved = {}
        for resource in checkpoint.graph:
            metadata = checkpoint.section(resource).load_metadata(verified)
            if check:
                saved_metadata.check(self.registry.get(resource.type),
                                     resource, metadata)
            saved[resource.key] = metadata
        return saved

    def _metadata_problems(self, checkpoint, saved):
        """``saved`` (from _saved_metadata) against each plugin's schema."""
        problems = []
        for resource in checkpoint.graph:
            plugin = self.registry.get(resource.type)
            metadata = saved[resource.key]
            problems += [f"{resource}: metadata.json: {p}" for p in
                         saved_metadata.problems(plugin.metadata_schema,
                                                 metadata)]
        return problems

    def _checkpoint(self, checkpoint_id, want_available=True):
        checkpoint = self.checkpoints.get(checkpoint_id)
        if want_available:
            checkpoint.require_available()
        return checkpoint


    # -- operations: start, run, finish ---------------------------------------
    def _start(self, kind, checkpoint_id, args, tenancy=None):
        """Record a new operation (after pruning old ones) and announce it;
        ``tenancy`` (:class:`~protection.checkpoint.store.Tenancy`): the
        project and user it runs for."""
        self._prune()
        tenancy = tenancy or cp.Tenancy()
        op = self.stores.operations.create(
            kind, checkpoint_id, args, project_id=tenancy.project_id,
            user_id=tenancy.user_id)
        self.progress.emit(ProgressEvent(kind, None, progress_mod.STARTED,
                                         message=op.id))
        return op

    def _prune(self):
        days = self.conf.persistence.prune_after_days
        if not days:
            return
        for operation_id in self.stores.operations.prune(days * DAY):
            self.stores.flows.destroy(operation_id)

    def _finish(self, op, result, left_behind=None):
        result.operation_id = op.id
        status = ops.SUCCEEDED if result.ok else ops.FAILED
        if result.status == "aborted":
            status = ops.ABORTED
        self.stores.operations.finish(op.id, status, result.to_dict(),
                                      left_behind)
        return result

    def _run_or_post(self, plan, started, finish):
        """Run a new operation here, or post it (jobboard.Posted), or
        hand it to the executor (what its ``submit`` returns)."""
        if self.poster is not None:
            return self.poster.post(plan.operation)
        if self.executor is not None:
            return self.executor.submit(plan.operation,
                                        lambda: finish(plan, started))
        return finish(plan, started)

    def _execute(self, plan, started, resume=False, abort=False):
        """Run the plan's flow; an interruption leaves it resumable."""
        run = self.runner.run(plan, resume=resume, abort=abort)
        if run.outcome.suspended:
            self.stores.operations.release(plan.operation.id)
            raise runner_mod.OperationInterrupted(plan.operation.id)
        result = OperationResult(
            plan.operation.kind,
            "success" if run.outcome.succeeded else "failed",
            checkpoint_id=plan.checkpoint.id, resources=run.statuses,
            failures=run.outcome.failures,
            rollback_failures=run.outcome.revert_failures,
            restored=_ids_as_dict(run.restored), policy=plan.policy,
            seconds=time.monotonic() - started, timings=run.timings,
            api_calls=run.api_calls)
        if abort:
            left = run.journal.remaining()
            result.status = "failed" if left else "aborted"
            result.left_behind = left
        return run, result

    # -- protect --------------------------------------------------------------
    def protect(self, conn, name, resources, parameters=None, cloud=None,
                tags=None, tenancy=None):
        """Protect ``resources`` (``Resource`` or ``(type, id)``) and their
        dependencies into a new checkpoint; return the OperationResult.

        Raises OperationFailed (with ``result``) when protection failed: the
        checkpoint is then ``error``, with reasons, never ``available``.
        ``cloud`` (the clouds.yaml name of ``conn``) is recorded so that
        the operation can be resumed by another process. ``tags`` (such as
        the plan it runs for, :mod:`protection.plans.run`) are added to the
        ``plan`` of the checkpoint's index. ``tenancy`` (project, user,
        plan) is recorded in the index and the operation.
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
        plan.update(tags or {})
        op = self._start(plugin_mod.PROTECT, None,
                         {"cloud": cloud, "parameters": parameters or {}},
                         tenancy)
        checkpoint = self.checkpoints.create(plan, graph, op.id, tenancy)
        self.stores.operations.set_checkpoint(op.id, checkpoint.id)
        return self._run_or_post(runner_mod.Plan(
            op, checkpoint, conn, merged, {}), started, self._protect)

    def _protect(self, plan, started, resume=False, abort=False):
        checkpoint = plan.checkpoint
        if resume or abort:
            checkpoint.claim(cp.PROTECTING, plan.operation.id)
            checkpoint.adopt_objects()
        try:
            with checkpoint.keep_alive():
                run, result = self._execute(plan, started, resume, abort)
        except runner_mod.OperationInterrupted:
            raise
        except BaseException as exc:
            checkpoint.fail([f"protect aborted: {exc}"])
            raise
        if abort:
            if result.status == "aborted":
                self.checkpoints.remove(checkpoint)
            return self._finish(plan.operation, result, result.left_behind)
        for resource in checkpoint.graph:
            checkpoint.set_resource_status(
                resource, "available" if result.ok else
                run.statuses[key_str(resource.key)])
        if result.ok:
            try:
                checkpoint.commit()
            except exceptions.StackvaultError as exc:
                result.status = "failed"
                result.failures = [Failure(None, "commit", str(exc))]
                self._finish(plan.operation, result)
                raise
            result.resources = {k: "available" for k in run.statuses}
            return self._finish(plan.operation, result)
        for failure in result.failures:
            if failure.resource is not None:
                checkpoint.set_resource_status(failure.resource, "error",
                                               failure.message)
        checkpoint.fail([str(f) for f in result.failures])
        self._finish(plan.operation, result)
        raise exceptions.OperationFailed(plugin_mod.PROTECT,
                                         result.failures, result)

    # -- restore --------------------------------------------------------------
    def restore(self, checkpoint_id, conn, parameters=None,
                policy=plugin_mod.ROLLBACK, cloud=None, only=(), exclude=(),
                skip_preflight=False, tenancy=None):
        """Restore a checkpoint into the cloud/project of ``conn``.

        ``policy``: ``rollback`` (default) reverts everything the restore
        created when a step fails; ``keep`` leaves it and lists it.
        ``only``/``exclude``: ``(type, id)`` pairs of a selective restore
        (:mod:`protection.restore.selection`). The pre-flight
        (:meth:`dry_run`'s checks) runs first and raises PreflightFailed,
        before anything is created, unless ``skip_preflight``.
        """
        started = time.monotonic()
        if policy not in plugin_mod.POLICIES:
            raise exceptions.StackvaultError(
                f"unknown failure policy {policy!r} (use "
                f"{' or '.join(plugin_mod.POLICIES)})")
        checkpoint = self._checkpoint(checkpoint_id)
        checkpoint_check.check_before_restore(checkpoint)
        graph = selection.select(checkpoint.graph, only, exclude)
        merged = self._validated_parameters(plugin_mod.RESTORE, graph,
                                            parameters)
        saved = self._saved_metadata(checkpoint, check=True,
                                     verified=True)
        if not skip_preflight:
            report = restore_preview.preview(self, checkpoint, graph, conn,
                                             merged, saved, [])
            if not report.ok:
                raise exceptions.PreflightFailed(report)
        op = self._start(plugin_mod.RESTORE, checkpoint.id,
                         {"cloud": cloud, "parameters": parameters or {},
                          "policy": policy,
                          **selection.as_args(only, exclude)}, tenancy)
        return self._run_or_post(runner_mod.Plan(
            op, checkpoint, conn, merged, saved, policy, graph), started,
            self._restore)

    def dry_run(self, checkpoint_id, conn, parameters=None, only=(),
                exclude=()):
        """What ``restore`` would do and whether it can: a
        :class:`~protection.restore.preflight.Report`. Creates nothing."""
        checkpoint = self._checkpoint(checkpoint_id)
        if checkpoint.damage is not None:
            checkpoint_check.check_before_restore(checkpoint)
        problems = checkpoint_check.integrity_problems(checkpoint)
        graph = selection.select(checkpoint.graph, only, exclude)
        merged = self._validated_parameters(plugin_mod.RESTORE, graph,
                                            parameters)
        saved = self._saved_metadata(checkpoint, check=True)
        return restore_preview.preview(self, checkpoint, graph, conn,
                                       merged, saved, problems)

    def _restore(self, plan, started, resume=False, abort=False):
        run, result = self._execute(plan, started, resume, abort)
        if abort or result.ok:
            return self._finish(plan.operation, result, result.left_behind)
        if plan.policy == plugin_mod.KEEP:
            result.left_behind = dict(result.restored)
        else:
            # What a revert could not delete is still journaled.
            result.left_behind = run.journal.remaining()
        self._finish(plan.operation, result, result.left_behind)
        raise exceptions.OperationFailed(plugin_mod.RESTORE,
                                         result.failures, result)

    # -- delete and verify ----------------------------------------------------
    def delete(self, checkpoint_id, conn, force=False, cloud=None,
               tenancy=None):
        """Delete what the checkpoint's plugins stored, then the checkpoint.

        Refused while the protect or delete that owns the checkpoint is
        alive; a ``protecting`` checkpoint whose owner died needs
        ``force``. Every plugin's ``check_delete`` runs before anything is
        deleted: a refusal leaves the checkpoint as it was. A damaged
        checkpoint without a readable index loses its objects only (see
        :mod:`protection.checkpoint.check`).
        """
        started = time.monotonic()
        checkpoint = self._checkpoint(checkpoint_id, want_available=False)
        checkpoint_check.check_owner(checkpoint, force)
        interrupted = self._interrupted_protect(checkpoint)
        if interrupted is not None:
            # Undo it: what it created is journaled in its operation,
            # also what it had not yet recorded in the bank.
            return self.abort(interrupted.id, lambda _name: conn)
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
        if checkpoint.status != cp.AVAILABLE:
            # A protect that did not finish, whose operation this database
            # does not know: what it recorded in the bank goes too.
            protect_journal.undo_recorded(checkpoint, self.registry, conn,
                                          self.conf, self.timeouts,
                                          self.progress)
        op = self._start(plugin_mod.DELETE, checkpoint.id, {"cloud": cloud},
                         tenancy)
        return self._run_or_post(runner_mod.Plan(
            op, checkpoint, conn, {}, saved, plugin_mod.KEEP), started,
            self._delete)

    def delete_refusals(self, checkpoint_id, conn):
        """The Failures delete's precheck would refuse with now (``[]``:
        none); nothing is deleted."""
        checkpoint = self._checkpoint(checkpoint_id, want_available=False)
        saved = self._saved_metadata(checkpoint, check=False)
        return checkpoint_check.delete_precheck(self.registry, checkpoint,
                                                conn, saved)

    def _interrupted_protect(self, checkpoint):
        """The operation of a protect that died with this checkpoint, if
        this database knows it."""
        if not checkpoint.index_readable or \
                checkpoint.status != cp.PROTECTING or \
                not checkpoint.operation_id:
            return None
        try:
            op = self.stores.operations.get(checkpoint.operation_id)
        except ops.OperationNotFound:
            return None
        return op if op.shown_status == ops.INTERRUPTED else None

    def _delete(self, plan, started, resume=False, abort=False):
        checkpoint = plan.checkpoint
        checkpoint.claim(cp.DELETING, plan.operation.id)
        with checkpoint.keep_alive():
            _run, result = self._execute(plan, started, resume, abort)
        if not result.ok:
            checkpoint.fail_delete([str(f) for f in result.failures])
            self._finish(plan.operation, result)
            raise exceptions.OperationFailed(plugin_mod.DELETE,
                                             result.failures, result)
        self.checkpoints.remove(checkpoint)
        return self._finish(plan.operation, result)

    def verify(self, checkpoint_id, conn=None, cloud=None, tenancy=None):
        """Recompute every object hash; with ``conn``, run plugin checks."""
        started = time.monotonic()
        checkpoint = self._checkpoint(checkpoint_id)
        problems = checkpoint_verify.verify_objects(checkpoint)
        saved = self._saved_metadata(checkpoint, check=False)
        problems += self._metadata_problems(checkpoint, saved)
        op = self._start(plugin_mod.VERIFY, checkpoint.id, {"cloud": cloud},
                         tenancy)
        plan = runner_mod.Plan(op, checkpoint, conn, {}, saved,
                               plugin_mod.KEEP)
        return self._run_or_post(
            plan, started,
            lambda plan, started: self._verify(plan, started, problems))

    def _verify(self, plan, started, problems=None, resume=False,
                abort=False):
        if problems is None:
            problems = checkpoint_verify.verify_objects(plan.checkpoint)
            problems += self._metadata_problems(plan.checkpoint,
                                                plan.metadata)
        if plan.conn is not None:
            _run, result = self._execute(plan, started, resume, abort)
        else:
            result = OperationResult(
                plugin_mod.VERIFY, "success",
                checkpoint_id=plan.checkpoint.id)
        result.problems = problems
        result.warnings = list(plan.checkpoint.warnings)
        result.seconds = time.monotonic() - started
        if problems:
            result.status = "failed"
        self._finish(plan.operation, result)
        if not result.ok:
            bank_failures = [Failure(None, "verify-bank", p)
                             for p in problems]
            raise exceptions.OperationFailed(
                plugin_mod.VERIFY, bank_failures + result.failures, result)
        return result

    # -- checkpoints ----------------------------------------------------------
    def list_checkpoints(self):
        return self.checkpoints.list()

    def show_checkpoint(self, checkpoint_id):
        return self.checkpoints.get(checkpoint_id)

    def adopt_checkpoint(self, checkpoint_id, tenancy):
        """Give a checkpoint without a project to ``tenancy``'s project
        (:meth:`~protection.checkpoint.store.Checkpoint.adopt`)."""
        checkpoint = self.checkpoints.get(checkpoint_id)
        checkpoint.adopt(tenancy)
        return checkpoint

    # -- resume and abort -----------------------------------------------------
    def operation(self, operation_id):
        return self.stores.operations.get(operation_id)

    def operation_progress(self, operation_id):
        """Each resource's state in the operation's persisted flow
        (:mod:`protection.operations.flow_progress`)."""
        return flow_progress.per_resource(self.stores.flows, operation_id)

    def list_operations(self, project_id=None):
        return self.stores.operations.list(project_id)

    def resume(self, operation_id, connect):
        """Finish an interrupted operation, skipping what it finished.

        ``connect(cloud_name)`` gives the connection for the cloud the
        operation recorded. Refused while its owner process is alive.
        """
        return self._take_over(operation_id, connect, abort=False)

    def abort(self, operation_id, connect):
        """Revert an interrupted operation: nothing it created is left."""
        return self._take_over(operation_id, connect, abort=True)

    def _take_over(self, operation_id, connect, abort):
        started = time.monotonic()
        op = self.stores.operations.take_over(operation_id)
        args = op.args
        checkpoint = self.checkpoints.get(op.checkpoint)
        conn = connect(args.get("cloud")) if op.kind != plugin_mod.VERIFY \
            or args.get("cloud") else None
        parameters = {}
        metadata = {}
        graph = selection.select(
            checkpoint.graph, [tuple(k) for k in args.get("only") or ()],
            [tuple(k) for k in args.get("exclude") or ()]) \
            if op.kind == plugin_mod.RESTORE else None
        if op.kind in (plugin_mod.PROTECT, plugin_mod.RESTORE):
            parameters = self._validated_parameters(
                op.kind, graph if graph is not None else checkpoint.graph,
                args.get("parameters"))
        if op.kind != plugin_mod.PROTECT:
            metadata = self._saved_metadata(
                checkpoint, check=False,
                verified=op.kind == plugin_mod.RESTORE)
        policy = args.get("policy") or (
            plugin_mod.ROLLBACK if op.kind in (plugin_mod.PROTECT,
                                               plugin_mod.RESTORE)
            else plugin_mod.KEEP)
        plan = runner_mod.Plan(op, checkpoint, conn, parameters, metadata,
                               policy, graph)
        finish = {plugin_mod.PROTECT: self._protect,
                  plugin_mod.RESTORE: self._restore,
                  plugin_mod.DELETE: self._delete,
                  plugin_mod.VERIFY: self._verify}[op.kind]
        return finish(plan, started, resume=not abort, abort=abort)
