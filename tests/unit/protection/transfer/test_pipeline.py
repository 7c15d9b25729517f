"""protection.transfer.pipeline: consecutive pieces moved concurrently, in
order, with bounded memory; failures cancel everything and leave no thread."""

import random
import threading
import time
import tracemalloc

import pytest

from protection.transfer import pipeline

MiB = 1024 * 1024
TIMEOUT = 10


def pipeline_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith("stackvault-test")]


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    yield
    assert pipeline_threads() == []


def chunks_of(piece_index, count, size=4):
    return [bytes([piece_index]) * size for _ in range(count)]


def collect(index, chunks):
    """A put that stores nothing: returns what it received."""
    return (index, b"".join(chunks))


# -- put_pieces ---------------------------------------------------------------
def test_put_results_come_in_order_whatever_finishes_first():
    def put(index, chunks):
        data = b"".join(chunks)
        time.sleep(random.random() / 50)
        return index, data

    pieces = [chunks_of(i, 3) for i in range(12)]
    results = pipeline.put_pieces(pieces, put, 4, name="stackvault-test")
    assert results == [(i, bytes([i]) * 12) for i in range(12)]


def test_put_of_no_piece_is_no_result():
    assert pipeline.put_pieces([], collect, 3, name="stackvault-test") == []


def test_put_runs_up_to_concurrency_pieces_at_once_and_no_more():
    # Three puts meet at a barrier: only possible when they run at once.
    barrier = threading.Barrier(3, timeout=TIMEOUT)
    lock = threading.Lock()
    running, most = [0], [0]

    def put(index, chunks):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        data = b"".join(chunks)
        if index < 3:
            barrier.wait()
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return len(data)

    results = pipeline.put_pieces([chunks_of(i, 2) for i in range(9)], put,
                                  3, name="stackvault-test")
    assert results == [8] * 9
    assert most[0] == 3


def test_put_memory_is_bounded_by_concurrency_and_depth():
    """Chunks read from the source but not yet done with by a put: at most
    concurrency x (depth queued + 1 in hand) + the one the producer holds,
    whatever the pieces' size."""
    lock = threading.Lock()
    read, taken, most = [0], [0], [0]

    def source(count):
        for _ in range(count):
            with lock:
                read[0] += 1
                most[0] = max(most[0], read[0] - taken[0])
            yield b"x"

    def put(index, chunks):
        for _ in chunks:
            time.sleep(0.001)
            with lock:
                taken[0] += 1
        return index

    for per_piece in (4, 64):
        read[0] = taken[0] = most[0] = 0
        pipeline.put_pieces((source(per_piece) for _ in range(6)), put,
                            concurrency=2, depth=2, name="stackvault-test")
        assert most[0] <= 2 * (2 + 1) + 1, (per_piece, most[0])


