"""The base class that every protection plugin subclasses.

A plugin handles one resource type. It answers discovery questions and, for
each operation, returns a TaskFlow flow for ONE resource; the framework
(``flows/``) assembles those flows over the whole resource graph, orders
them, runs them and reverts them on failure.

Values a plugin's tasks can ask for by argument name (injected per task by
the framework, so two resources of one type never see each other's values):

``ctx``         :class:`protection.plugin.context.ResourceContext`
``resource``    the :class:`protection.model.resource.Resource`
``conn``        the target cloud's ``openstack.connection.Connection``
``bank``        the resource's checkpoint section (``ctx.bank``)
``metadata``    what protect saved (restore, delete, verify; ``{}`` in protect)
``parameters``  the merged, validated parameters for this resource
``restored``    the restore's map of original -> new ids (``ctx.restored``)

Anything else a task requires must be provided by another task of the same
resource's flow; the framework checks that when it builds the flow.

Ordering against the parent in protect. A plugin that sets
``protect_after_children`` has each child's protect done before its own,
unless the child tags the few tasks that conflict with it: those tagged
with ``before_parent(task, ...)`` are done before the parent's protect
starts, those tagged with ``after_parent(task, ...)`` start once the
parent's protect finished, and the child's other tasks run alongside the
parent's. Tag in ``protect_flow``, on the task instances, only what truly
conflicts (the volume plugin tags its temporary snapshot's creation, wait
and deletion, which Nova refuses while it snapshots the server; the backup
taken from the snapshot overlaps the server's snapshot). Tags are ignored
under a parent that does not ask, and in other operations. An
``after_parent`` task ordered before a ``before_parent`` one in the same
flow is a contract error. Rollback follows the same edges backwards: the
parent's tasks revert before the child's ``before_parent`` tasks, the
child's ``after_parent`` tasks (and what follows them) before the
parent's.

The operation, hook, policy and ordering names are defined once in
:mod:`flows.contract` and re-exported here.
"""

from openstack import exceptions as sdk_exceptions

from flows.contract import AFTER_PARENT
from flows.contract import BEFORE_PARENT
from flows.contract import DELETE
from flows.contract import HOOKS
from flows.contract import INJECTED_ARGS
from flows.contract import KEEP
from flows.contract import OPERATIONS
from flows.contract import POLICIES
from flows.contract import PROTECT
from flows.contract import RESTORE
from flows.contract import ROLLBACK
from flows.contract import VERIFY
from flows.contract import after_parent
from flows.contract import before_parent
from flows.contract import default_hook
from flows.contract import restored_child
from protection import exceptions

__all__ = ["AFTER_PARENT", "BEFORE_PARENT", "DELETE", "HOOKS",
           "INJECTED_ARGS", "KEEP", "OPERATIONS", "POLICIES", "PROTECT",
           "RESTORE", "ROLLBACK", "VERIFY", "ProtectionPlugin",
           "after_parent", "before_parent", "fetch_or_not_found",
           "restored_child"]


def fetch_or_not_found(fetch, resource_id, what):
    """``fetch(resource_id)`` (an openstacksdk ``get_*``); a missing one
    raises ResourceNotFound ("<what> <id> not found"), which the CLI shows
    as a one-line mistake: what ``show_resource`` needs."""
    try:
        return fetch(resource_id)
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"{what} {resource_id} not found") from None


