"""Objects several atoms of one restore share (``RestoredIds.create_once``).

A router or security group two networks share, a port: made once per
restore, marked with the object's own key (``TYPE#ORIGINAL_ID``) rather
than an atom's, and journaled as ``TYPE#ORIGINAL_ID@ATOM``: whichever atom
runs again finds it, and only the atom that created it sets it up, takes
its mark off in the restore's last stage (:func:`unmark_shared`) and
deletes it on revert, once it proves to carry the mark
(:func:`shared_proven`). Plugins reach these through
:mod:`protection.plugin.tasks`, which re-exports them.
"""

from flows import faults
from protection.plugin.context import Journal
from protection.plugin.marks import proven_by_tag
from protection.plugin.marks import tag_for
from protection.plugin.marks import take_marks_off


def shared_key(rtype, original_id):
    """The object's own key (its tag is made from it)."""
    return f"{rtype}#{original_id}"


def _journal_key(rtype, original_id, atom_name):
    """A shared object's journal key: the object's type and original id
    (what it is), then the atom that created it (who deletes it)."""
    return f"{shared_key(rtype, original_id)}@{atom_name}"


def _journaled(journal, rtype, original_id):
    """``(journal key, id)`` of what any atom journaled for the object."""
    prefix = shared_key(rtype, original_id) + "@"
    for key, new_id in sorted(journal.remaining().items()):
        if key.startswith(prefix):
            return key, new_id
    return None, None


def create_shared(ctx, atom_name, rtype, original_id, create, exists,
                  find_tagged, finish=None):
    """``ctx.restored.create_once``, durable (see module doc).

    ``create(tag)`` makes the object carrying ``tag`` and returns its id;
    ``exists(id)`` and ``find_tagged(tag)`` find what an earlier run of
    this operation made; ``finish(id)`` (optional, idempotent) takes the
    mark off, by the creating atom: at once when the restore keeps no
    journal (nothing could prove it later), otherwise in the restore's
    final stage (the atom's ``unmark`` calls :func:`unmark_shared`). Returns
    ``(new_id, created)``: ``created`` is true for the one atom that
    created it (in this run or, by the journal, an earlier one): that
    atom alone sets it up and deletes it on revert.
    """
    journal = ctx.journal
    mine = _journal_key(rtype, original_id, atom_name)

    def adopt(found, earlier_key=None):
        if earlier_key not in (None, mine):
            journal.forget(earlier_key)     # the creator is now this atom
        journal.record(mine, found)
        return found

    def make():
        if journal is not None and journal.resuming:
            earlier_key, found = _journaled(journal, rtype, original_id)
            if found is not None and exists(found):
                return adopt(found, earlier_key)
            found = find_tagged(tag_for(ctx.operation_id,
                                        shared_key(rtype, original_id)))
            if found is not None:
                return adopt(found, earlier_key)
        new_id = create(tag_for(ctx.operation_id,
                                shared_key(rtype, original_id)))
        faults.maybe_crash(atom_name, faults.AFTER_CALL)
        if journal is not None:
            journal.record(mine, new_id)
        return new_id
    new_id, created = ctx.restored.create_once(rtype, original_id, make)
    created = created or (journal is not None
                          and journal.created_by(mine) == new_id)
    if created and finish is not None and journal is None:
        finish(new_id)
    return new_id, created


def shared_proven(ctx, fetch, what, rtype, original_id, new_id):
    """The shared object ``fetch(new_id)`` when it carries this
    operation's mark for ``TYPE#ORIGINAL_ID``; ``None`` when it is gone;
    raises :class:`NotOurs` (before a revert deletes it)."""
    reason = (f"it carries no mark of operation {ctx.operation_id} for "
              f"{shared_key(rtype, original_id)}")
    unmarked = Journal.UNMARKED + shared_key(rtype, original_id) + "@"
    if ctx.journal is not None and any(
            key.startswith(unmarked) and value == new_id
            for key, value in ctx.journal.remaining().items()):
        reason = ("the restore's final stage took its mark off (operation "
                  f"{ctx.operation_id}): it is this restore's, but nothing "
                  "proves it any more")
    return proven_by_tag(ctx, fetch, what, new_id,
                         shared_key(rtype, original_id), reason)


def unmark_shared(ctx, atom_name, rtype, original_id, what, fetch, finish):
    """The restore's final stage for a shared object: the atom that
    created it (journaled it) takes its mark off with ``finish(id)``, once
    it proves to carry it (:func:`take_marks_off`)."""
    if ctx.journal is None:
        return
    key = _journal_key(rtype, original_id, atom_name)
    new_id = ctx.journal.created_by(key)
    if new_id is None:
        return
    take_marks_off(
        ctx, key, new_id,
        lambda: shared_proven(ctx, fetch, what, rtype, original_id, new_id),
        lambda _found: finish(new_id))


def shared_to_undo(ctx, atom_name, rtype, original_id, result, find_tagged):
    """The id a revert of a shared create must delete, or ``None``: what
    this atom journaled (also when it died before its result), or its
    result's when it created it, or, when no atom journaled the object
    (killed between the API's answer and the journal write), the object
    carrying its tag."""
    journal = ctx.journal
    if journal is not None:
        new_id = journal.created_by(_journal_key(rtype, original_id,
                                                 atom_name))
        if new_id is not None:
            return new_id
    if isinstance(result, dict):
        return result["id"] if result.get("created") else None
    if not ctx.operation_id or (
            journal is not None
            and _journaled(journal, rtype, original_id)[0] is not None):
        return None
    return find_tagged(tag_for(ctx.operation_id,
                               shared_key(rtype, original_id)))


def forget_shared(ctx, atom_name, rtype, original_id):
    """After a revert deleted a shared object: out of journal and map."""
    if ctx.journal is not None:
        ctx.journal.forget(_journal_key(rtype, original_id, atom_name))
    ctx.forget_new_id(rtype, original_id)
