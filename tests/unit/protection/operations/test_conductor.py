"""The conductor's pieces: jobboard configuration, claims, the job worker's
decisions, the ticker, following a posted operation."""

import io

import mock
import pytest
from oslo_config import cfg

from protection.operations import conductor
from protection import config
from protection import exceptions
from protection.auth import trusts
from protection.operations import jobboard
from protection.operations import store as ops
from protection.operations import runner
from protection.cli import follow
from protection.cli import main as cli_main


def _conf(**jobboard_opts):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    for key, value in jobboard_opts.items():
        conf.set_override(key, value, group="jobboard")
    return conf


def test_no_address_means_embedded():
    assert not jobboard.configured(_conf())
    assert jobboard.configured(_conf(address="10.0.0.1:6379"))


def test_board_conf_for_redis_and_etcd():
    conf = _conf(address="10.0.0.1:7000", namespace="ns", password="pw")
    assert jobboard._board_conf(conf) == {
        "board": "redis", "host": "10.0.0.1", "port": 7000,
        "namespace": "ns", "socket_timeout": 10.0, "password": "pw"}
    conf = _conf(address="etcd.example.com", backend="etcd",
                 claim_expiry=12.0)
    assert jobboard._board_conf(conf) == {
        "board": "etcd", "host": "etcd.example.com", "port": 2379,
        "path": "stackvault", "ttl": 12.0}


def test_redis_over_tls_checks_the_server_and_may_present_a_client_cert():
    conf = _conf(address="r:6380", tls=True, ca_file="/ca.pem",
                 cert_file="/c.pem", key_file="/k.pem")
    found = jobboard._board_conf(conf)
    assert {key: found[key] for key in found if key.startswith("ssl")} == {
        "ssl": True, "ssl_cert_reqs": "required", "ssl_ca_certs": "/ca.pem",
        "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem"}
    plain = jobboard._board_conf(_conf(address="r:6379"))
    assert not [key for key in plain if key.startswith("ssl")]


