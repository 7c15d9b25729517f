"""Keystone trusts (protection.auth), Keystone mocked: what a trust asks
for, the trust-scoped connection, deleting one, and ``[trustee]``."""

import logging

import mock
import pytest
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from protection import config
from protection import exceptions
from protection.auth import trusts

PASSWORD = "trustee-secret-pw"


def _conf(**trustee):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    for name, value in trustee.items():
        conf.set_override(name, value, group="trustee")
    return conf


def _configured(**more):
    conf = _conf(auth_type="password")
    # the plugin's own options, as keystoneauth registers them when it
    # loads the chosen plugin
    conf.register_opts(ks_loading.get_auth_plugin_conf_options("password"),
                       group="trustee")
    for name, value in dict(auth_url="http://ks/v3", username="stackvault",
                            password=PASSWORD, user_domain_name="Default",
                            **more).items():
        conf.set_override(name, value, group="trustee")
    return conf


def _trusts(conf=None, user_id="trustee-uid"):
    found = trusts.Trusts(conf or _configured(), clock=lambda: 1000.0)
    session = mock.Mock()
    session.get_user_id.return_value = user_id
    found._session = mock.Mock(return_value=session)
    return found, session


def test_a_trust_delegates_the_callers_roles_with_impersonation():
    found, session = _trusts()
    conn = mock.Mock()
    conn.identity.create_trust.return_value = mock.Mock(id="t-1")
    trust = found.create(conn, "user-1", "proj-1",
                         ["reader", "member", "reader"])
    conn.identity.create_trust.assert_called_once_with(
        trustor_user_id="user-1", trustee_user_id="trustee-uid",
        project_id="proj-1",
        roles=[{"name": "member"}, {"name": "reader"}],
        is_impersonation=True, allow_redelegation=False,
        expires_at="1970-01-02T00:16:40.000000Z")    # 1000 s + one day
    assert trust == trusts.Trust("t-1", 1000.0 + 86400)
    # the trustee is authenticated once, then its id is known
    found.create(conn, "user-1", "proj-1", ["member"])
    assert session.get_user_id.call_count == 1


def test_the_lifetime_is_configured_and_bounded():
    found, _session = _trusts(_configured(trust_lifetime=3600))
    conn = mock.Mock()
    assert found.create(conn, "u", "p", ["member"]).expires_at == 4600.0
    for bad in (10, 8 * 86400):
        with pytest.raises(ValueError):
            _conf(trust_lifetime=bad)


def test_a_token_without_roles_delegates_nothing():
    found, _session = _trusts()
    with pytest.raises(exceptions.OperationError, match="no role"):
        found.create(mock.Mock(), "u", "p", [])


def test_the_trust_scoped_plugin_is_the_trustees_with_the_trust_id():
    found = trusts.Trusts(_configured())
    plugin = found._plugin(trust_id="t-9")
    assert plugin._trust_id == "t-9"      # keystoneauth's generic plugin
    assert plugin.auth_url == "http://ks/v3"
    assert plugin._project_id is None and plugin._project_name is None


def test_a_connection_acts_with_the_trust_in_the_configured_region():
    found, session = _trusts(_configured(region_name="RegionTwo"))
    with mock.patch.object(trusts.openstack.connection,
                           "Connection") as connection:
        found.connection("t-1")
    session.get_auth_headers.assert_called_once_with()
    kwargs = connection.call_args.kwargs
    assert kwargs["session"] is session
    assert kwargs["region_name"] == "RegionTwo"
    assert kwargs["api_timeout"] == found.conf.timeouts.request


@pytest.mark.parametrize("refusal", [ks_exceptions.Unauthorized,
                                     ks_exceptions.NotFound,
                                     ks_exceptions.Forbidden])
def test_a_trust_keystone_refuses_is_one_clear_error(refusal):
    found, session = _trusts()
    session.get_auth_headers.side_effect = refusal("The request you have "
                                                   "made requires auth")
    with pytest.raises(trusts.TrustNotHonoured) as raised:
        found.connection("t-1")
    message = str(raised.value)
    assert "no longer honours trust t-1" in message
    assert "\n" not in message and PASSWORD not in message


def test_deleting_with_the_callers_token_or_the_trusts_own():
    found, _session = _trusts()
    caller = mock.Mock()
    found.delete("t-1", caller)
    caller.identity.delete_trust.assert_called_once_with(
        "t-1", ignore_missing=True)
    own = mock.Mock()
    found.connection = mock.Mock(return_value=own)
    assert found.delete_quietly("t-2") is True
    found.connection.assert_called_once_with("t-2")
    own.identity.delete_trust.assert_called_once_with(
        "t-2", ignore_missing=True)


def test_a_trust_already_gone_counts_as_deleted():
    """Keystone refuses a token scoped by a deleted trust with 401, as
    any refusal: the trustee asks for the trust, and 404 means gone."""
    found, session = _trusts()
    session.get_auth_headers.side_effect = ks_exceptions.Unauthorized()
    session.get.return_value = mock.Mock(status_code=404)
    found.delete("t-1")
    assert session.get.call_args.args == ("/OS-TRUST/trusts/t-1",)
    session.get.return_value = mock.Mock(status_code=200)
    with pytest.raises(trusts.TrustNotHonoured):
        found.delete("t-1")


def test_a_delete_that_fails_is_logged_without_secrets(caplog):
    found, session = _trusts()
    session.get_auth_headers.side_effect = ks_exceptions.Unauthorized(
        "expired")
    session.get.return_value = mock.Mock(status_code=200)
    with caplog.at_level(logging.WARNING):
        assert found.delete_quietly("t-1") is False
    assert "trust t-1 not deleted yet" in caplog.text
    assert PASSWORD not in caplog.text


def test_an_unconfigured_trustee_is_one_line_naming_the_group():
    with pytest.raises(trusts.TrusteeNotConfigured,
                       match=r"\[trustee\] auth_type is not set"):
        trusts.Trusts(_conf()).check_configured()
    conf = _conf(auth_type="password")
    with pytest.raises(trusts.TrusteeNotConfigured,
                       match=r"\[trustee\] cannot be used"):
        trusts.Trusts(conf).check_configured()     # no auth_url
    trusts.Trusts(_configured()).check_configured()


def test_a_trustee_that_cannot_authenticate_is_one_line():
    found, session = _trusts()
    session.get_user_id.side_effect = ks_exceptions.Unauthorized("bad")
    with pytest.raises(exceptions.OperationError,
                       match=r"the \[trustee\] user cannot authenticate"):
        found.create(mock.Mock(), "u", "p", ["member"])
