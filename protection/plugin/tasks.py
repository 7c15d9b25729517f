"""Reusable task bases for plugins: the toolkit every plugin builds on.

``CreatingTask``
    A task whose one side effect is creating one cloud object. Its
    ``execute`` calls the API and hands the new id to :meth:`created`
    straight away, which records it (in the restore's map of new ids when
    the object stands for a protected one) before anything can fail; its
    revert deletes the object with
    :func:`protection.plugin.wait.delete_when_settled` (bounded waits, 409
    retried) and forgets the id. A subclass says how to fetch and delete its
    kind of object; that is all.

``SaveMetadata``
    The last step of most protect flows: write the resource's
    ``metadata.json``; its revert drops it again.

A creating task's result is the new id (a string) or ``None`` when it had
nothing to create.

Idempotency. :meth:`CreatingTask.created` also writes the new id into the
operation's journal (durably, before anything else can happen), and the
task marks what it creates with :meth:`CreatingTask.marks` (the operation
id and the atom name, as metadata or properties) or
:meth:`CreatingTask.mark_tag` (one short string, in a description), and
takes off a mark that stands in a user-visible field in
:meth:`CreatingTask.finish`. During a protect the id also goes into the
checkpoint (:mod:`protection.plugin.journal`). When the atom runs
again (an operation resumed after its process died mid-task), the base
class first looks for what an earlier run created, by the journal and then
by the marks, and returns that instead of creating a second one. A revert
without a result (the process died before the task finished) deletes what
the journal says the atom created, or, when the process died between the
API's answer and the journal write, what carries the atom's marks.

Objects that carry no mark (no metadata, tags or description) and get an
id the cloud chooses: :class:`NameMarkedTask` when the name can be changed
afterwards (created under the mark, renamed once the id is journaled);
:class:`UnmarkedTask` when nothing can carry a mark (a Nova server group):
it journals a note before the call, so after a crash in the call the
object is listed for the operator instead of being deleted blind or
forgotten.

Deletes trust only marks. A protect's objects keep their marks for
life, so an id of one read back from storage (a protect resumed or
aborted, a checkpoint's ``created.json``) is deleted only once the object
proves to be this step's (:meth:`CreatingTask.carries_mark`;
:mod:`protection.plugin.ownership`): anything else raises
:class:`NotOurs` and is left, reported. :func:`prove_ours` does the same
for a step that deletes what an earlier step of a protect created (a
temporary snapshot or image). A restore's objects lose their marks once
set up (:meth:`CreatingTask.keeps_mark`; its temporary images keep
theirs), so a restore's abort still trusts its journal for them
(doc/operations.rst, "What a delete trusts").

``create_shared`` / ``shared_to_undo``
    The same for an object several atoms of one restore may need (a router
    or security group two networks share, a port): made once per restore
    (``RestoredIds.create_once``), marked with the object's own key
    (``TYPE#ORIGINAL_ID``) rather than an atom's, and journaled as
    ``TYPE#ORIGINAL_ID@ATOM``: whichever atom runs again finds it, and
    only the atom that created it sets it up and deletes it on revert.
"""

import functools
import hashlib
import inspect

from openstack import exceptions as sdk_exceptions
from taskflow import task

from flows import faults
from flows.contract import PROTECT
from protection.plugin import journal as protect_journal
from protection.plugin import ownership
from protection.plugin import wait
from protection.plugin.ownership import MARK_OPERATION
from protection.plugin.ownership import MARK_TASK
from protection.plugin.ownership import NotOurs

__all__ = ["CreatingTask", "MARK_KEYS", "MARK_OPERATION", "MARK_TASK",
           "NotOurs", "SaveMetadata", "TAG_PREFIX", "checkpoints_object",
           "create_shared", "drop_marks", "exists", "first_id",
           "forget_shared", "from_storage", "leave", "marked_by_metadata",
           "prove_ours", "shared_to_undo", "tag_for"]
MARK_KEYS = (MARK_OPERATION, MARK_TASK)
TAG_PREFIX = "stackvault:"


def _reusing(execute):
    """Wrap a subclass's ``execute``: on a re-run, return what an earlier
    run created instead of creating again (the signature is kept, so
    TaskFlow still sees the subclass's requirements)."""
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def wrapper(self, *args, **kwargs):
        given = signature.bind(self, *args, **kwargs).arguments
        ctx, conn = given["ctx"], given["conn"]
        found = self.earlier(ctx, conn)
        if found is not None:
            new_id = self.created(ctx, found)
        else:
            new_id = self.creating(ctx, lambda: execute(self, *args,
                                                        **kwargs))
        if isinstance(new_id, str):
            self.finish(ctx, conn, new_id)
        return new_id
    return wrapper


