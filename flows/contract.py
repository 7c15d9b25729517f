"""The names the framework and its plugins agree on, defined once.

``flows/`` is the layer below ``protection/``: it turns per-resource
TaskFlow flows into one operation and runs it, and imports nothing from
``protection/`` or ``plugins/``. These names are its half of the plugin
contract; :mod:`protection.plugin` re-exports them beside the base class
that plugin authors read.
"""

# Operations: a plugin returns one flow per resource for each.
PROTECT = "protect"
RESTORE = "restore"
DELETE = "delete"
VERIFY = "verify"
OPERATIONS = (PROTECT, RESTORE, DELETE, VERIFY)

# Hooks a plugin may implement, in the order they run for one resource.
ON_PREPARE_BEGIN = "on_prepare_begin"
ON_PREPARE_FINISH = "on_prepare_finish"
ON_COMPLETE = "on_complete"
HOOKS = (ON_PREPARE_BEGIN, ON_PREPARE_FINISH, ON_COMPLETE)
_DEFAULT_HOOK = "_stackvault_default_hook"


def default_hook(method):
    """Mark a base class's hook as the default that does nothing: a
    plugin that keeps it gets no step for it (no atom, no state saved)."""
    setattr(method, _DEFAULT_HOOK, True)
    return method


def defines_hook(plugin, hook):
    """Whether ``plugin`` has a hook ``hook`` of its own (not the
    base's :func:`default_hook`)."""
    method = getattr(plugin, hook, None)
    return callable(method) and not getattr(method, _DEFAULT_HOOK, False)

# A restore's last stage (flows.atoms.Unmark): every plugin atom of a
# restore flow that defines a method of this name, ``unmark(ctx, conn)``,
# is called once every resource is restored, to take the marks off what
# it created. It must be idempotent and never delete anything.
UNMARK = "unmark"

# Failure policies: revert everything (``rollback``) or keep what exists.
ROLLBACK = "rollback"
KEEP = "keep"
POLICIES = (ROLLBACK, KEEP)

# Values injected per task by argument name (see protection.plugin).
INJECTED_ARGS = ("ctx", "resource", "conn", "bank", "metadata", "parameters",
                 "restored")


# A task that requires ``restored_child(type, id)`` names a child it needs:
# the builder orders it after that child's main flow and passes the child's
# restored id (None when it is no child restored by this operation).
CHILD_PREFIX = "restored:"


def restored_child(rtype, original_id):
    """The symbol of one child's restored id (see ``CHILD_PREFIX``)."""
    return f"{CHILD_PREFIX}{rtype}#{original_id}"


# Protect, when the parent's plugin sets ``protect_after_children``: a
# child may tag the few tasks that conflict with its parent's protect, so
# that the rest of its flow runs alongside it. A task tagged
# ``BEFORE_PARENT`` is done before the parent's protect starts, one tagged
# ``AFTER_PARENT`` starts once the parent's protect finished; untagged
# tasks are not ordered against the parent. A child with no tagged task is
# protected wholly before its parent. Ignored in other operations and
# under a parent that does not ask.
BEFORE_PARENT = "before_parent"
AFTER_PARENT = "after_parent"
_PARENT_ORDER = "stackvault_parent_order"


def before_parent(*tasks):
    """Tag ``tasks`` of a child's protect flow ``BEFORE_PARENT``."""
    for atom in tasks:
        setattr(atom, _PARENT_ORDER, BEFORE_PARENT)


def after_parent(*tasks):
    """Tag ``tasks`` of a child's protect flow ``AFTER_PARENT``."""
    for atom in tasks:
        setattr(atom, _PARENT_ORDER, AFTER_PARENT)


def parent_order(atom):
    """``BEFORE_PARENT``, ``AFTER_PARENT`` or None (untagged)."""
    return getattr(atom, _PARENT_ORDER, None)


class ContractError(Exception):
    """A plugin's flow breaks the contract (a bug in the plugin)."""


def resource_label(resource):
    """``TYPE#ID``: how a resource is named in atom names and reports."""
    return f"{resource.type}#{resource.id}"
