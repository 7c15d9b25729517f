"""A posted operation, run by a conductor's job worker in another service.

Real TaskFlow engines, a real bank and a real persistence database; the
jobboard is replaced by a list (what the worker is handed is what a
TaskFlow conductor hands ``_dispatch_job``: a job whose details name the
operation). Proves the factory TaskFlow records is what builds the flow
in the other service, and that the bookkeeping of an embedded run (the
checkpoint committed, the operation's row finished, its result) happens
when a conductor runs the job.
"""

import json
import threading

import pytest
import taskflow.engines

from protection.operations import conductor
from protection.operations import flow_factory
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import runner
from tests.fakes.fake_cloud import ROOTS
from tests.fakes import jobboard as fake_board


def _posting(service):
    return fake_board.posting(service)


def _worker(service, cloud):
    return conductor.JobWorker(service.conf, service, lambda _name: cloud,
                               sleep=lambda _s: None)


def test_a_posted_protect_and_restore_run_in_another_service(
        make_service, cloud):
    cli = make_service()
    board = _posting(cli)
    posted = cli.protect(cloud, "app", ROOTS)
    assert isinstance(posted, jobboard.Posted)
    assert cli.operation(posted.operation_id).status == ops.QUEUED
    _book, detail = cli.stores.flows.load(posted.operation_id)
    factory = detail.meta["factory"]
    assert factory["name"] == \
        "protection.operations.flow_factory.operation_flow"
    assert json.loads(json.dumps(factory["kwargs"])) == factory["kwargs"]
    with pytest.raises(flow_factory.NothingLent):
        taskflow.engines.flow_from_detail(detail)

    service = make_service()
    assert _worker(service, cloud)(board.jobs[0]) is conductor.CONSUME
    op = service.operation(posted.operation_id)
    assert op.status == ops.SUCCEEDED
    assert op.result["status"] == "success"
    checkpoint = service.show_checkpoint(op.checkpoint)
    assert checkpoint.status == "available"

    posted = cli.restore(op.checkpoint, cloud)
    assert _worker(service, cloud)(board.jobs[1]) is conductor.CONSUME
    restored = service.operation(posted.operation_id)
    assert restored.status == ops.SUCCEEDED
    assert len(restored.result["restored"]) == 6
    assert set(restored.result) >= {"restored", "left_behind", "policy"}


def test_a_job_that_keeps_breaking_is_given_up_with_its_reason(
        make_service, cloud):
    cli = make_service()
    board = _posting(cli)
    posted = cli.protect(cloud, "app", ROOTS)
    service = make_service()
    worker = _worker(service, cloud)

    def broken(_operation_id, _connect):
        raise OSError("the bank is unplugged")
    service.resume = broken
    limit = service.conf.jobboard.max_attempts
    for _ in range(limit):
        assert worker(board.jobs[0]) is conductor.RELEASE
        assert service.operation(posted.operation_id).status not in \
            ops.FINAL
    assert worker(board.jobs[0]) is conductor.CONSUME
    op = service.operation(posted.operation_id)
    assert op.status == ops.FAILED
    message = op.result["failures"][0]["message"]
    assert f"given up after {limit} attempts" in message
    assert "the bank is unplugged" in message
    assert service.show_checkpoint(op.checkpoint).status == "error"


def test_a_stopped_worker_releases_its_jobs_and_starts_nothing_more(
        make_service, cloud):
    """SIGTERM (``JobWorker.stop``) while one job runs and another is
    already claimed: the running operation stops at a task boundary, the
    claimed one is released untouched, and a run that starts after the
    first one ended is stopped too (the stop is not cleared by a run's
    end, as a CLI interruption is); another service runs both."""
    cli = make_service()
    board = _posting(cli)
    first = cli.protect(cloud, "app", ROOTS)
    second = cli.protect(cloud, "app", ROOTS)
    service = make_service()
    worker = _worker(service, cloud)
    cloud.slow["web"] = 0.5
    timer = threading.Timer(0.2, worker.stop)
    timer.start()
    assert worker(board.jobs[0]) is conductor.RELEASE
    timer.join()
    assert service.operation(first.operation_id).shown_status == \
        ops.INTERRUPTED
    assert worker(board.jobs[1]) is conductor.RELEASE
    assert service.operation(second.operation_id).status == ops.QUEUED
    with pytest.raises(runner.OperationInterrupted):
        service.resume(second.operation_id, lambda _name: cloud)

    cloud.slow.clear()
    heir = _worker(make_service(), cloud)
    for job, posted in zip(board.jobs, (first, second)):
        assert heir(job) is conductor.CONSUME
        assert service.operation(posted.operation_id).status == \
            ops.SUCCEEDED


def test_a_job_whose_conductors_keep_dying_is_given_up(make_service,
                                                       cloud):
    """Every start is counted before the run: conductors killed during
    the job (no error recorded) count too."""
    cli = make_service()
    board = _posting(cli)
    posted = cli.protect(cloud, "app", ROOTS)
    service = make_service()
    limit = service.conf.jobboard.max_attempts
    for _ in range(limit):      # each start, then its conductor died
        service.stores.flows.note_attempt(posted.operation_id)
    assert _worker(service, cloud)(board.jobs[0]) is conductor.CONSUME
    op = service.operation(posted.operation_id)
    assert op.status == ops.FAILED
    assert op.result["failures"][0]["message"] == (
        f"given up after {limit} attempts by conductors; last: the "
        "conductor running it died")
    assert service.show_checkpoint(op.checkpoint).status == "error"
