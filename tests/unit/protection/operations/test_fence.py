"""Fencing: the generation compare-and-swap of the operations store, and
the fence a runner writes its flow through."""

import mock
import pytest
import sqlalchemy as sa

from protection.operations import fence as fence_mod
from protection.operations import store as ops


@pytest.fixture
def engine(tmp_path):
    return sa.create_engine(f"sqlite:///{tmp_path}/ops.db")


def _store(engine, host):
    """A process on ``host``: another host's owner is judged by its
    heartbeat, so one test process can play several hosts."""
    return ops.OperationStore(engine, owner_timeout=30.0, host=host)


def _dead_on_host_a(engine):
    """An operation whose owner, on host-a, stopped beating long ago."""
    store = _store(engine, "host-a")
    op = store.create("restore", "cp", {})
    store._update(op.id, heartbeat=0.0)
    return op.id


def test_of_two_processes_that_saw_the_owner_dead_one_gets_it(engine):
    operation_id = _dead_on_host_a(engine)
    b, c = _store(engine, "host-b"), _store(engine, "host-c")
    seen_by_c = c.get(operation_id)           # c looks: the owner is dead
    assert not seen_by_c.owner_alive()
    won = b.take_over(operation_id)           # b takes it first
    assert (won.owner_host, won.generation) == ("host-b", 1)
    with mock.patch.object(c, "get", side_effect=[seen_by_c,
                                                  c.get(operation_id)]):
        with pytest.raises(ops.OperationBusy, match="at the same moment"):
            c.take_over(operation_id)
    assert c.get(operation_id).owner_host == "host-b"


def test_the_old_owner_can_neither_beat_nor_finish_nor_release(engine):
    a = _store(engine, "host-a")
    op = a.create("restore", "cp", {})
    a._update(op.id, heartbeat=0.0)
    _store(engine, "host-b").take_over(op.id)
    with pytest.raises(ops.OwnershipLost, match="generation 0 moved"):
        a.heartbeat(op.id, op.generation)
    with pytest.raises(ops.OwnershipLost):
        a.finish(op.id, ops.FAILED, {}, generation=op.generation)
    with pytest.raises(ops.OwnershipLost, match="0 -> 1"):
        a.check_generation(op.id, op.generation)
    assert not a.release(op.id, op.generation)
    now = a.get(op.id)
    assert (now.status, now.owner_host) == (ops.RUNNING, "host-b")


def test_every_change_of_owner_bumps_the_generation(engine):
    a = _store(engine, "host-a")
    op = a.create("restore", "cp", {})
    queued = a.queue(op)
    assert (queued.status, queued.generation) == (ops.QUEUED, 1)
    taken = _store(engine, "host-b").take_over(op.id)
    assert taken.generation == 2
    assert _store(engine, "host-b").release(op.id, 2)
    assert a.get(op.id).generation == 3
    assert a.get(op.id).shown_status == ops.INTERRUPTED
    assert a.requeue(a.get(op.id)) and not a.requeue(taken)


def test_a_given_up_operation_may_be_reopened_only_to_abort(engine):
    a = _store(engine, "host-a")
    op = a.create("restore", "cp", {})
    a.finish(op.id, ops.FAILED, {}, generation=op.generation)
    with pytest.raises(ops.OperationBusy, match="already ended"):
        a.take_over(op.id)
    assert a.take_over(op.id, reopen=True).status == ops.RUNNING


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _fence(engine, owner_timeout=10.0):
    store = _store(engine, "host-a")
    op = store.create("restore", "cp", {})
    clock = Clock()
    return store, op, clock, fence_mod.Fence(store, op.id, op.generation,
                                             owner_timeout, clock)


def test_a_fence_holds_while_beats_succeed_and_the_generation_stays(engine):
    _store_, _op, clock, fence = _fence(engine)
    clock.now += 4.0
    fence.beat()
    clock.now += 4.0
    fence.check()                    # 4 s since the last beat: < 5 s bound
    assert fence.tripped is None


