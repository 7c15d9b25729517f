"""ProtectionService: what a protection service (or the CLI) calls.

Every operation takes the cloud connection it acts on explicitly: protect
reads the cloud being protected, restore creates resources with the
credentials of the project it restores into (never someone else's).

Every protect, restore, delete and verify is an *operation*: recorded in
the persistence database with an id, run as a persisted TaskFlow flow
(:mod:`protection.operations.runner`), and, when its process dies or is
interrupted, resumed (:meth:`ProtectionService.resume`) or undone
(:meth:`ProtectionService.abort`) by another process.

This class is the door; each kind's work is in its own module
(:mod:`.protect`, :mod:`.restore`, :mod:`.delete`, :mod:`.verify`), what
they share in :mod:`.running`, and resume, abort and a conductor's
give-up dispatch on the kind from the one table :data:`.kinds.KINDS`.
"""

import time

from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.auth import trusts as trusts_mod
from protection.checkpoint import integrity
from protection.checkpoint import signing
from protection.checkpoint import store as cp
from protection.model.graph import ResourceGraph
from protection.model.progress import Progress
from protection.model.report import Failure
from protection.model.report import OperationResult
from protection.operations import audit
from protection.operations import flow_progress
from protection.operations import runner as runner_mod
from protection.plugin import base as plugin_mod
from protection.plugin.wait import Timeouts
from protection.service.audited import audited
from protection.service import delete as delete_kind
from protection.service import protect as protect_kind
from protection.service import restore as restore_kind
from protection.service import running
from protection.service import verify as verify_kind
from protection.service.kinds import KINDS
from protection.service.stores import Stores