class CreatingTask(task.Task):
    """Base of a task that creates one cloud object (see module doc).

    Class attributes:

    ``kind``
        what the object is called in messages (``"volume"``).
    ``settled``
        statuses in which the service allows a delete (waited for before
        deleting); ``None``: delete at once.
    ``records``
        the type under which the new id is recorded in the restore's map
        (``ctx.restored``); ``True``: the resource's own type and id;
        ``None``: not recorded.
    """

    kind = "object"
    settled = None
    records = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "execute" in cls.__dict__:
            cls.execute = _reusing(cls.__dict__["execute"])

    # -- what a subclass provides -------------------------------------------
    def fetch(self, conn, new_id):
        """The object (raises NotFound when it is gone)."""
        raise NotImplementedError

    def delete(self, conn, new_id):
        """Ask the service to delete the object."""
        raise NotImplementedError

    def recorded_key(self, ctx):
        """``(type, original id)`` the new id stands for, or ``None``."""
        if self.records is True:
            return ctx.resource.type, ctx.resource.id
        if self.records:
            return self.records, self.original_id(ctx)
        return None

    def original_id(self, ctx):
        """The original id of a sub-object (``records`` names its type)."""
        return ctx.resource.id

    def find_marked(self, ctx, conn, marks):
        """The id of an object carrying ``marks``, or ``None`` (override
        where the service can be searched by metadata, tags or name)."""
        return None

    def finish(self, ctx, conn, new_id):
        """Called once the new id is recorded, on the first run and on a
        re-run that found the object: take off a mark that takes the
        place of a user-visible field (a Neutron description). Must be
        idempotent."""

    # -- idempotency -------------------------------------------------------
    def marks(self, ctx):
        """What to stamp on the new object so a re-run can find it:
        ``{"stackvault_operation": ..., "stackvault_task": ...}``."""
        return {MARK_OPERATION: ctx.operation_id or "",
                MARK_TASK: self.name}

    def mark_tag(self, ctx):
        """The marks as one short string (see :func:`tag_for`)."""
        return tag_for(ctx.operation_id, self.name)

    def earlier(self, ctx, conn):
        """What an earlier run of this atom created and still exists.

        A protect's objects keep their marks for life, so a journaled id
        that does not carry them is not taken (a later step of the
        protect deletes a temporary object). A restore's objects lose
        theirs once set up (possibly in the run that died), so there the
        journal alone is taken: a re-run never deletes what it finds."""
        journal = ctx.journal
        if journal is None or not journal.resuming:
            return None
        new_id = journal.created_by(self.name)
        if new_id is not None and self._exists(conn, new_id) and (
                not self.keeps_mark(ctx) or self._is_ours(ctx, conn, new_id)):
            return new_id
        return self.find_marked(ctx, conn, self.marks(ctx))

    def _exists(self, conn, new_id):
        return exists(lambda found: self.fetch(conn, found), new_id)

    def creating(self, ctx, create):
        """Run ``create()`` (the subclass's ``execute``) and return its
        result; :class:`UnmarkedTask` journals a note around it."""
        return create()

    # -- ownership (see the module doc) ---------------------------------------
    def keeps_mark(self, ctx):
        """Whether what this step creates keeps its mark for life, so
        that an id of it read back from storage can be proven before a
        delete: a protect's objects (backups, temporary objects) do; a
        restore's lose theirs once set up. Override for a restore's
        temporary object that keeps it (a temporary image's name)."""
        return ctx.operation == PROTECT

    def carries_mark(self, ctx, obj):
        """Whether ``obj`` is what this step created: it carries the
        step's marks or tag, or (a protect's object) the checkpoint's
        mark. Override where a kind keeps its mark elsewhere."""
        if ownership.carries_step_mark(obj, self.marks(ctx),
                                       self.mark_tag(ctx)):
            return True
        return ctx.operation == PROTECT and \
            ownership.carries_checkpoint_mark(obj, ctx.checkpoint_id)

    def proven(self, ctx, conn, new_id):
        """The object when it carries this step's mark, ``None`` when it
        is gone; raises :class:`NotOurs` otherwise."""
        reason = (f"it carries no mark of operation {ctx.operation_id} "
                  f"step {self.name}")
        if ctx.operation == PROTECT:
            reason += f" nor of checkpoint {ctx.checkpoint_id}"
        return ownership.proven(
            lambda found: self.fetch(conn, found), self.kind, new_id,
            lambda obj: self.carries_mark(ctx, obj), reason)

    def _is_ours(self, ctx, conn, new_id):
        try:
            return self.proven(ctx, conn, new_id) is not None
        except NotOurs:
            return False

    # -- the toolkit ---------------------------------------------------------
    def created(self, ctx, new_id):
        """Record ``new_id`` at once; return it (the task's result)."""
        faults.maybe_crash(self.name, faults.AFTER_CALL)
        if ctx.journal is not None:
            ctx.journal.record(self.name, new_id)
        if ctx.operation == PROTECT:
            protect_journal.record(ctx.bank, self.name, new_id)
        key = self.recorded_key(ctx)
        if key is not None:
            ctx.record_new_id(new_id, *key)
        return new_id

    def undo(self, ctx, conn, new_id):
        """Delete the object and wait until it is gone (bounded). An id
        read back from storage (:func:`from_storage`) of an object that
        keeps its mark (:meth:`keeps_mark`) is first proven
        (:meth:`proven`): raises :class:`NotOurs`, deleting nothing."""
        if self.keeps_mark(ctx) and from_storage(ctx) and \
                self.proven(ctx, conn, new_id) is None:
            return                  # already gone
        wait.delete_when_settled(
            lambda: self.fetch(conn, new_id),
            lambda: self.delete(conn, new_id),
            what=f"{self.kind} {new_id}", timeouts=ctx.timeouts,
            settled=self.settled)

    def revert(self, ctx, conn, result, **kwargs):
        new_id = result if isinstance(result, str) else None
        if new_id is None and ctx.journal is not None:
            # Died (or failed) after the API call, before a result.
            new_id = ctx.journal.created_by(self.name)
        if new_id is None and ctx.operation_id:
            # Died between the API's answer and the journal write (or the
            # call timed out after the service made the object).
            new_id = self.find_marked(ctx, conn, self.marks(ctx))
        if new_id is None:
            return
        self.undo(ctx, conn, new_id)
        if ctx.journal is not None:
            ctx.journal.forget(self.name)
        if ctx.operation == PROTECT:
            protect_journal.forget(ctx.bank, self.name)
        key = self.recorded_key(ctx)
        if key is not None:
            ctx.forget_new_id(*key)


