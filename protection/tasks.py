"""Reusable task bases for plugins: the toolkit every plugin builds on.

``CreatingTask``
    A task whose one side effect is creating one cloud object. Its
    ``execute`` calls the API and hands the new id to :meth:`created`
    straight away, which records it (in the restore's map of new ids when
    the object stands for a protected one) before anything can fail; its
    revert deletes the object with :func:`protection.wait.delete_when_settled`
    (bounded waits, 409 retried) and forgets the id. A subclass says how to
    fetch and delete its kind of object; that is all.

``SaveMetadata``
    The last step of most protect flows: write the resource's
    ``metadata.json``; its revert drops it again.

A creating task's result is the new id (a string) or ``None`` when it had
nothing to create; reverts act only on a string, so a task that failed
before creating anything undoes nothing.
"""

from taskflow import task

from protection import wait


class CreatingTask(task.Task):
    """Base of a task that creates one cloud object (see module doc).

    Class attributes:

    ``kind``      what the object is called in messages (``"volume"``).
    ``settled``   statuses in which the service allows a delete (waited for
                  before deleting); ``None``: delete at once.
    ``records``   the type under which the new id is recorded in the
                  restore's map (``ctx.restored``); ``True``: the resource's
                  own type and id; ``None``: not recorded.
    """

    kind = "object"
    settled = None
    records = None

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

    # -- the toolkit ---------------------------------------------------------
    def created(self, ctx, new_id):
        """Record ``new_id`` at once; return it (the task's result)."""
        key = self.recorded_key(ctx)
        if key is not None:
            ctx.record_new_id(new_id, *key)
        return new_id

    def undo(self, ctx, conn, new_id):
        """Delete the object and wait until it is gone (bounded)."""
        wait.delete_when_settled(
            lambda: self.fetch(conn, new_id),
            lambda: self.delete(conn, new_id),
            what=f"{self.kind} {new_id}", timeouts=ctx.timeouts,
            settled=self.settled)

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, str):
            return
        self.undo(ctx, conn, result)
        key = self.recorded_key(ctx)
        if key is not None:
            ctx.forget_new_id(*key)


class SaveMetadata(task.Task):
    """Write what restore needs into the resource's ``metadata.json``.

    A subclass implements ``execute`` and ends it with
    ``bank.save_metadata(...)``; the revert here drops the object again.
    """

    def revert(self, bank, **kwargs):
        bank.delete_metadata()
