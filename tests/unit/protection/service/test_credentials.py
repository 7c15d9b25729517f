"""What an operation records of its credentials, the one place its
connection comes from, and its trust deleted when it ends
(protection.service.running; the trusts mocked)."""

import mock

from protection.auth import trusts
from protection.operations import store as ops
from protection.operations import sweeper
from protection.service import running


def _op(**args):
    return mock.Mock(id="op-1", args=args, generation=3, status=ops.RUNNING)


def test_an_operation_records_a_cloud_name_or_a_trust_never_both():
    assert running.credentials("devcloud") == {"cloud": "devcloud"}
    assert running.credentials(None, trusts.Trust("t-1", 5.0)) == {
        "trust_id": "t-1", "trust_expires_at": 5.0}


def test_a_trust_operation_connects_with_its_trust_else_with_its_cloud():
    service = mock.Mock()
    connect = mock.Mock()
    assert running.connection(service, _op(trust_id="t-1"), connect) is \
        service.trusts.connection.return_value
    service.trusts.connection.assert_called_once_with("t-1")
    connect.assert_not_called()
    assert running.connection(service, _op(cloud="c"), connect) is \
        connect.return_value
    connect.assert_called_once_with("c")
    assert running.has_credentials(_op(trust_id="t-1"))
    assert not running.has_credentials(_op(cloud=None))


def test_the_trust_is_deleted_when_the_operation_ends():
    service = mock.Mock()
    service.trusts.delete_quietly.return_value = True
    running.finish(service, _op(trust_id="t-1"), mock.Mock(ok=True,
                                                           status="success"))
    service.trusts.delete_quietly.assert_called_once_with("t-1")
    service.stores.operations.forget_trust.assert_called_once_with(
        "op-1", "t-1")


def test_a_trust_not_deleted_stays_recorded_for_the_sweeper():
    service = mock.Mock()
    service.trusts.delete_quietly.return_value = False
    running.finish(service, _op(trust_id="t-1"), mock.Mock(ok=False,
                                                           status="failed"))
    service.stores.operations.forget_trust.assert_not_called()
    running.finish(service, _op(cloud="c"), mock.Mock(ok=True,
                                                      status="success"))
    assert service.trusts.delete_quietly.call_count == 1


def test_the_sweeper_forgets_a_trust_that_expired_undeleted():
    stores, found = mock.Mock(), mock.Mock()
    ended = _op(trust_id="t-1", trust_expires_at=100.0)
    ended.status = ops.FAILED
    running_op = _op(trust_id="t-2", trust_expires_at=100.0)
    stores.operations.list.return_value = [ended, running_op]
    found.delete_quietly.return_value = False
    assert sweeper.TrustSweeper(stores, found, clock=lambda: 50.0)() == []
    assert sweeper.TrustSweeper(stores, found, clock=lambda: 150.0)() == [
        "op-1"]
    stores.operations.forget_trust.assert_called_once_with("op-1", "t-1")
    assert [c.args[0] for c in found.delete_quietly.call_args_list] == [
        "t-1", "t-1"]          # never the running operation's