class ProtectionPlugin:
    """Subclass this; set ``resource_type`` and implement the flows.

    Class attributes:

    ``resource_type``
        Heat-style type name, e.g. ``OS::Cinder::Volume``.
    ``options_schema``
        JSON Schema of protect parameters (``{}``: none).
    ``restore_schema``
        JSON Schema of restore parameters (``{}``: none).
    ``metadata_schema``
        JSON Schema of the ``metadata.json`` protect saves; checked by the
        framework on verify and before a restore creates anything (``{}``:
        not checked).
    ``quota_demands``
        ``{"SERVICE.FIELD": "label"}``: every quota name its
        ``restore_preflight`` demands (``checks.Demand``), with what users
        call it: ``{"compute.server_groups": "server groups"}``. SERVICE
        (compute, volume, network, image:
        :data:`protection.plugin.checks.QUOTA_SERVICES`) says which answer
        of the project's quotas the limit and use are read from, FIELD
        which field. Checked when the plugin loads; a demand of an
        undeclared name is a contract error.
    ``config_group`` / ``config_opts``
        the plugin's own oslo.config options.
    ``protect_after_children``
        protect this resource only once its children's protect flows
        finished (restore always does), or, for a child that tags tasks
        ``before_parent`` / ``after_parent`` (module doc), between those:
        e.g. a server snapshot that the cloud refuses while its volumes'
        snapshots are being created or deleted.
    """

    resource_type = None
    options_schema = {}
    restore_schema = {}
    metadata_schema = {}
    quota_demands = {}
    config_group = None
    config_opts = []
    protect_after_children = False

    def __init__(self, conf=None):
        self.conf = conf

    @property
    def config(self):
        """The plugin's own config group (``conf.<config_group>``)."""
        return getattr(self.conf, self.config_group)

    # -- discovery --------------------------------------------------------
    def list_resources(self, conn):
        """Every resource of this type that ``conn``'s project can protect."""
        raise NotImplementedError

    def show_resource(self, conn, resource_id):
        """One resource by id; raise ResourceNotFound when it is not there."""
        raise NotImplementedError

    def dependencies(self, conn, resource):
        """The resources ``resource`` depends on (its children)."""
        return []

    # -- flows (one resource each) -----------------------------------------
    def protect_flow(self, ctx, resource):
        raise NotImplementedError

    def restore_flow(self, ctx, resource):
        raise NotImplementedError

    def delete_flow(self, ctx, resource):
        """Undo what protect stored outside the bank; ``None``: nothing."""
        return None

    def verify_flow(self, ctx, resource):
        """Check what protect stored outside the bank; ``None``: nothing."""
        return None

    def check_delete(self, conn, resource, metadata):
        """Raise StackvaultError when the cloud would refuse to delete what
        protect stored for ``resource`` (``metadata``: its metadata.json).

        Called for every resource of a checkpoint before anything is
        deleted, so a refused delete leaves the checkpoint as it was. It
        must not change anything.
        """

    # -- dry-run and pre-flight ---------------------------------------------
    def restore_preflight(self, ctx, resource):
        """What restoring ``resource`` would need; optional (default:
        nothing to say).

        Called for every resource of a restore, children first, before
        anything is created, and by ``restore --dry-run``, which creates
        nothing. Return an iterable of :mod:`protection.plugin.checks` items:
        ``Mapping`` (a value resolved here: flavor, network, name ...),
        ``Check`` (a verdict with its reason) and ``Demand`` (quota the
        restore would use). ``ctx`` is the restore's context, except that
        ``ctx.restored`` holds placeholders for what the restore would
        create first (record your sub-objects' with ``ctx.record_new_id``
        and :func:`protection.plugin.checks.placeholder`). It must only read:
        a dry-run proves that nothing reaches the cloud but GETs.
        """
        return ()

    # -- hooks -------------------------------------------------------------
    # Override the ones you need: a hook left as it is here costs nothing
    # (the operation gets no step for it).
    @default_hook
    def on_prepare_begin(self, ctx, resource):
        """Before this resource's children's ``on_prepare_begin``."""

    @default_hook
    def on_prepare_finish(self, ctx, resource):
        """After this resource's children's ``on_prepare_finish``."""

    @default_hook
    def on_complete(self, ctx, resource):
        """After this resource's flow and its children's: their tasks,
        and their own ``on_complete`` (or, for a child without one, its
        children's, and so on down)."""

    # -- helpers -------------------------------------------------------------
    def flow_for(self, operation, ctx, resource):
        method = getattr(self, f"{operation}_flow")
        return method(ctx, resource)

    def schema_for(self, operation):
        if operation == PROTECT:
            return self.options_schema
        if operation == RESTORE:
            return self.restore_schema
        return {}

    @classmethod
    def check(cls):
        """Raise PluginError when the class breaks the plugin contract."""
        name = f"plugin {cls.__module__}.{cls.__name__}"
        if not isinstance(cls.resource_type, str) or "::" not in \
                cls.resource_type:
            raise exceptions.PluginError(
                f"{name} has no valid resource_type (got "
                f"{cls.resource_type!r})")
        for method in ("list_resources", "show_resource", "protect_flow",
                       "restore_flow"):
            if getattr(cls, method) is getattr(ProtectionPlugin, method):
                raise exceptions.PluginError(
                    f"{name} does not implement {method}()")
