"""What a protect created in the cloud, recorded in the checkpoint as well.

The operation's journal (:mod:`protection.operations.store`) lives in the
persistence database. A protect also writes every id a creating task gets
(a volume backup, a temporary volume snapshot, a server's temporary
root-disk image) into its resource's section of the checkpoint, object
``created.json`` (``{atom name: id}``), the moment the API returns it: so
``checkpoint delete --force`` of a protect that died finds them even when
the database that ran it is gone (another host's, or lost). Image data is
in the bank itself and goes with the checkpoint.

:func:`undo_recorded` deletes them again, with the creating tasks' own
``undo`` (bounded waits, 409 retried), from a protect flow built the
usual way. ``created.json`` is not hashed and anyone who can write the
bank can plant ids in it: each object must first prove to be this
checkpoint's (:meth:`protection.plugin.tasks.CreatingTask.proven`); what
does not is left and reported.
"""

import dataclasses
import logging
import threading

from flows import builder
from flows.contract import PROTECT
from protection import exceptions
from protection.model import parameters as params_mod
from protection.plugin.context import Journal
from protection.plugin.context import ResourceContext
from protection.plugin.ownership import NotOurs
from protection.model.restored_ids import RestoredIds

LOG = logging.getLogger(__name__)
OBJECT = "created.json"
_LOCK = threading.Lock()


def recorded(section):
    """``{atom name: id}`` of the section's journal (``{}`` when none or
    unreadable: a journal is a help for cleaning up, never a reason to
    fail)."""
    try:
        value = section.get_json(OBJECT)
    except (exceptions.ObjectNotFound, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def record(section, atom_name, new_id):
    with _LOCK:
        created = recorded(section)
        created[atom_name] = new_id
        section.put_json(OBJECT, created)


def forget(section, atom_name):
    with _LOCK:
        created = recorded(section)
        if created.pop(atom_name, None) is not None:
            section.put_json(OBJECT, created)


@dataclasses.dataclass
class Undone:
    """What :func:`undo_recorded` did: the ids it deleted, and what it
    left because the object is not proven this checkpoint's (``{atom
    name: id}``, and one line each saying why)."""

    deleted: list = dataclasses.field(default_factory=list)
    left: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)


def _protect_parameters(checkpoint, registry, resource):
    """The parameters the protect ran ``resource`` with (they choose its
    flow: a volume with ``data_location=bank`` makes a copy volume and an
    image), from the checkpoint's plan; ``{}`` when they do not validate
    (the flow's creating steps then are those of the defaults)."""
    index = getattr(checkpoint, "index", None) or {}
    given = (index.get("plan") or {}).get("parameters")
    if not isinstance(given, dict):
        return {}
    try:
        return params_mod.validate(
            registry.get(resource.type).schema_for(PROTECT),
            params_mod.for_resource(given, resource), resource)
    except (exceptions.StackvaultError, AttributeError, TypeError):
        return {}


def undo_recorded(checkpoint, registry, conn, conf, timeouts, progress):
    """Delete what the checkpoint's resources' journals record: for each
    creating task of the protect flow (built as a run builds it) that
    recorded an id, its own ``undo`` (which first proves the object is
    this checkpoint's). A creating task that recorded nothing may still
    have made something (its call was in flight when the process died):
    that one is looked for by the marks of the checkpoint's operation.
    Returns an :class:`Undone`."""
    journal = Journal(checkpoint.operation_id, resuming=True)

    def make_context(resource):
        return ResourceContext(
            operation=PROTECT, resource=resource, conn=conn,
            bank=checkpoint.section(resource),
            parameters=_protect_parameters(checkpoint, registry, resource),
            restored=RestoredIds(),
            progress=progress.for_resource(PROTECT, resource),
            timeouts=timeouts, conf=conf, checkpoint_id=checkpoint.id,
            journal=journal)
    built = builder.build(PROTECT, checkpoint.graph, registry, make_context)
    undone = Undone()
    for atom in builder.iter_atoms(built.flow):
        ctx = (atom.inject or {}).get("ctx")
        if ctx is None or not hasattr(atom, "undo"):
            continue            # only a CreatingTask creates (and undoes)
        new_id = recorded(ctx.bank).get(atom.name)
        if not new_id and ctx.operation_id:
            new_id = atom.find_marked(ctx, conn, atom.marks(ctx))
        if not new_id:
            continue
        try:
            atom.undo(ctx, conn, new_id)
        except NotOurs as exc:
            undone.left[atom.name] = new_id
            undone.warnings.append(f"{ctx.resource}: {exc}")
            LOG.warning("checkpoint %s: %s: %s", checkpoint.id, ctx.resource,
                        exc)
            continue
        forget(ctx.bank, atom.name)
        undone.deleted.append(new_id)
    return undone