class ProtectionService:
    def __init__(self, conf, registry, bank, progress=None, stores=None,
                 poster=None, executor=None, trusts=None):
        self.conf = conf
        self.registry = registry
        self.bank = bank
        self.stores = stores or Stores(conf)
        self.checkpoints = cp.CheckpointStore(
            bank, owner_timeout=conf.bank.owner_timeout,
            bank_key=integrity.key_from_config(conf),
            catalog=self.stores.catalog_updates())
        self.progress = progress or Progress()
        self.timeouts = Timeouts.from_config(conf)
        self.runner = runner_mod.Runner(conf, registry, self.progress,
                                        self.stores, self.timeouts)
        # With a jobboard (protection.operations.jobboard.Poster), new
        # operations are posted for a conductor instead of run here.
        self.poster = poster
        # Without one, an executor (protection.api.workers.WorkerPool, in
        # the standalone API) runs them in the background: the caller
        # gets the operation at once instead of waiting for its end.
        self.executor = executor
        # Keystone trusts: what operations the API posts act with in a
        # conductor (made there, used and deleted here).
        self.trusts = trusts or trusts_mod.Trusts(conf)

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

    # -- operations -----------------------------------------------------------
    def protect(self, conn, name, resources, parameters=None, cloud=None,
                tags=None, tenancy=None, trust=None, follow_up=None):
        """Protect ``resources`` (``Resource`` or ``(type, id)``) and their
        dependencies into a new checkpoint; return the OperationResult.

        Raises OperationFailed (with ``result``) when protection failed: the
        checkpoint is then ``error``, with reasons, never ``available``.
        ``cloud`` (the clouds.yaml name of ``conn``) is recorded so that
        the operation can be resumed by another process. ``tags`` (such as
        the plan it runs for, :mod:`protection.plans.run`) are added to
        the checkpoint's request (``plan`` in its index). ``tenancy``
        (project, user, plan) is recorded in the index and the operation.
        ``trust`` (a :class:`~protection.auth.trusts.Trust`, the API's
        with a jobboard) is recorded instead of ``cloud``: the conductor
        acts with it (same for restore, delete and verify).
        ``follow_up`` (JSON, with a jobboard): what the conductor's
        follow-up hook does once the protect ended, with its trust
        (:meth:`follow_up`; a posted plan run's retention).
        """
        return protect_kind.start(self, conn, name, resources, parameters,
                                  cloud, tags, tenancy, trust, follow_up)

    def restore(self, checkpoint_id, conn, parameters=None,
                policy=plugin_mod.ROLLBACK, cloud=None, only=(), exclude=(),
                skip_preflight=False, tenancy=None, trust=None):
        """Restore a checkpoint into the cloud/project of ``conn``.

        ``policy``: ``rollback`` (default) reverts everything the restore
        created when a step fails; ``keep`` leaves it and lists it.
        ``only``/``exclude``: ``(type, id)`` pairs of a selective restore
        (:mod:`protection.restore.selection`). The pre-flight
        (:meth:`dry_run`'s checks) runs first and raises PreflightFailed,
        before anything is created, unless ``skip_preflight``.
        """
        return restore_kind.start(self, checkpoint_id, conn, parameters,
                                  policy, cloud, only, exclude,
                                  skip_preflight, tenancy, trust)

    def dry_run(self, checkpoint_id, conn, parameters=None, only=(),
                exclude=()):
        """What ``restore`` would do and whether it can: a
        :class:`~protection.restore.preflight.Report`. Creates nothing."""
        return restore_kind.dry_run(self, checkpoint_id, conn, parameters,
                                    only, exclude)

    def delete(self, checkpoint_id, conn, force=False, cloud=None,
               tenancy=None, action=audit.DELETE, trust=None):
        """Delete what the checkpoint's plugins stored, then the checkpoint.

        Refused while the protect or delete that owns the checkpoint is
        alive; a ``protecting`` checkpoint whose owner died needs
        ``force``. Every plugin's ``check_delete`` runs before anything is
        deleted: a refusal leaves the checkpoint as it was. A damaged
        checkpoint without a readable index loses its objects only (see
        :mod:`protection.checkpoint.check`).

        Audited as ``action`` (``prune`` when retention deletes), by the
        caller ``tenancy`` names, else the connection's user, else the
        local user.
        """
        actor = audit.Actor.of(tenancy, conn)
        with audited(self, action, checkpoint_id, actor) as note:
            note.result = delete_kind.start(self, checkpoint_id, conn,
                                            force, cloud, tenancy, note,
                                            trust)
            return note.result

    def delete_refusals(self, checkpoint_id, conn):
        """The Failures delete's precheck would refuse with now (``[]``:
        none); nothing is deleted."""
        return delete_kind.refusals(self, checkpoint_id, conn)

    def verify(self, checkpoint_id, conn=None, cloud=None, tenancy=None,
               trust=None):
        """Recompute every object hash; with ``conn``, run plugin checks."""
        return verify_kind.start(self, checkpoint_id, conn, cloud, tenancy,
                                 trust)

    # -- checkpoints ----------------------------------------------------------
    def list_checkpoints(self):
        """Every checkpoint, read from the bank (what retention and a
        rebuild need: the whole checkpoint); a list to show reads the
        catalog (:meth:`checkpoint_page`)."""
        return self.checkpoints.list()

    def checkpoint_page(self, project_id=None, filters=None,
                        sort="created_at", descending=False, limit=None,
                        marker=None):
        """One page of checkpoint summaries from the catalog, and whether
        more follow (:meth:`protection.checkpoint.catalog.Catalog.page`).
        A catalog never built from this bank is rebuilt first
        (:meth:`rebuild_catalog`): the first list after an upgrade sees
        the checkpoints written before."""
        catalog = self.stores.catalog
        catalog.built_from(self.checkpoints)
        return catalog.page(project_id, filters, sort, descending, limit,
                            marker)

    def rebuild_catalog(self):
        """Make the catalog the bank's again; the counts of what changed
        (:meth:`protection.checkpoint.catalog.Catalog.rebuild`)."""
        return self.stores.catalog.rebuild(self.checkpoints)

    def show_checkpoint(self, checkpoint_id):
        return self.checkpoints.get(checkpoint_id)

    def sign_checkpoint(self, checkpoint_id, tenancy=None):
        """Sign an older, unsigned checkpoint with the bank key
        (:func:`protection.checkpoint.signing.sign`);
        ``False`` when it was signed already. Audited: signing is a trust
        decision, whoever makes it is recorded."""
        with audited(self, audit.SIGN, checkpoint_id,
                     audit.Actor.of(tenancy)) as note:
            note.result = signing.sign(self.checkpoints, checkpoint_id)
            return note.result

    def checkpoint_ids(self):
        """Every checkpoint id in the bank, oldest first (a bank scan)."""
        return [checkpoint.id for checkpoint in self.checkpoints.list()]

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
        operation recorded (one that recorded a trust acts with it:
        :func:`protection.service.running.connection`). Refused while its
        owner process is alive.
        """
        return self._take_over(operation_id, connect, abort=False)

    def abort(self, operation_id, connect, tenancy=None):
        """Revert an interrupted operation: nothing it created is left.
        Audited, by the caller ``tenancy`` names (else the local user)."""
        with audited(self, audit.ABORT, operation_id,
                     audit.Actor.of(tenancy)) as note:
            note.checkpoint = self._checkpoint_of(operation_id)
            note.result = self._take_over(operation_id, connect, abort=True)
            return note.result

    def _checkpoint_of(self, operation_id):
        try:
            return self.stores.operations.get(operation_id).checkpoint
        except exceptions.StackvaultError:
            return None

    def audit_records(self, limit=None):
        """The audit trail, newest first."""
        return self.stores.audit.list(limit)

    def _take_over(self, operation_id, connect, abort):
        """Own the operation (a compare-and-swap of its generation:
        :mod:`protection.operations.store`), then run or abort it; a run
        that breaks on something other than the operation's own failure
        releases it, resumable at once. A given-up operation can still be
        aborted."""
        started = time.monotonic()
        store = self.stores.operations
        reopen = abort and running.was_given_up(store.get(operation_id))
        op = store.take_over(operation_id, reopen=reopen)
        kind = KINDS[op.kind]

        def run():
            checkpoint = self.checkpoints.get(op.checkpoint)
            inputs = kind.resume_inputs(self, op, checkpoint, connect)
            return kind.finish(self, inputs, started, resume=not abort,
                               abort=abort)
        return running.released_if_broken(self, op, run)

    def follow_up(self, operation_id, hook):
        """Run the follow-up of an operation that ended (``hook(op)``),
        then delete its trust (:func:`protection.service.running.
        follow_up`); nothing when it has none."""
        running.follow_up(self, operation_id, hook)

    def give_up(self, op, reason):
        """End an operation that will not be run (a conductor gave it up
        after too many starts, or it could not be posted): ``failed``,
        with ``reason``, and what its kind holds left right (a protect's
        checkpoint fails). ``op`` is owned by this process at its
        generation. It can still be aborted (:meth:`abort`)."""
        KINDS[op.kind].give_up(self, op, reason)
        result = OperationResult(op.kind, "failed",
                                 checkpoint_id=op.checkpoint,
                                 failures=[Failure(None,
                                                   running.GIVEN_UP_STEP,
                                                   reason)])
        return running.finish(self, op, result)
