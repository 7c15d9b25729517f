"""A restore's last stage (flows.atoms.Unmark, take_marks_off): it is on
the restore's critical path, so every object is done at once, and an
object is read (proven) only when its id may come from storage (issue 22,
item 7; the safety of issue 23, item 2)."""

import threading
import types
from unittest import mock

from openstack import exceptions as sdk_exceptions

from flows import atoms
from protection.plugin import marks
from protection.plugin.context import Journal
from protection.plugin.ownership import NotOurs

KEY = "T#1/Create"


def test_the_stage_runs_every_object_at_once():
    """More objects than the old pool of 8: each waits at a barrier for
    all the others, so the stage ends only if all ran together."""
    count = 20
    together = threading.Barrier(count, timeout=60)
    errors = []

    class Step:
        name = "step"

        def unmark(self, ctx, conn):
            together.wait()

    steps = [(Step(), types.SimpleNamespace(conn=None))
             for _ in range(count)]
    atoms.Unmark(steps, lambda name, exc: errors.append(exc),
                 name="unmark").execute()
    assert errors == []


def _ctx(resuming=False, read_back=None, initial=None):
    return types.SimpleNamespace(
        journal=Journal("op-1", resuming=resuming, read_back=read_back,
                        initial=initial or {KEY: "new-1"}),
        operation_id="op-1", resource="T#1", progress=mock.Mock())


def test_a_fresh_run_takes_the_marks_off_without_a_proof():
    ctx = _ctx()
    prove, unmark = mock.Mock(), mock.Mock()
    assert marks.take_marks_off(ctx, KEY, "new-1", prove, unmark)
    prove.assert_not_called()
    unmark.assert_called_once_with(None)
    assert ctx.journal.created_by("unmarked:" + KEY) == "new-1"


def test_a_resumed_run_proves_once_and_hands_the_object_on():
    ctx = _ctx(resuming=True)
    found = object()
    prove, unmark = mock.Mock(return_value=found), mock.Mock()
    assert marks.take_marks_off(ctx, KEY, "new-1", prove, unmark)
    prove.assert_called_once_with()
    unmark.assert_called_once_with(found)


def test_a_resumed_run_leaves_what_does_not_prove():
    ctx = _ctx(resuming=True)
    unmark = mock.Mock()
    prove = mock.Mock(side_effect=NotOurs("record", "new-1", "no mark"))
    assert not marks.take_marks_off(ctx, KEY, "new-1", prove, unmark)
    unmark.assert_not_called()
    assert ctx.journal.left == {KEY: "new-1"}


def test_a_first_run_from_an_empty_journal_does_not_prove():
    """A conductor's first run of a posted operation is a resume whose
    journal was empty: every id in it is this process's own."""
    ctx = _ctx(resuming=True, read_back=False)
    prove = mock.Mock()
    assert marks.take_marks_off(ctx, KEY, "new-1", prove, mock.Mock())
    prove.assert_not_called()


def test_an_object_gone_at_the_unmark_counts_as_gone():
    ctx = _ctx()
    unmark = mock.Mock(side_effect=sdk_exceptions.NotFoundException("gone"))
    assert not marks.take_marks_off(ctx, KEY, "new-1", mock.Mock(), unmark)
    assert ctx.journal.created_by("unmarked:" + KEY) is None
    assert ctx.journal.still_marked() == {}