def test_etcd_over_tls_with_a_client_certificate():
    conf = _conf(address="e:2379", backend="etcd", tls=True,
                 ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem")
    found = jobboard._board_conf(conf)
    assert (found["protocol"], found["ca_cert"], found["cert_cert"],
            found["cert_key"]) == ("https", "/ca.pem", "/c.pem", "/k.pem")


@pytest.mark.parametrize("opts, words", [
    # etcd3gw has no password: it was silently ignored (issue #23)
    ({"backend": "etcd", "password": "pw"}, "cannot authenticate with a "
                                            "password"),
    ({"cert_file": "/c.pem", "key_file": "/k.pem"}, "set tls = true"),
    ({"tls": True, "cert_file": "/c.pem"}, "cert_file and key_file go"),
])
def test_jobboard_settings_that_would_be_ignored_are_refused(opts, words):
    with pytest.raises(exceptions.ConfigError, match=words):
        jobboard._board_conf(_conf(address="h:1", **opts))


def test_a_bad_address_is_a_config_error():
    with pytest.raises(exceptions.ConfigError, match="HOST:PORT"):
        jobboard._board_conf(_conf(address="host:port"))


def test_sqlite_persistence_is_refused_with_a_jobboard():
    with pytest.raises(exceptions.ConfigError, match="only this machine"):
        jobboard.connect(_conf(address="127.0.0.1:1"), "x", None)


def test_claims_carry_the_configured_expiry():
    board = mock.Mock()
    claims = jobboard.ExpiringClaims(board, 30.0)
    claims.claim("job", "me")
    board.claim.assert_called_once_with("job", "me", expiry=30.0)
    assert claims.iterjobs is board.iterjobs


class Job:
    def __init__(self, operation_id):
        self.details = {"operation_id": operation_id}
        self.extend_expiry = mock.Mock()


def _worker(op):
    service = mock.Mock()
    service.runner.stopping = False
    service.stores.operations.get.return_value = op
    service.stores.flows.note_attempt.return_value = (1, None)
    return conductor.JobWorker(_conf(), service, connect=None,
                               sleep=lambda _s: None), service


def _op(status=ops.RUNNING, alive=False):
    op = mock.Mock(id="op-1", kind="restore", checkpoint="cp", status=status,
                   args={})
    op.owner_alive.return_value = alive
    return op


def test_an_ended_operation_consumes_its_job():
    worker, service = _worker(_op(ops.SUCCEEDED))
    assert worker(Job("op-1")) is conductor.CONSUME
    service.resume.assert_not_called()


def test_an_operation_whose_owner_lives_is_released_untouched():
    worker, service = _worker(_op(alive=True))
    assert worker(Job("op-1")) is conductor.RELEASE
    service.stores.flows.note_attempt.assert_not_called()
    service.resume.assert_not_called()


def test_a_run_is_a_resume_and_its_outcome_decides_the_job():
    worker, service = _worker(_op(ops.QUEUED))
    assert worker(Job("op-1")) is conductor.CONSUME
    service.resume.assert_called_once_with("op-1", None)
    service.resume.side_effect = runner.OperationInterrupted("op-1")
    assert worker(Job("op-1")) is conductor.RELEASE
    service.resume.side_effect = exceptions.OperationFailed("restore", [])
    assert worker(Job("op-1")) is conductor.CONSUME


def test_a_broken_run_is_recorded_and_retried():
    worker, service = _worker(_op())
    service.resume.side_effect = OSError("disk")
    assert worker(Job("op-1")) is conductor.RELEASE
    service.stores.flows.note_attempt.assert_called_with(
        "op-1", error="OSError: disk")
    # The service released the operation itself (its _take_over), at the
    # generation it owned: the worker never releases blind.
    service.stores.operations.release.assert_not_called()


def test_a_run_stopped_while_the_database_was_away_is_released_later():
    worker, service = _worker(_op())
    service.resume.side_effect = ops.OwnershipLost("op-1", "db away")
    release = service.stores.operations.release_mine
    release.side_effect = [OSError("db away"), True]
    assert worker(Job("op-1")) is conductor.RELEASE
    assert worker.orphans == {"op-1"}
    ticker = conductor.Ticker(10.0, worker, 30.0)
    ticker.tick(now=100.0)          # the database answers again
    assert release.call_count == 2 and worker.orphans == set()


def test_an_orphan_run_here_again_is_not_released():
    worker, service = _worker(_op())
    worker.orphans.add("op-1")
    worker.active[Job("op-1")] = "op-1"
    worker.release_orphans()
    service.stores.operations.release_mine.assert_not_called()


def test_a_reason_that_cannot_be_recorded_still_releases_the_job():
    worker, service = _worker(_op())
    service.resume.side_effect = OSError("disk")
    service.stores.flows.note_attempt.side_effect = [
        (1, None), RuntimeError("database gone")]
    assert worker(Job("op-1")) is conductor.RELEASE


@pytest.mark.parametrize("lost", [
    ops.OperationBusy("taken over by another process"),
    ops.OwnershipLost("op-1", "generation moved")])
def test_an_operation_another_process_won_releases_the_job(lost):
    worker, service = _worker(_op(ops.QUEUED))
    service.resume.side_effect = lost
    assert worker(Job("op-1")) is conductor.RELEASE
    service.stores.flows.note_attempt.assert_called_once_with("op-1")
    # Never released blind: only if still recorded as this process's.
    service.stores.operations.release.assert_not_called()


def test_too_many_starts_end_the_operation_failed():
    worker, service = _worker(_op())
    owned = _op()
    service.stores.operations.take_over.return_value = owned
    service.stores.flows.note_attempt.return_value = (4, "OSError: disk")
    assert worker(Job("op-1")) is conductor.CONSUME
    service.resume.assert_not_called()
    (op, reason), _ = service.give_up.call_args
    assert op is owned          # given up by its owner, not from a look
    assert reason == ("given up after 3 attempts by conductors; last: "
                      "OSError: disk")


def test_an_operation_taken_over_meanwhile_is_not_given_up():
    worker, service = _worker(_op())
    service.stores.operations.take_over.side_effect = ops.OperationBusy("x")
    service.stores.flows.note_attempt.return_value = (4, "OSError: disk")
    assert worker(Job("op-1")) is conductor.RELEASE
    service.give_up.assert_not_called()


def test_the_ticker_extends_claims_and_calls_hooks_on_time():
    worker, _service = _worker(_op())
    job = Job("op-1")
    worker.active[job] = "op-1"
    hook = mock.Mock(side_effect=[None, RuntimeError("x"), None])
    ticker = conductor.Ticker(10.0, worker, 30.0, periodic=[(60.0, hook)])
    ticker.tick(now=100.0)
    ticker.tick(now=105.0)
    assert job.extend_expiry.call_count == 1
    assert hook.call_count == 1
    ticker.tick(now=170.0)          # the hook raises: logged, not fatal
    ticker.tick(now=240.0)
    assert job.extend_expiry.call_count == 3
    assert hook.call_count == 3


def test_following_turns_atom_states_into_progress_lines():
    assert follow._event("restore", "OS::Cinder::Volume#v1/CreateVolume",
                         "SUCCESS").step == "CreateVolume"
    assert follow._event("restore", "OS::Cinder::Volume#v1/start",
                         "RUNNING").state == "running"
    assert follow._event("restore", "OS::Cinder::Volume#v1/finish",
                         "RUNNING") is None
    assert follow._event("restore", "prepared", "SUCCESS") is None
    assert follow._event("restore", "OS::Nova::Server#s/on_complete",
                         "RUNNING") is None


def test_a_followed_failure_is_one_line_like_an_embedded_one():
    op = mock.Mock(kind="restore", status="failed", result={"failures": [
        {"resource": "OS::Cinder::Volume#v1", "step": "CreateVolume",
         "message": "quota"}, {"resource": None, "step": "x",
                               "message": "y"}]})
    assert follow.failure_line(op) == (
        "restore failed: OS::Cinder::Volume v1: step CreateVolume: quota "
        "(and 1 more)")


def test_conductor_without_a_jobboard_is_a_usage_error():
    err = io.StringIO()
    assert cli_main.main(["conductor"], stdout=io.StringIO(),
                         stderr=err) == 2
    assert "needs a jobboard" in err.getvalue()


def test_a_trust_keystone_refuses_ends_the_operation_at_once():
    """Not retried until max_attempts: the reason is final."""
    worker, service = _worker(_op(ops.QUEUED))
    service.resume.side_effect = trusts.TrustNotHonoured("t-1", "401")
    assert worker(Job("op-1")) is conductor.CONSUME
    [(owned, reason)] = [c.args for c in service.give_up.call_args_list]
    assert "no longer honours trust t-1" in reason
    service.stores.flows.note_attempt.assert_called_once_with("op-1")


def test_an_abort_asked_through_the_api_is_run_as_an_abort():
    op = _op(ops.QUEUED)
    op.args = {"trust_id": "t-1", "abort": {"project_id": "p",
                                            "user_id": "u"}}
    worker, service = _worker(op)
    assert worker(Job("op-1")) is conductor.CONSUME
    service.resume.assert_not_called()
    [(operation_id, _connect, tenancy)] = [
        c.args for c in service.abort.call_args_list]
    assert (operation_id, tenancy.project_id, tenancy.user_id) == (
        "op-1", "p", "u")
