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
takes the marks off in :meth:`CreatingTask.finish`: a protect at once
(its objects keep the marks that do not stand in a user-visible field
for life), a restore in its final stage, once every resource is restored
(:meth:`CreatingTask.unmark`, :func:`take_marks_off`). During a protect
the id also goes into the checkpoint (:mod:`protection.plugin.journal`).
When the atom runs again (an operation resumed after its process died
mid-task), the base class first looks for what an earlier run created, by
the journal and then by the marks, and returns that instead of creating
a second one. A revert without a result (the process died before the
task finished) deletes what the journal says the atom created, or, when
the process died between the API's answer and the journal write, what
carries the atom's marks.

Objects that carry no mark (no metadata, tags or description) and get an
id the cloud chooses: :class:`NameMarkedTask` when the name can be changed
afterwards (created under the mark, renamed as :meth:`finish` says);
:class:`UnmarkedTask` when nothing can carry a mark (a Nova server group):
it journals a note before the call, so after a crash in the call the
object is listed for the operator instead of being deleted blind or
forgotten.

Deletes trust only marks. A protect's objects keep their marks for
life and a restore's until its final stage, so an id of one read back
from storage (a protect or restore resumed or aborted, a checkpoint's
``created.json``), and any id a restore undoes, is deleted only once the
object proves to be this step's (:meth:`CreatingTask.carries_mark`;
:mod:`protection.plugin.ownership`): anything else raises
:class:`NotOurs` and is left, reported. :func:`prove_ours` does the same
for a step that deletes what an earlier step of a protect created (a
temporary snapshot or image). An object whose marks the final stage
took off no longer proves anything: an abort after that point leaves it
and reports it. Objects that can carry no mark
(:meth:`CreatingTask.keeps_mark` false: :class:`UnmarkedTask`, a key
pair) are never deleted by an id read back from storage: they are listed
for the operator (doc/operations.rst, "What a delete trusts").

