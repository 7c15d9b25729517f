"""Posting an operation for a conductor when the jobboard fails: nothing
is left ``queued`` or ``protecting``; and the sweeper re-posts a queued
operation whose job the jobboard lost.

And following a posted operation (the CLI's ``--wait``, the default)
stops with one line when its job is lost and no conductor re-posts it,
or the jobboard stays away, instead of waiting for ever.

Real service, TaskFlow persistence and bank; the jobboard is a list.
"""

import functools
import io
import types

import mock
import pytest

from protection import exceptions
from protection.cli import follow
from protection.cli import main as cli_main
from protection.checkpoint import store as cp
from protection.operations import conductor
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import sweeper
from tests.fakes.fake_cloud import ROOTS
from tests.fakes.jobboard import Board
from tests.fakes import jobboard as fake_board


def _posting(service, board):
    fake_board.posting(service, board)


def test_a_board_that_cannot_be_reached_leaves_nothing_recorded(
        service, cloud, monkeypatch):
    _posting(service, Board())
    service.poster._board = None

    def unreachable(*_args):
        raise exceptions.OperationError("cannot reach the redis jobboard")
    monkeypatch.setattr(jobboard, "connect", unreachable)
    with pytest.raises(exceptions.OperationError, match="cannot reach"):
        service.protect(cloud, "app", ROOTS)
    assert service.list_operations() == []
    assert service.list_checkpoints() == []


def test_a_post_that_fails_gives_the_operation_up_and_fails_its_checkpoint(
        service, cloud):
    board = Board()
    _posting(service, board)
    board.down = True
    with pytest.raises(exceptions.OperationError,
                       match="was not started: .*refused the job"):
        service.protect(cloud, "app", ROOTS)
    [op] = service.list_operations()
    assert op.status == ops.FAILED       # not queued for ever
    [checkpoint] = service.list_checkpoints()
    assert checkpoint.status == cp.ERROR  # not protecting for ever
    board.down = False
    service.poster = None
    assert service.abort(op.id, lambda _name: cloud).status == "aborted"
    assert service.list_checkpoints() == []


def test_the_sweeper_reposts_a_queued_operation_whose_job_was_lost(
        make_service, cloud):
    cli, board = make_service(), Board()
    _posting(cli, board)
    posted = cli.protect(cloud, "app", ROOTS)
    board.jobs.clear()                    # Redis restarted, job gone
    service = make_service()
    sweep = sweeper.QueuedSweeper(service.stores, board, grace=0.0)
    assert sweep() == [posted.operation_id]
    assert sweep() == []                  # its job is there now
    [job] = board.jobs
    worker = conductor.JobWorker(service.conf, service, lambda _n: cloud,
                                 sleep=lambda _s: None)
    assert worker(job) is conductor.CONSUME
    assert service.operation(posted.operation_id).status == ops.SUCCEEDED


def test_the_sweeper_leaves_recent_and_posted_operations_alone(
        make_service, cloud):
    cli, board = make_service(), Board()
    _posting(cli, board)
    cli.protect(cloud, "app", ROOTS)
    assert sweeper.QueuedSweeper(cli.stores, board, grace=0.0)() == []
    board.jobs.clear()
    assert sweeper.QueuedSweeper(cli.stores, board, grace=3600.0)() == []


class _Clock:
    """Time for the follower: each of its sleeps moves it on; it gives up
    (a failure, not a hang) after ``limit`` sleeps."""

    def __init__(self, limit=10000, at_sleep=None):
        self.now = 0.0
        self.sleeps = 0
        self.limit = limit
        self.at_sleep = at_sleep or {}

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        assert self.sleeps < self.limit, "still following"
        self.now += seconds
        self.at_sleep.get(self.sleeps, lambda: None)()


def _follow(service, posted, clock):
    return follow.wait(service, posted, sleep=clock.sleep, clock=clock)


def test_following_a_queued_operation_whose_job_was_lost_stops_with_a_line(
        service, cloud):
    board = Board()
    _posting(service, board)
    posted = service.protect(cloud, "app", ROOTS)
    board.jobs.clear()                    # Redis restarted, job gone
    clock = _Clock()
    with pytest.raises(follow.NotFollowed) as raised:
        _follow(service, posted, clock)
    line = str(raised.value)
    assert "\n" not in line
    assert f"operation {posted.operation_id} is still queued and no job" \
        in line
    assert f"stackvault operation resume {posted.operation_id}" in line
    # Not before a running conductor's sweeper had its chance.
    assert clock.now >= follow.lost_after(service.conf)
    assert service.operation(posted.operation_id).status == ops.QUEUED