def from_storage(ctx):
    """Whether the ids this step acts on were read back from storage (an
    operation resumed or aborted, a checkpoint's ``created.json``) rather
    than answered by the cloud to this process."""
    return ctx.journal is not None and ctx.journal.resuming


def checkpoints_object(ctx, fetch, what, object_id):
    """The object ``fetch(object_id)`` when it carries the mark of this
    context's checkpoint (what its protect created); ``None`` when it is
    gone; raises :class:`NotOurs`. For a delete step acting on an id
    read from the bank (a checkpoint delete's backup)."""
    return ownership.proven(
        fetch, what, object_id,
        lambda obj: ownership.carries_checkpoint_mark(obj, ctx.checkpoint_id),
        f"it carries no mark of checkpoint {ctx.checkpoint_id}")


def prove_ours(ctx, fetch, what, object_id):
    """Before a protect's step deletes what an earlier step created (a
    temporary snapshot, volume or image, by its id in the flow's saved
    results): when that id was read back from storage, the object must
    carry the checkpoint's mark. Returns whether there is something to
    delete (``False``: already gone); raises :class:`NotOurs`."""
    if not from_storage(ctx):
        return True
    return checkpoints_object(ctx, fetch, what, object_id) is not None


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


def exists(get, object_id):
    """Whether ``get(object_id)`` finds the object (not NotFound/None)."""
    try:
        return get(object_id) is not None
    except sdk_exceptions.NotFoundException:
        return False


def first_id(objects):
    """The id of the first of ``objects`` (a listing), or ``None``."""
    for obj in objects:
        return obj.id
    return None


def marked_by_metadata(objects, marks):
    """The id of the first object whose ``metadata`` carries ``marks``
    (for :meth:`CreatingTask.find_marked` where marks go in metadata)."""
    for obj in objects:
        metadata = obj.metadata or {}
        if all(metadata.get(k) == v for k, v in marks.items()):
            return obj.id
    return None


def drop_marks(delete_key):
    """Take the marks off again once a later step runs (the creating
    atom's result, the id, is saved by then): ``delete_key(key)`` for each
    mark key; a key already gone (a re-run of that step) is fine."""
    for key in MARK_KEYS:
        try:
            delete_key(key)
        except sdk_exceptions.NotFoundException:
            pass


class SaveMetadata(task.Task):
    """Write what restore needs into the resource's ``metadata.json``.

    A subclass implements ``execute`` and ends it with
    ``bank.save_metadata(...)``; the revert here drops the object again.
    """

    def revert(self, bank, **kwargs):
        bank.delete_metadata()