``create_shared`` / ``shared_to_undo`` (:mod:`protection.plugin.shared`)
    The same for an object several atoms of one restore may need (a router
    or security group two networks share, a port): made once per restore
    (``RestoredIds.create_once``), marked with the object's own key
    (``TYPE#ORIGINAL_ID``) rather than an atom's, and journaled as
    ``TYPE#ORIGINAL_ID@ATOM``: whichever atom runs again finds it, and
    only the atom that created it sets it up and deletes it on revert,
    once the object proves to carry the mark (:func:`shared_proven`); its
    :func:`unmark_shared` takes the mark off in the restore's final stage.
"""

from concurrent import futures
import functools
import inspect

from openstack import exceptions as sdk_exceptions
from taskflow import task

from flows import faults
from flows.contract import PROTECT
from flows.contract import RESTORE
from protection.plugin import journal as protect_journal
from protection.plugin import ownership
from protection.plugin import wait
from protection.plugin.context import Journal
from protection.plugin.marks import TAG_PREFIX
from protection.plugin.marks import leave
from protection.plugin.marks import proven_by_tag
from protection.plugin.marks import tag_for
from protection.plugin.marks import take_marks_off
from protection.plugin.shared import create_shared
from protection.plugin.shared import forget_shared
from protection.plugin.shared import shared_key
from protection.plugin.shared import shared_proven
from protection.plugin.shared import shared_to_undo
from protection.plugin.shared import unmark_shared
from protection.plugin.ownership import MARK_OPERATION
from protection.plugin.ownership import MARK_TASK
from protection.plugin.ownership import NotOurs

__all__ = ["CreatingTask", "MARK_KEYS", "MARK_OPERATION", "MARK_TASK",
           "NotOurs", "SaveMetadata", "TAG_PREFIX", "checkpoints_object",
           "create_shared", "drop_marks", "exists", "first_id",
           "forget_shared", "from_storage", "leave", "marked_by_metadata",
           "prove_ours", "proven_by_tag", "shared_key", "shared_proven",
           "shared_to_undo", "tag_for", "take_marks_off", "unmark_shared"]
MARK_KEYS = (MARK_OPERATION, MARK_TASK)


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
        if isinstance(new_id, str) and not self.defers_finish(ctx):
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
        """Take the marks off the object: put back the user-visible field
        a mark took the place of (a Neutron description), drop marks kept
        as metadata or properties. A protect calls it once the new id is
        recorded (on the first run and on a re-run that found the object;
        a protect's object keeps its other marks for life, so a protect's
        ``finish`` restores only user-visible fields). A restore calls it
        in its final stage (:meth:`unmark`), once everything is restored
        and the object proved to carry the marks. Must be idempotent."""

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

        Objects keep their marks while the operation runs (a protect's
        for life, a restore's until its final stage), so a journaled id
        that does not carry them is not taken: a planted id is never
        adopted (nor deleted later). An object that can carry no mark
        (:meth:`keeps_mark` false) is taken by the journal alone: a
        re-run never deletes what it finds."""
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
        """Whether what this step creates carries its mark as long as it
        may be undone, so that its id can be proven before a delete: a
        protect's objects keep it for life, a restore's until the
        restore's final stage. ``False`` for objects that can carry no
        mark (:class:`UnmarkedTask`, a key pair): an id of one read back
        from storage is listed for the operator, never deleted."""
        return True

    def defers_finish(self, ctx):
        """Whether :meth:`finish` waits for the restore's final stage
        (:meth:`unmark`): in a restore with a journal (a run of the
        service), for what carries marks."""
        return ctx.operation == RESTORE and ctx.journal is not None and \
            self.keeps_mark(ctx)

    def must_prove(self, ctx):
        """Whether an undo proves the object first: an id read back from
        storage (an operation resumed or aborted), and every undo of a
        restore run by the service (its objects carry their marks until
        its final stage, after which nothing is undone)."""
        return from_storage(ctx) or (
            ctx.operation == RESTORE and bool(ctx.operation_id))

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
        if ctx.journal is not None and ctx.journal.created_by(
                Journal.UNMARKED + self.name) == new_id:
            reason = ("the restore's final stage took its marks off "
                      f"(operation {ctx.operation_id} step {self.name}): "
                      "it is this restore's, but nothing proves it any "
                      "more")
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
        """Delete the object and wait until it is gone (bounded). When
        :meth:`must_prove`, the object is first proven (:meth:`proven`);
        one that can carry no mark (:meth:`keeps_mark` false) is deleted
        only by an id this process got from the cloud. Otherwise raises
        :class:`NotOurs`, deleting nothing."""
        if self.must_prove(ctx):
            if self.keeps_mark(ctx):
                if self.proven(ctx, conn, new_id) is None:
                    return          # already gone
            elif from_storage(ctx):
                if not self._exists(conn, new_id):
                    return
                raise NotOurs(
                    self.kind, new_id,
                    f"a {self.kind} can carry no mark, so an id read back "
                    "from storage is never deleted: it is listed for the "
                    "operator")
        wait.delete_when_settled(
            lambda: self.fetch(conn, new_id),
            lambda: self.delete(conn, new_id),
            what=f"{self.kind} {new_id}", timeouts=ctx.timeouts,
            settled=self.settled)

    def unmark(self, ctx, conn):
        """The restore's final stage (:class:`flows.atoms.Unmark`): take
        this step's marks off what it created (:meth:`finish`), once the
        object proves to carry them (:func:`take_marks_off`)."""
        if not self.defers_finish(ctx):
            return
        new_id = ctx.journal.created_by(self.name)
        if new_id is None:
            return
        take_marks_off(ctx, self.name, new_id,
                       lambda: self.proven(ctx, conn, new_id),
                       lambda found: self.finish_found(ctx, conn, new_id,
                                                       found))

    def finish_found(self, ctx, conn, new_id, found):
        """:meth:`finish` in the restore's final stage: ``found`` is the
        object as its proof just read it, or ``None`` when it was not read
        (an id this run got from the cloud: :func:`take_marks_off`).
        Override where the object says what is left to take off (an
        image's properties), so that it is not read again."""
        self.finish(ctx, conn, new_id)

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
        try:
            self.undo(ctx, conn, new_id)
        except NotOurs:
            self._undo_marked_instead(ctx, conn, result, new_id)
            raise               # the journaled id stays, reported
        if ctx.journal is not None:
            ctx.journal.forget(self.name)
        if ctx.operation == PROTECT:
            protect_journal.forget(ctx.bank, self.name)
        key = self.recorded_key(ctx)
        if key is not None:
            ctx.forget_new_id(*key)

    def _undo_marked_instead(self, ctx, conn, result, journaled):
        """A journaled id that is not ours (planted) may hide what this
        step really made before it died: that one carries its marks."""
        if isinstance(result, str) or not ctx.operation_id or \
                ctx.operation != RESTORE:
            return
        found = self.find_marked(ctx, conn, self.marks(ctx))
        if found is not None and found != journaled:
            self.undo(ctx, conn, found)


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


def drop_marks(delete_key, fetch=None):
    """Take the marks off again: ``delete_key(key)`` for each mark key,
    all at once (one request per key, in parallel: the services' calls
    that set all metadata in one request replace it, and would race a
    user's own change). A key already gone (a re-run of that step) is
    fine; when every key is gone and ``fetch()`` is given, it is asked
    whether the object itself is gone (it raises NotFound: Nova and Cinder
    answer 404 for a gone key and a gone object alike)."""
    with futures.ThreadPoolExecutor(max_workers=len(MARK_KEYS)) as pool:
        calls = [pool.submit(delete_key, key) for key in MARK_KEYS]
    missing = 0
    for call in calls:
        error = call.exception()
        if isinstance(error, sdk_exceptions.NotFoundException):
            missing += 1
        elif error is not None:
            raise error
    if missing == len(MARK_KEYS) and fetch is not None:
        fetch()


class SaveMetadata(task.Task):
    """Write what restore needs into the resource's ``metadata.json``.

    A subclass implements ``execute`` and ends it with
    ``bank.save_metadata(...)``; the revert here drops the object again.
    """

    def revert(self, bank, **kwargs):
        bank.delete_metadata()


# -- objects that carry no mark -----------------------------------------------
class NameMarkedTask(CreatingTask):
    """A create whose object has no field for a mark but a name that can
    be changed afterwards: it is created under the operation's mark
    (:meth:`mark_tag`, ``stackvault:`` and 32 hex digits) and renamed to
    its real name in :meth:`finish` (a restore's last stage; a protect's
    once the id is journaled). A re-run (or a revert without a result)
    finds it by the marked name, and an undo proves it by it.

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

    Its object carries no mark (:meth:`keeps_mark` is false), so an id of
    one read back from storage (a resumed or aborted operation) is listed
    for the operator, never deleted.
    """

    def keeps_mark(self, ctx):
        return False

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
