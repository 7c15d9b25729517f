"""The API's side of posting with trusts (protection.api.delegation),
the service and Keystone mocked: the board first, the caller's token's
roles, the trust taken back whenever nothing was posted with it."""

import mock
import pytest

from protection import exceptions
from protection.api import delegation
from protection.api import errors
from protection.auth.trusts import Trust
from protection.model.report import OperationResult
from protection.operations import jobboard


def _request():
    request = mock.Mock()
    request.caller.user_id, request.caller.project_id = "u-1", "p-1"
    request.caller.context.roles = ["member", "reader"]
    request.service.trusts.create.return_value = Trust("t-1", 99.0)
    return request


def test_the_trust_is_the_callers_on_its_project_with_its_roles():
    request = _request()
    posted = jobboard.Posted("protect", "op-1")
    seen = []
    assert delegation.start(request, lambda t: seen.append(t) or posted) \
        is posted
    request.service.trusts.create.assert_called_once_with(
        request.connection(), "u-1", "p-1", ["member", "reader"])
    assert seen == [Trust("t-1", 99.0)]
    request.service.trusts.delete_quietly.assert_not_called()


def test_an_unreachable_board_is_503_before_any_trust():
    request = _request()
    request.service.poster.connect.side_effect = exceptions.OperationError(
        "cannot reach the redis jobboard")
    action = mock.Mock()
    with pytest.raises(errors.ServiceUnavailable, match="cannot reach"):
        delegation.start(request, action)
    request.service.trusts.create.assert_not_called()
    action.assert_not_called()


def test_a_start_that_posted_nothing_takes_its_trust_back():
    """A delete that ended at once (no job) needs no trust."""
    request = _request()
    ended = OperationResult("delete", "success")
    assert delegation.start(request, lambda _t: ended) is ended
    request.service.trusts.delete_quietly.assert_called_once_with(
        "t-1", request.connection())


def test_a_start_that_fails_takes_its_trust_back():
    request = _request()

    def broken(_trust):
        raise exceptions.OperationError("was not started")
    with pytest.raises(exceptions.OperationError):
        delegation.start(request, broken)
    request.service.trusts.delete_quietly.assert_called_once_with(
        "t-1", request.connection())


def test_without_a_jobboard_the_pool_runs_it_with_no_trust():
    request = _request()
    request.service.poster = None
    assert delegation.start(request, lambda trust: trust) is None
    request.require_room.assert_called_once_with()
    request.service.trusts.create.assert_not_called()