def test_following_waits_as_long_as_the_job_is_there_or_comes_back(
        make_service, cloud):
    """No conductor for a long while (the job waits on the board), then a
    lost job posted again by a sweeper, then a conductor runs it: the
    follower follows to the end."""
    cli, board = make_service(), Board()
    _posting(cli, board)
    posted = cli.protect(cloud, "app", ROOTS)
    conductor_side = make_service()
    limit = follow.lost_after(cli.conf)

    def lose():
        board.jobs.clear()

    def sweep():
        assert sweeper.QueuedSweeper(conductor_side.stores, board,
                                     grace=0.0)() == [posted.operation_id]

    def run():
        worker = conductor.JobWorker(conductor_side.conf, conductor_side,
                                     lambda _n: cloud, sleep=lambda _s: None)
        assert worker(board.jobs[0]) is conductor.CONSUME
    waited = int(3 * limit)               # sleeps of 1 s: 3 x the bound
    clock = _Clock(at_sleep={waited: lose, waited + int(limit / 2): sweep,
                             waited + int(limit): run})
    op = _follow(cli, posted, clock)
    assert op.status == ops.SUCCEEDED


def test_following_stops_when_the_jobboard_stays_away(service, cloud):
    board = Board()
    _posting(service, board)
    posted = service.protect(cloud, "app", ROOTS)
    board.down = True
    with pytest.raises(follow.NotFollowed, match=(
            "is still queued and the redis jobboard at .* has not answered "
            r"for \d+ s \(ConnectionError\): follow it later with "
            f"'stackvault operation show {posted.operation_id}'")):
        _follow(service, posted, _Clock())


def test_the_cli_says_it_in_one_line_and_exits_1(service, cloud):
    board = Board()
    _posting(service, board)
    posted = service.protect(cloud, "app", ROOTS)
    board.jobs.clear()
    clock = _Clock()
    err = io.StringIO()
    app = types.SimpleNamespace(service=service, stderr=err,
                                print=lambda _text: None)
    with mock.patch.object(follow, "wait", functools.partial(
            follow.wait, sleep=clock.sleep, clock=clock)):
        code = cli_main._follow(app, types.SimpleNamespace(format="table"),
                                posted)
    assert code == 1
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"stackvault: operation {posted.operation_id} "
                           "is still queued"), line


def _interrupted(service, operation_id, final_after=None, clock=None):
    """``service.operation`` as when the process running the operation
    died (shown ``interrupted``); ``succeeded`` once ``clock`` passes
    ``final_after``."""
    real = service.operation

    def operation(op_id):
        row = real(op_id)
        if op_id != operation_id:
            return row
        if final_after is not None and clock.now >= final_after:
            return types.SimpleNamespace(status=ops.SUCCEEDED,
                                         shown_status=ops.SUCCEEDED)
        return types.SimpleNamespace(status=ops.RUNNING,
                                     shown_status=ops.INTERRUPTED)
    return mock.patch.object(service, "operation", operation)


def test_following_an_interrupted_operation_whose_job_is_gone_stops(
        service, cloud):
    # Its conductor died and the jobboard lost the job: no conductor will
    # take it over, and the sweeper re-posts queued operations only.
    board = Board()
    _posting(service, board)
    posted = service.protect(cloud, "app", ROOTS)
    board.jobs.clear()
    clock = _Clock()
    with _interrupted(service, posted.operation_id), \
            pytest.raises(follow.NotFollowed) as raised:
        _follow(service, posted, clock)
    line = str(raised.value)
    assert "\n" not in line
    assert f"operation {posted.operation_id} is interrupted and no job" \
        in line and "its process died" in line
    assert f"stackvault operation resume {posted.operation_id}" in line
    assert clock.now >= follow.lost_after(service.conf)


def test_following_an_interrupted_operation_waits_while_its_job_is_there(
        service, cloud):
    # A conductor died holding the job: another takes it over once the
    # claim expires, however long that takes.
    board = Board()
    _posting(service, board)
    posted = service.protect(cloud, "app", ROOTS)
    clock = _Clock()
    final_after = 3 * follow.lost_after(service.conf)
    with _interrupted(service, posted.operation_id, final_after, clock):
        op = _follow(service, posted, clock)
    assert op.status == ops.SUCCEEDED and clock.now >= final_after


def test_a_refused_post_is_a_job_not_posted_error(service, cloud):
    """What the API answers 503 for and the CLI exits 1 with."""
    board = Board()
    _posting(service, board)
    board.down = True
    with pytest.raises(exceptions.JobNotPosted):
        service.protect(cloud, "app", ROOTS)
