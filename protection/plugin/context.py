"""What a plugin's flows and hooks receive about the resource at hand."""

import dataclasses
import typing

from protection.plugin import wait
from protection.model.progress import ResourceProgress
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds


@dataclasses.dataclass
class ResourceContext:
    """One resource's view of one operation.

    - ``conn``: the target cloud's ``openstack.connection.Connection``
      (the cloud being protected, or the one being restored into);
    - ``bank``: the resource's section of the checkpoint
      (:class:`protection.checkpoint.section.ResourceSection`);
    - ``metadata``: what protect saved for this resource (restore, delete,
      verify; empty during protect);
    - ``parameters``: merged and validated parameters;
    - ``restored``: the restore's
      :class:`~protection.model.restored_ids.RestoredIds`;
    - ``progress``: a :class:`~protection.model.progress.ResourceProgress`;
    - ``timeouts``: :class:`~protection.plugin.wait.Timeouts`;
    - ``conf``: the config;
    - ``journal``: the operation's :class:`Journal` of what each atom
      created (kept by the framework; plugins use ``CreatingTask``).
    """

    operation: str
    resource: Resource
    conn: typing.Any
    bank: typing.Any
    parameters: dict
    restored: RestoredIds
    progress: ResourceProgress
    timeouts: wait.Timeouts
    conf: typing.Any = None
    checkpoint_id: typing.Optional[str] = None
    metadata: dict = dataclasses.field(default_factory=dict)
    journal: typing.Any = None

    def wait_for_status(self, fetch, status, what, size_gib=None, **kwargs):
        """``protection.plugin.wait.wait_for_status`` with this context's
        timeouts."""
        if size_gib is not None and "timeout" not in kwargs:
            kwargs["timeout"] = self.timeouts.for_size(size_gib)
        return wait.wait_for_status(fetch, status, what=what,
                                    timeouts=self.timeouts, **kwargs)

    def wait_for_delete(self, fetch, what, **kwargs):
        return wait.wait_for_delete(fetch, what=what, timeouts=self.timeouts,
                                    **kwargs)

    @property
    def operation_id(self):
        return self.journal.operation_id if self.journal else None

    def record_new_id(self, new_id, rtype=None, original_id=None):
        """Record what the restore created for this resource or sub-object."""
        self.restored.record(rtype or self.resource.type,
                             original_id or self.resource.id, new_id)

    def forget_new_id(self, rtype=None, original_id=None):
        self.restored.forget(rtype or self.resource.type,
                             original_id or self.resource.id)


class Journal:
    """What each atom of one operation created, kept durably.

    ``record(atom, new_id)`` is called the moment an API returns a new id
    (by :class:`protection.plugin.tasks.CreatingTask`); ``created_by(atom)``
    finds it again when the atom runs a second time after a crash, or when it
    is reverted without a result. ``resuming`` is true when the operation is
    being resumed or aborted (only then is anything looked up).

    A restore's last stage (:func:`protection.plugin.tasks.take_marks_off`)
    adds two kinds of notes beside an entry ``KEY``: ``unmarked:KEY`` (the
    object's marks were taken off: it no longer proves to be this
    operation's, so an undo leaves it and reports it) and ``marked:KEY``
    (its marks could not be taken off: reported, the object stays).
    Forgetting ``KEY`` forgets its notes.
    """

    UNMARKED = "unmarked:"
    STILL_MARKED = "marked:"
    NOTES = (UNMARKED, STILL_MARKED)

    def __init__(self, operation_id, store=None, resuming=False,
                 initial=None, read_back=None):
        self.operation_id = operation_id
        self.resuming = resuming
        self.read_back = resuming if read_back is None else read_back
        self._store = store
        self._created = dict(initial or {})
        self.left = {}          # key -> id a delete step left (not ours)
        self.notes = []         # one line each: why

    def leave(self, key, object_id, note):
        """A delete step left ``object_id`` (not proven stackvault's):
        reported in the operation's result (``left_behind``,
        ``warnings``), never deleted."""
        self.left[key] = object_id
        self.notes.append(note)

    def record(self, atom_name, new_id):
        self._created[atom_name] = new_id
        if self._store is not None:
            self._store.record_created(self.operation_id, atom_name, new_id)

    def forget(self, atom_name):
        for key in (atom_name, *(note + atom_name for note in self.NOTES)):
            if self._created.pop(key, None) is not None and \
                    self._store is not None:
                self._store.forget_created(self.operation_id, key)

    def created_by(self, atom_name):
        return self._created.get(atom_name)

    def remaining(self):
        return dict(self._created)

    def still_marked(self):
        """``{KEY: id}`` of what the final stage of a restore could not
        take the marks off."""
        return {key[len(self.STILL_MARKED):]: new_id
                for key, new_id in sorted(self._created.items())
                if key.startswith(self.STILL_MARKED)}

    def left_after_undo(self):
        """What an undo left: :meth:`remaining` without the notes of an
        entry that is itself listed (its note says nothing more)."""
        entries = self.remaining()
        return {key: new_id for key, new_id in entries.items()
                if not any(key.startswith(note) and key[len(note):] in entries
                           for note in self.NOTES)}
