"""Creates of objects that carry no mark (protection.plugin.tasks):
NameMarkedTask (a name that can be changed later carries the mark until
the id is journaled) and UnmarkedTask (nothing can: a note in the journal
lists the object for the operator instead of a blind delete).

The kill is the fault-injection point (``after_call``), raising here
instead of ending the process; the "cloud" is a small in-memory service
whose objects have a name and an id it chooses, names not unique.
"""

import itertools
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from protection.model.progress import Progress
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds
from protection.plugin import tasks
from protection.plugin import wait
from protection.plugin.context import Journal
from protection.plugin.context import ResourceContext

GROUP = Resource("OS::Nova::ServerGroup", "sg-1", "web")
OP = "op-1"
FAST = wait.Timeouts(status_wait=1, poll_initial=0.01, poll_max=0.01)


class Groups:
    """Server-group-like objects: an id the service picks, a name that
    need not be unique; ``events`` records every change, in order."""

    def __init__(self, events):
        self.by_id, self.events = {}, events
        self._ids = (f"id-{n}" for n in itertools.count(1))

    def create(self, name):
        new_id = next(self._ids)
        self.by_id[new_id] = name
        self.events.append(("create", name))
        return new_id

    def named(self, name):
        return sorted(i for i, n in self.by_id.items() if n == name)

    def get(self, object_id):
        if object_id not in self.by_id:
            raise sdk_exceptions.NotFoundException(f"{object_id} not found")
        return self.by_id[object_id]

    def delete(self, object_id):
        self.events.append(("delete", object_id))
        self.by_id.pop(object_id, None)

    def rename(self, object_id, name):
        self.events.append(("rename", object_id, name))
        self.by_id[object_id] = name


class RecordingJournal(Journal):
    def __init__(self, events, **kwargs):
        super().__init__(OP, **kwargs)
        self.events = events

    def record(self, atom_name, new_id):
        self.events.append(("journal", atom_name))
        super().record(atom_name, new_id)


class Killed(BaseException):
    """Stands for os._exit at the fault point."""


def _kill(_name, point):
    if point == tasks.faults.AFTER_CALL:
        raise Killed()


def make_ctx(events, resuming=False, journal=True, initial=None):
    return ResourceContext(
        operation="restore", resource=GROUP, conn=None, bank=None,
        parameters={}, restored=RestoredIds(),
        progress=Progress().for_resource("restore", GROUP), timeouts=FAST,
        metadata={"name": "web"},
        journal=RecordingJournal(events, resuming=resuming,
                                 initial=initial) if journal else None)


class CreateRenamable(tasks.NameMarkedTask):
    kind = "thing"
    records = True

    def execute(self, ctx, conn, metadata):
        return self.created(ctx, conn.create(self.create_name(ctx)))

    def object_name(self, ctx):
        return ctx.metadata["name"]

    def find_named(self, conn, name):
        return conn.named(name)

    def rename(self, conn, new_id, name):
        conn.rename(new_id, name)

    def fetch(self, conn, new_id):
        return {"id": new_id, "name": conn.get(new_id)}

    def delete(self, conn, new_id):
        conn.delete(new_id)


class CreateServerGroup(tasks.UnmarkedTask):
    kind = "server group"
    records = True
    searchable = True

    def execute(self, ctx, conn, metadata):
        return self.created(ctx, conn.create(metadata["name"]))

    def describe(self, ctx):
        return f"named {ctx.metadata['name']!r}"

    def find_candidates(self, ctx, conn):
        return conn.named(ctx.metadata["name"]) if self.searchable else None

    def fetch(self, conn, new_id):
        return conn.get(new_id)

    def delete(self, conn, new_id):
        conn.delete(new_id)


ATOM = "OS::Nova::ServerGroup#sg-1/Create"


def run(task, ctx, conn, kill=False):
    if not kill:
        return task.execute(ctx, conn, ctx.metadata)
    with mock.patch.object(tasks.faults, "maybe_crash", side_effect=_kill), \
            pytest.raises(Killed):
        task.execute(ctx, conn, ctx.metadata)
    return None


