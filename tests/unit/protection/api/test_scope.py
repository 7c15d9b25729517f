"""Who sees what (protection.api.scope): the admin check is made only
when an object is not the caller's own."""

from unittest import mock

import pytest

from protection.api import scope
from protection.api.policies import checkpoints as rules
from tests.fakes import api as fake_api


def _caller(role, project="proj-a"):
    enforcer = scope.make_enforcer(fake_api.api_conf())
    enforcer.authorize = mock.Mock(wraps=enforcer.authorize)
    environ = {"HTTP_X_IDENTITY_STATUS": "Confirmed",
               "HTTP_X_PROJECT_ID": project, "HTTP_X_USER_ID": "u",
               "HTTP_X_ROLES": ",".join(fake_api.IMPLIED[role])}
    return scope.Caller(environ, enforcer), enforcer.authorize


def _rules(authorize):
    return [call.args[0] for call in authorize.call_args_list]


def test_own_objects_need_no_admin_check():
    caller, authorize = _caller("member")
    assert caller.sees("proj-a")
    caller.authorize(rules.LIST, "proj-a")
    assert _rules(authorize) == [rules.LIST]


@pytest.mark.parametrize("role, sees", [("member", False), ("admin", True)])
def test_another_projects_object_asks_whether_the_caller_is_admin(role,
                                                                  sees):
    caller, authorize = _caller(role)
    assert caller.sees("proj-b") is sees
    assert caller.sees(None) is sees
    assert _rules(authorize) == ["context_is_admin"]     # asked once


def test_a_caller_without_a_project_sees_no_ownerless_object():
    caller, _ = _caller("member", project=None)
    assert not caller.sees(None)