# -- objects several atoms share (RestoredIds.create_once) --------------------
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
    mark off once the id is journaled, by the creating atom. Returns
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
    if created and finish is not None:
        finish(new_id)
    return new_id, created


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


# -- objects that carry no mark -----------------------------------------------
class NameMarkedTask(CreatingTask):
    """A create whose object has no field for a mark but a name that can
    be changed afterwards: it is created under the operation's mark
    (:meth:`mark_tag`, ``stackvault:`` and 32 hex digits) and renamed to
    its real name in :meth:`finish`, once the id is journaled. A re-run
    (or a revert without a result) finds it by the marked name.

    A subclass provides :meth:`object_name`, :meth:`find_named` and
    :meth:`rename`, and creates with ``name=self.create_name(ctx)``.
    """

    def object_name(self, ctx):
        """The name the object must end up with."""
        raise NotImplementedError

    def find_named(self, conn, name):
        """The ids of the objects named exactly ``name`` (a listing)."""
        raise NotImplementedError

    def rename(self, conn, new_id, name):
        """Give the object ``name`` (idempotent)."""
        raise NotImplementedError

    def create_name(self, ctx):
        """The name to create under: the mark, when the operation can be
        resumed (it has an id); the real name otherwise."""
        return self.mark_tag(ctx) if ctx.operation_id else \
            self.object_name(ctx)

    def find_marked(self, ctx, conn, marks):
        if not ctx.operation_id:
            return None
        return next(iter(self.find_named(conn, self.mark_tag(ctx))), None)

    def finish(self, ctx, conn, new_id):
        if ctx.operation_id:
            self.rename(conn, new_id, self.object_name(ctx))


CREATING, UNCONFIRMED = "?creating", "?unconfirmed"


def unconfirmed_notes(journal_entries):
    """The notes :class:`UnmarkedTask` left in an operation's journal
    (``{key: id or note}``): what the operator must check by hand."""
    return [note for key, note in sorted(journal_entries.items())
            if key.endswith((CREATING, UNCONFIRMED))]


class UnmarkedTask(CreatingTask):
    """A create whose object can carry no mark at all and gets an id the
    cloud chooses (a Nova server group: no metadata, tags, description or
    rename; names not unique). If the process dies between the cloud's
    answer and the journal write, nothing can tell that object from the
    user's own, so nothing is deleted blind:

    * before the call the journal gets a note (``ATOM?creating``: what and
      which name), dropped once the id is journaled, or when the service
      refused the call (4xx: nothing was made);
    * a revert that finds no id leaves the note: an abort then ends
      ``failed`` and lists it in ``left_behind``, for the operator;
    * a re-run that finds the note asks :meth:`find_candidates`: none
      (the listing is complete and shows no such object) -> nothing was
      made, create; otherwise the note becomes ``ATOM?unconfirmed`` (with
      the candidates' ids), the object is created again, and the note is
      listed in the operation's warnings.

    A subclass provides :meth:`describe` and, where the service can list
    them, :meth:`find_candidates`.
    """

    def describe(self, ctx):
        """What the object is, for the operator (``named 'web'``)."""
        raise NotImplementedError

    def find_candidates(self, ctx, conn):
        """The ids of objects that may be the one an earlier run made
        (same name ...), or ``None`` when the service cannot be searched."""
        return None

    def _note(self, ctx):
        return (f"{self.kind} {self.describe(ctx)} (operation "
                f"{ctx.operation_id}, step {self.name}): created without a "
                "mark; the process stopped during the call")

    def creating(self, ctx, create):
        journal = ctx.journal
        if journal is None:
            return create()
        journal.record(self.name + CREATING, self._note(ctx))
        try:
            new_id = create()
        except sdk_exceptions.HttpException as exc:
            if 400 <= (exc.status_code or 0) < 500:   # refused: none made
                journal.forget(self.name + CREATING)
            raise
        if not isinstance(new_id, str):     # nothing needed creating
            journal.forget(self.name + CREATING)
        return new_id

    def created(self, ctx, new_id):
        new_id = super().created(ctx, new_id)
        if ctx.journal is not None:
            ctx.journal.forget(self.name + CREATING)
        return new_id

    def earlier(self, ctx, conn):
        found = super().earlier(ctx, conn)
        journal = ctx.journal
        if found is not None or journal is None or \
                journal.created_by(self.name + CREATING) is None:
            return found
        candidates = self.find_candidates(ctx, conn)
        if candidates != []:
            shown = ", ".join(candidates) if candidates else \
                "the service cannot be searched"
            journal.record(
                self.name + UNCONFIRMED,
                f"{journal.created_by(self.name + CREATING)}: it may exist "
                f"beside the one created again (candidates: {shown})")
        journal.forget(self.name + CREATING)
        return None