@pytest.mark.parametrize("piece_mib", [4, 32])
def test_put_python_memory_is_flat_in_the_piece_size(piece_mib):
    def piece():
        for _ in range(piece_mib):
            yield bytes(MiB)          # a new allocation for every chunk

    def put(index, chunks):
        for _ in chunks:
            pass
        return index

    tracemalloc.start()
    try:
        pipeline.put_pieces((piece() for _ in range(64 // piece_mib)), put,
                            concurrency=3, depth=2, name="stackvault-test")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 3 x (2 queued + 1 in hand) + 1 being read, in 1 MiB chunks
    assert peak < 11 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_failed_put_fails_the_whole_and_cancels_the_others(monkeypatch):
    seen = {}
    failed = threading.Event()
    error = OSError("disk full")
    produced = [0]
    real_fail = pipeline._Pipeline.fail

    def fail(self, exc):
        real_fail(self, exc)
        failed.set()

    monkeypatch.setattr(pipeline._Pipeline, "fail", fail)

    def source(count):
        for _ in range(count):
            produced[0] += 1
            yield b"x"

    def put(index, chunks):
        try:
            if index == 1:
                raise error
            next(chunks)
            # piece 0 still has data queued when piece 1's put fails
            failed.wait(TIMEOUT)
            for _ in chunks:
                pass
            seen[index] = "end"
        except pipeline.Cancelled:
            seen[index] = "cancelled"
            raise

    pieces = [source(2), source(1000), source(1000)]
    with pytest.raises(OSError) as err:
        pipeline.put_pieces(iter(pieces), put, 3, depth=2,
                            name="stackvault-test")
    assert err.value is error
    # Piece 0's put was stopped, never given a normal end of its data.
    assert seen == {0: "cancelled"}
    assert produced[0] < 10                 # stopped at once


def test_a_source_error_cancels_the_put_in_progress():
    seen = []
    error = ConnectionError("glance went away")

    def source():
        yield b"a"
        yield b"b"
        raise error

    def put(index, chunks):
        got = []
        try:
            for chunk in chunks:
                got.append(chunk)
        except pipeline.Cancelled:
            seen.append(("cancelled", got))
            raise
        seen.append(("end", got))

    with pytest.raises(ConnectionError) as err:
        pipeline.put_pieces([source()], put, 2, name="stackvault-test")
    assert err.value is error
    assert seen and seen[0][0] == "cancelled"


def test_a_put_that_stops_reading_is_an_error_not_a_hang():
    def put(index, chunks):
        next(chunks)
        return index

    with pytest.raises(RuntimeError, match="before the end of its data"):
        pipeline.put_pieces([chunks_of(0, 50)], put, 1, depth=1,
                            name="stackvault-test")


def test_concurrency_and_depth_must_be_positive():
    with pytest.raises(ValueError):
        pipeline.put_pieces([], collect, 0)
    with pytest.raises(ValueError):
        pipeline.put_pieces([], collect, 1, depth=0)
    with pytest.raises(ValueError):
        pipeline.PieceReader([], 0)


# -- PieceReader --------------------------------------------------------------
def reader_of(index, count, delay=0.0):
    def read():
        for chunk in chunks_of(index, count):
            if delay:
                time.sleep(random.random() * delay)
            yield chunk
    return read


def test_read_yields_every_piece_in_order():
    readers = [reader_of(i, 5, delay=0.002) for i in range(10)]
    with pipeline.PieceReader(readers, 4, name="stackvault-test") as pieces:
        got = list(pieces)
    assert got == [c for i in range(10) for c in chunks_of(i, 5)]


def test_read_of_no_piece_is_nothing():
    with pipeline.PieceReader([], 2, name="stackvault-test") as pieces:
        assert list(pieces) == []


def test_read_ahead_runs_the_next_pieces_at_once_and_no_more():
    barrier = threading.Barrier(3, timeout=TIMEOUT)
    lock = threading.Lock()
    started = []

    def reader(index):
        def read():
            with lock:
                started.append(index)
            if index < 3:
                barrier.wait()          # pieces 0, 1 and 2 at once
            yield bytes([index])
        return read

    with pipeline.PieceReader([reader(i) for i in range(8)], 3,
                              name="stackvault-test") as pieces:
        it = iter(pieces)
        assert next(it) == b"\0"
        # While piece 0 is consumed, at most pieces 1 and 2 are read ahead.
        assert sorted(started) == [0, 1, 2]
        assert list(it) == [bytes([i]) for i in range(1, 8)]


def test_read_ahead_memory_is_bounded():
    lock = threading.Lock()
    produced, taken, most = [0], [0], [0]

    def reader(count):
        def read():
            for _ in range(count):
                with lock:
                    produced[0] += 1
                    most[0] = max(most[0], produced[0] - taken[0])
                yield b"x"
        return read

    with pipeline.PieceReader([reader(64) for _ in range(6)], 3, depth=2,
                              name="stackvault-test") as pieces:
        for _ in pieces:
            time.sleep(0.0005)
            with lock:
                taken[0] += 1
    # 3 x (2 queued + 1 in hand) + the one the consumer holds
    assert most[0] <= 3 * (2 + 1) + 1


def test_a_later_pieces_error_is_raised_before_the_current_one_ends():
    failed = threading.Event()
    error = ValueError("object 1 is corrupt")

    def first():
        yield b"a"
        failed.wait(TIMEOUT)
        for _ in range(1000):
            yield b"a"

    def second():
        failed.set()
        raise error
        yield b"never"               # a generator, as readers are

    consumed = 0
    with pipeline.PieceReader([first, second], 2,
                              name="stackvault-test") as pieces:
        with pytest.raises(ValueError) as err:
            for _ in pieces:
                consumed += 1
    assert err.value is error
    assert consumed < 10


def test_an_error_at_a_pieces_end_comes_before_the_next_piece():
    def checked():
        yield b"a"
        raise ValueError("sha256 mismatch")

    got = []
    with pipeline.PieceReader([checked, reader_of(1, 2)], 2,
                              name="stackvault-test") as pieces:
        with pytest.raises(ValueError, match="mismatch"):
            for chunk in pieces:
                got.append(chunk)
    assert b"\1" * 4 not in got


def test_closing_early_stops_and_closes_every_reader():
    closed = []

    def reader(index):
        def read():
            try:
                for _ in range(1000):
                    yield bytes([index])
            finally:
                closed.append(index)
        return read

    pieces = pipeline.PieceReader([reader(i) for i in range(5)], 3,
                                  name="stackvault-test")
    it = iter(pieces)
    next(it)
    pieces.close()
    # the pieces being read (0, 1, 2) were closed; 3 and 4 never started
    assert sorted(closed) == [0, 1, 2]


# -- a budget shared by several transfers ------------------------------------
class Gauge:
    """Pieces in flight over every transfer, and the most seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = 0

    def enter(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1


def run_together(*jobs):
    errors = []

    def run(job):
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(job,), daemon=True)
               for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert errors == []


def test_a_budget_bounds_the_pieces_of_every_transfer_together():
    budget, gauge = pipeline.Budget(3), Gauge()
    results = {}

    def put(index, chunks):
        gauge.enter()
        data = b"".join(chunks)
        time.sleep(0.01)
        gauge.leave()
        return len(data)

    def reader(index):
        def read():
            gauge.enter()
            try:
                time.sleep(0.01)
                yield bytes([index])
            finally:
                gauge.leave()
        return read

    def put_job(name):
        def job():
            results[name] = pipeline.put_pieces(
                [chunks_of(i, 2) for i in range(8)], put, 4,
                name="stackvault-test", budget=budget)
        return job

    def read_job():
        with pipeline.PieceReader([reader(i) for i in range(8)], 4,
                                  name="stackvault-test",
                                  budget=budget) as pieces:
            results["read"] = list(pieces)

    run_together(put_job("a"), put_job("b"), read_job)
    assert results["a"] == results["b"] == [8] * 8
    assert results["read"] == [bytes([i]) for i in range(8)]
    # 3 transfers of concurrency 4 would reach 12 pieces at once.
    assert 1 <= gauge.most <= 3
    assert budget.used == 0


def test_one_slot_for_many_transfers_takes_turns_without_deadlock():
    budget = pipeline.Budget(1)
    got = []

    def read_job():
        readers = [reader_of(i, 3, delay=0.001) for i in range(6)]
        with pipeline.PieceReader(readers, 4, name="stackvault-test",
                                  budget=budget) as pieces:
            got.append(list(pieces))

    def put_job():
        got.append(pipeline.put_pieces([chunks_of(i, 3) for i in range(6)],
                                       collect, 4, name="stackvault-test",
                                       budget=budget))

    run_together(read_job, read_job, put_job, put_job)
    assert len(got) == 4
    assert budget.used == 0


def test_a_transfer_waiting_for_a_slot_stops_when_it_fails():
    budget = pipeline.Budget(1)
    other = pipeline._Pipeline(1, budget)
    assert other.take_slot()        # another transfer holds the only slot
    waiting = pipeline._Pipeline(1, budget)
    outcome = []

    def take():
        try:
            waiting.take_slot()
            outcome.append("took a slot")
        except pipeline.Cancelled:
            outcome.append("cancelled")
    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    time.sleep(0.05)
    assert outcome == []            # still waiting: no slot is free
    waiting.fail(RuntimeError("a put failed"))
    thread.join(TIMEOUT)
    assert outcome == ["cancelled"]
    assert budget.used == 1


def test_closing_a_reader_early_gives_its_slots_back():
    budget = pipeline.Budget(4)
    pieces = pipeline.PieceReader([reader_of(i, 1000) for i in range(6)], 3,
                                  name="stackvault-test", budget=budget)
    it = iter(pieces)
    next(it)
    assert budget.used == 3
    pieces.close()
    assert budget.used == 0


def test_a_budget_needs_a_slot():
    with pytest.raises(ValueError):
        pipeline.Budget(0)
