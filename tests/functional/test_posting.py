"""Posting an operation for a conductor when the jobboard fails: nothing
is left ``queued`` or ``protecting``; and the sweeper re-posts a queued
operation whose job the jobboard lost.

Real service, TaskFlow persistence and bank; the jobboard is a list.
"""

import dataclasses

import pytest

from protection import exceptions
from protection.checkpoint import store as cp
from protection.operations import conductor
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import sweeper
from tests.fakes.fake_cloud import ROOTS


@dataclasses.dataclass(eq=False)
class Job:
    details: dict


class Board:
    """What Poster and the sweeper use of a jobboard; ``down``: every
    call fails as a Redis that went away does."""

    def __init__(self):
        self.jobs = []
        self.down = False

    def post(self, name, book=None, details=None):
        if self.down:
            raise ConnectionError("Connection refused")
        self.jobs.append(Job(details))

    def iterjobs(self, only_unclaimed=False, ensure_fresh=False):
        if self.down:
            raise ConnectionError("Connection refused")
        return iter(list(self.jobs))


def _posting(service, board):
    poster = jobboard.Poster(service.conf, service.stores)
    poster._board = board
    service.poster = poster


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