def test_beats_failing_past_half_the_owner_timeout_trip_it(engine):
    store, op, clock, fence = _fence(engine)
    with mock.patch.object(store, "heartbeat",
                           side_effect=sa.exc.OperationalError("x", {}, None)):
        with pytest.raises(sa.exc.OperationalError):
            fence.beat()
    clock.now += 5.5
    with pytest.raises(ops.OwnershipLost, match="no heartbeat could be "
                                                "written for 6 s"):
        fence.check()
    assert fence.tripped
    clock.now += 0.0
    with pytest.raises(ops.OwnershipLost):   # tripped for good
        fence.check()


def test_a_moved_generation_trips_it_at_the_next_beat_or_check(engine):
    store, op, _clock, fence = _fence(engine)
    store._update(op.id, heartbeat=0.0)
    _store(engine, "host-b").take_over(op.id)
    with pytest.raises(ops.OwnershipLost):
        fence.beat()
    assert "generation 0 moved" in fence.tripped


def test_a_database_that_does_not_answer_trips_it(engine):
    store, _op, _clock, fence = _fence(engine)
    with mock.patch.object(store, "check_generation",
                           side_effect=sa.exc.OperationalError("x", {}, None)):
        with pytest.raises(ops.OwnershipLost, match="did not answer"):
            fence.check()


def test_the_fenced_backend_checks_before_every_write_only(engine):
    store, op, _clock, fence = _fence(engine)
    conn = mock.Mock()
    backend = fence_mod.FencedBackend(mock.Mock(**{
        "get_connection.return_value": conn}), fence)
    fenced = backend.get_connection()
    fenced.update_atom_details("atom")
    conn.update_atom_details.assert_called_once_with("atom")
    store._update(op.id, heartbeat=0.0)
    _store(engine, "host-b").take_over(op.id)
    fenced.get_logbook("op")                  # a read: not fenced
    for write in ("update_atom_details", "update_flow_details",
                  "save_logbook"):
        with pytest.raises(ops.OwnershipLost):
            getattr(fenced, write)("x")
    assert conn.update_atom_details.call_count == 1
    conn.update_flow_details.assert_not_called()


def test_beats_fit_several_times_in_the_bound():
    assert fence_mod.beat_interval(30.0) == 5.0
    assert fence_mod.beat_interval(3.0) == 0.5


def test_release_mine_only_while_this_process_is_the_recorded_owner(engine):
    a = _store(engine, "host-a")
    op = a.create("restore", "cp", {})
    assert a.release_mine(op.id)
    assert a.get(op.id).generation == 1 and a.get(op.id).owner_pid is None
    a._update(op.id, heartbeat=0.0, owner_host="host-a", owner_pid=1)
    _store(engine, "host-b").take_over(op.id)
    assert not a.release_mine(op.id)
    assert a.get(op.id).owner_host == "host-b"


def test_two_writers_of_one_journal_keep_both_entries(engine):
    """A step finishing in a process that lost the operation journals
    its create while the new owner journals one of its own."""
    a, b = _store(engine, "host-a"), _store(engine, "host-b")
    op = a.create("restore", "cp", {})
    real_select = a.engine.connect
    calls = []

    def connect_then_let_b_write():
        calls.append(1)
        if len(calls) == 1:          # a has read; b writes before a does
            conn = real_select()
            b.record_created(op.id, "B#1/Create", "new-b")
            return conn
        return real_select()
    with mock.patch.object(a.engine, "connect",
                           side_effect=connect_then_let_b_write):
        a.record_created(op.id, "A#1/Create", "new-a")
    assert a.get(op.id).journal == {"A#1/Create": "new-a",
                                    "B#1/Create": "new-b"}
    a.forget_created(op.id, "A#1/Create")
    assert a.get(op.id).journal == {"B#1/Create": "new-b"}