# -- NameMarkedTask -----------------------------------------------------------
class TestNameMarked:
    def test_created_under_the_mark_renamed_in_the_last_stage(self):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        new_id = run(CreateRenamable(name=ATOM), ctx, conn)
        tag = tasks.tag_for(OP, ATOM)
        assert events == [("create", tag), ("journal", ATOM)]
        CreateRenamable(name=ATOM).unmark(ctx, conn)
        assert events[2:] == [("journal", "unmarked:" + ATOM),
                              ("rename", new_id, "web")]
        assert conn.by_id == {new_id: "web"}
        assert ctx.restored.get(GROUP.type, GROUP.id) == new_id

    def test_a_rerun_after_a_kill_finds_it_by_the_marked_name(self):
        events = []
        conn = Groups(events)
        run(CreateRenamable(name=ATOM), make_ctx(events), conn, kill=True)
        [made] = conn.by_id
        assert conn.by_id[made] == tasks.tag_for(OP, ATOM)    # not renamed
        again = make_ctx(events, resuming=True)
        assert run(CreateRenamable(name=ATOM), again, conn) == made
        CreateRenamable(name=ATOM).unmark(again, conn)
        assert conn.by_id == {made: "web"}        # one, and renamed
        assert again.journal.created_by(ATOM) == made

    def test_a_revert_without_a_result_deletes_the_marked_one(self):
        events = []
        conn = Groups(events)
        run(CreateRenamable(name=ATOM), make_ctx(events), conn, kill=True)
        conn.create("web")          # the user's own, same real name
        CreateRenamable(name=ATOM).revert(
            make_ctx(events, resuming=True), conn, result=None)
        assert list(conn.by_id.values()) == ["web"]

    def test_without_an_operation_the_real_name_is_used_at_once(self):
        events = []
        conn = Groups(events)
        run(CreateRenamable(name=ATOM), make_ctx(events, journal=False),
            conn)
        assert events == [("create", "web")]


# -- UnmarkedTask -------------------------------------------------------------
class TestUnmarked:
    def test_a_note_is_journaled_before_the_call_and_dropped_after(self):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        new_id = run(CreateServerGroup(name=ATOM), ctx, conn)
        assert events[:3] == [("journal", ATOM + tasks.CREATING),
                              ("create", "web"), ("journal", ATOM)]
        assert ctx.journal.remaining() == {ATOM: new_id}

    def test_a_revert_after_a_kill_deletes_nothing_and_lists_it(self):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        run(CreateServerGroup(name=ATOM), ctx, conn, kill=True)
        abort = make_ctx(events, resuming=True,
                         initial=ctx.journal.remaining())
        CreateServerGroup(name=ATOM).revert(abort, conn, result=None)
        assert list(conn.by_id.values()) == ["web"]       # not deleted
        [note] = tasks.unconfirmed_notes(abort.journal.remaining())
        assert note == (f"server group named 'web' (operation {OP}, step "
                        f"{ATOM}): created without a mark; the process "
                        "stopped during the call")

    def test_a_rerun_after_a_kill_creates_again_and_keeps_a_note(self):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        run(CreateServerGroup(name=ATOM), ctx, conn, kill=True)
        [first] = conn.by_id
        again = make_ctx(events, resuming=True,
                         initial=ctx.journal.remaining())
        second = run(CreateServerGroup(name=ATOM), again, conn)
        assert second != first and set(conn.by_id) == {first, second}
        left = again.journal.remaining()
        assert left[ATOM] == second
        assert ATOM + tasks.CREATING not in left
        [note] = tasks.unconfirmed_notes(left)
        assert note.endswith("it may exist beside the one created again "
                             f"(candidates: {first})")

    def test_a_service_that_cannot_be_searched_says_so(self):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        run(CreateServerGroup(name=ATOM), ctx, conn, kill=True)
        again = make_ctx(events, resuming=True,
                         initial=ctx.journal.remaining())
        task = CreateServerGroup(name=ATOM)
        task.searchable = False
        run(task, again, conn)
        [note] = tasks.unconfirmed_notes(again.journal.remaining())
        assert "(candidates: the service cannot be searched)" in note

    def test_no_candidate_means_nothing_was_made(self):
        # Killed before the call: the note is there, no such object.
        events = []
        conn = Groups(events)
        again = make_ctx(events, resuming=True, initial={
            ATOM + tasks.CREATING: "server group named 'web' ..."})
        new_id = run(CreateServerGroup(name=ATOM), again, conn)
        assert again.journal.remaining() == {ATOM: new_id}

    @pytest.mark.parametrize("error, kept", [
        (sdk_exceptions.HttpException("over quota", http_status=403), False),
        (sdk_exceptions.HttpException("gateway", http_status=504), True),
        (TimeoutError("no answer"), True),
    ])
    def test_a_refused_call_drops_the_note_an_unanswered_one_keeps_it(
            self, error, kept):
        events = []
        conn, ctx = Groups(events), make_ctx(events)
        conn.create = mock.Mock(side_effect=error)
        with pytest.raises(type(error)):
            run(CreateServerGroup(name=ATOM), ctx, conn)
        assert (ATOM + tasks.CREATING in ctx.journal.remaining()) is kept
