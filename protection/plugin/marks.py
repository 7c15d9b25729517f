"""Marks and a restore's last stage: the toolkit's part that takes marks off.

``tag_for``
    one short mark for (operation, atom or object key), for a field that
    holds a string (:mod:`protection.plugin.tasks`).
``take_marks_off``
    one object of a restore's last stage (:class:`flows.atoms.Unmark`):
    proven to carry its marks, then unmarked, with the journal's notes
    that make the stage safe to resume or abort half way.
``proven_by_tag``, ``leave``
    proving an object by its tag before an undo; reporting what an undo
    or the last stage leaves.

Plugins reach these through :mod:`protection.plugin.tasks`, which
re-exports them.
"""

import hashlib
import logging

from openstack import exceptions as sdk_exceptions

from flows import faults
from protection.plugin import ownership
from protection.plugin.context import Journal
from protection.plugin.ownership import NotOurs

LOG = logging.getLogger(__name__)
TAG_PREFIX = "stackvault:"


def take_marks_off(ctx, key, new_id, prove, unmark):
    """One object of the restore's final stage: once every resource is
    restored, ``prove()`` (the object, ``None`` when gone, raises
    :class:`NotOurs`) then ``unmark(found)`` (idempotent), handed what
    ``prove()`` returned, so that it need not read the object again.

    The proof is asked only when the journal's ids may have been read back
    from storage (:func:`ids_read_back`: an operation resumed or aborted
    whose journal held anything). Otherwise every id in the journal is one
    the cloud answered to this process in this run (a create's answer, or
    an object found by its marks), so it is ours by construction, and
    ``unmark(None)`` is called without the GET; an ``unmark`` that finds
    the object gone raises NotFound, and it counts as gone, as a proof
    that finds it gone does.

    The journal gets ``unmarked:KEY`` before the marks come off, so a run
    that is resumed after a crash half way through the stage knows which
    objects it already did (those no longer prove anything; any other
    unmarked id is left and reported, :func:`leave`), and an abort after
    it leaves them and says why. A failure to take marks off does not fail
    the restore: the object stays, carrying its marks, noted
    ``marked:KEY`` in the journal and listed in the result's
    ``still_marked``. Returns whether the marks came off."""
    journal = ctx.journal
    found = None
    if ids_read_back(ctx):
        done = journal.created_by(Journal.UNMARKED + key) == new_id
        try:
            found = prove()
        except NotOurs as exc:
            if not done:
                leave(ctx, key, exc)
            return done
        except Exception as exc:  # noqa: BLE001 - reported, the restore stands
            _still_marked(ctx, key, new_id, exc)
            return False
        if found is None:
            return False                # gone: nothing to take off
    journal.record(Journal.UNMARKED + key, new_id)
    try:
        unmark(found)
    except sdk_exceptions.NotFoundException:
        journal.forget(Journal.UNMARKED + key)
        return False                    # gone: nothing to take off
    except Exception as exc:  # noqa: BLE001 - reported, the restore stands
        journal.forget(Journal.UNMARKED + key)
        _still_marked(ctx, key, new_id, exc)
        return False
    journal.forget(Journal.STILL_MARKED + key)
    faults.maybe_crash(key, faults.UNMARKED)
    return True


def ids_read_back(ctx):
    """Whether an id in this run's journal may have been read back from
    storage rather than answered by the cloud to this process: the
    operation is resumed or aborted (``Journal.resuming``) and its
    journal was not empty when this run loaded it
    (``Journal.read_back``). A conductor's first run of a posted
    operation is ``resuming`` but starts from an empty journal: its ids
    are this process's own (or found by their marks)."""
    journal = ctx.journal
    return journal is not None and journal.resuming and journal.read_back


def _still_marked(ctx, key, new_id, error):
    ctx.journal.record(Journal.STILL_MARKED + key, new_id)
    LOG.warning("operation %s: %s: the marks of %s were not taken off: %s",
                ctx.operation_id, key, new_id, error)
    ctx.progress.step("unmark", f"{new_id}: marks not taken off: {error}")


def leave(ctx, key, error):
    """Report the object a delete step does not delete (``error``, a
    :class:`NotOurs`): in the operation's result and its progress."""
    if ctx.journal is not None:
        ctx.journal.leave(key, error.object_id, f"{ctx.resource}: {error}")
    ctx.progress.step("left", str(error))


def tag_for(operation_id, name):
    """One short mark for (operation, atom or object key), for a field
    that holds a string: a Cinder description, or a Neutron description
    until ``finish`` (Neutron refuses tags on create unless its
    ``tag-creation`` covers the resource, and tags are 60 characters)."""
    digest = hashlib.sha256(
        f"{operation_id}/{name}".encode()).hexdigest()[:32]
    return f"{TAG_PREFIX}{digest}"


def proves(ctx):
    """Whether a plain task's undo proves its object first: in every run
    of an operation (it has a journal, and so the ids may be read back
    from storage, and what it made carries its marks until the restore's
    last stage); not in a bare run of a flow without one."""
    return ctx.journal is not None


def proven_by_tag(ctx, fetch, what, new_id, key, reason=None):
    """The object ``fetch(new_id)`` when it carries the tag of this
    operation and ``key`` (:func:`tag_for`: an atom's name, or a shared
    object's key) in its description, name or tags; ``None`` when it is
    gone; raises :class:`NotOurs`. For a plain task's undo; without a
    journal (:func:`proves`), ``True`` without asking."""
    if not proves(ctx):
        return True
    tag = tag_for(ctx.operation_id, key)
    return ownership.proven(
        fetch, what, new_id, lambda obj: ownership.carries_tag(obj, tag),
        reason or f"it carries no mark of operation {ctx.operation_id} "
        f"for {key}")
