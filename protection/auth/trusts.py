"""Keystone trusts: made by the API with the caller's token, used and
deleted by the conductor that runs the operation.

A trust (``POST /v3/OS-TRUST/trusts``) names a trustor (the caller), a
trustee (the ``[trustee]`` user, whose id is found by authenticating it
once), a project (the caller's) and roles on it (the caller's, from the
validated token), with ``impersonation``: a token the trustee gets with
the trust is the *trustor's* (user id and roles), scoped to the
project, so what a conductor creates is the caller's project's and
Keystone's ``identity:delete_trust`` ("admin or trustor") lets the
conductor delete the trust with that same token when the operation
ends. No redelegation; ``expires_at`` = now + ``[trustee]
trust_lifetime``.

Never logs a token or a password (only trust ids, which are useless
without the trustee's password).
"""

import dataclasses
import datetime
import logging
import threading
import time
import typing

import openstack
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import plugin as ks_plugin
from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.auth import opts

LOG = logging.getLogger(__name__)
GROUP = opts.GROUP
# Keystone's answers that mean "this trust is not usable (any more)".
_REFUSED = (ks_exceptions.Unauthorized, ks_exceptions.Forbidden,
            ks_exceptions.NotFound)


class TrusteeNotConfigured(exceptions.ConfigError):
    """``[trustee]`` is missing or unusable."""


class TrustNotHonoured(exceptions.OperationError):
    """Keystone refuses to act on a trust: deleted, expired, its trustor
    lost a role on the project (or the trustee's credentials are
    wrong). Retrying does not help."""

    def __init__(self, trust_id, why):
        super().__init__(
            f"Keystone no longer honours trust {trust_id} ({why}): it was "
            "deleted or expired, its trustor lost a role on the project, "
            "or the [trustee] credentials are wrong; start the operation "
            "again through the API")
        self.trust_id = trust_id


@dataclasses.dataclass(frozen=True)
class Trust:
    """A trust made for an operation: its id and when it expires (epoch
    seconds). ``lent_by``: the operation that owns it, when another one
    acts with it too (and must not delete it)."""

    id: str
    expires_at: float
    lent_by: typing.Optional[str] = None


def _one_line(exc):
    text = str(exc).splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def expires_at_text(epoch):
    """Keystone's format of ``expires_at`` (UTC, microseconds, ``Z``)."""
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Trusts:
    """Trusts for one configuration (``[trustee]``, ``[timeouts]``)."""

    def __init__(self, conf, clock=time.time):
        self.conf = conf
        self.clock = clock
        self._trustee_id = None
        self._lock = threading.Lock()

    # -- the trustee ---------------------------------------------------------
    def _plugin(self, **overrides):
        try:
            plugin = ks_loading.load_auth_from_conf_options(
                self.conf, GROUP, **overrides)
        except ks_exceptions.ClientException as exc:
            raise TrusteeNotConfigured(
                f"[{GROUP}] cannot be used: {_one_line(exc)} (see "
                "doc/deployment.rst, 'The trustee')") from None
        if plugin is None:
            raise TrusteeNotConfigured(
                f"[{GROUP}] auth_type is not set: operations posted by the "
                "API run in conductors with Keystone trusts, which need "
                f"the [{GROUP}] user (see doc/deployment.rst, 'The "
                "trustee')")
        return plugin

    def _session(self, auth):
        return ks_loading.load_session_from_conf_options(
            self.conf, GROUP, auth=auth)

    def check_configured(self):
        """Raise TrusteeNotConfigured unless ``[trustee]`` names a usable
        keystoneauth plugin (nothing is sent to Keystone)."""
        self._plugin()

    def trustee_user_id(self):
        """The trustee's user id: the ``[trustee]`` user authenticated
        once (unscoped), then cached."""
        with self._lock:
            if self._trustee_id is None:
                session = self._session(self._plugin())
                try:
                    self._trustee_id = session.get_user_id()
                except ks_exceptions.ClientException as exc:
                    raise exceptions.OperationError(
                        f"the [{GROUP}] user cannot authenticate: "
                        f"{_one_line(exc)}") from None
            return self._trustee_id

    # -- the API's side: make a trust, or take it back -----------------------
    def create(self, conn, user_id, project_id, roles):
        """A trust from the caller (``conn``: a connection with the
        caller's token; ``user_id``, ``project_id``, ``roles``: the
        token's) to the trustee; a :class:`Trust`."""
        if not roles:
            raise exceptions.OperationError(
                "the caller's token has no role on its project to delegate")
        expires = self.clock() + self.conf.trustee.trust_lifetime
        made = conn.identity.create_trust(
            trustor_user_id=user_id,
            trustee_user_id=self.trustee_user_id(),
            project_id=project_id,
            roles=[{"name": name} for name in sorted(set(roles))],
            is_impersonation=True, allow_redelegation=False,
            expires_at=expires_at_text(expires))
        LOG.info("trust %s made for user %s on project %s", made.id,
                 user_id, project_id)
        return Trust(made.id, expires)

    # -- the conductor's side: act with it, then delete it --------------------
    def session(self, trust_id):
        """A keystoneauth session of the trustee scoped by the trust,
        authenticated now: TrustNotHonoured when Keystone refuses."""
        session = self._session(self._plugin(trust_id=trust_id))
        try:
            session.get_auth_headers()
        except _REFUSED as exc:
            raise TrustNotHonoured(trust_id, _one_line(exc)) from None
        return session

    def connection(self, trust_id):
        """An openstacksdk connection acting with the trust (as its
        trustor, in its project); TrustNotHonoured when refused."""
        return openstack.connection.Connection(
            session=self.session(trust_id),
            region_name=self.conf.trustee.region_name,
            api_timeout=self.conf.timeouts.request)

    def delete(self, trust_id, conn=None):
        """Delete the trust: with ``conn`` (the caller's own token, the
        API), else with the trust's own token (the trustor's,
        impersonated: Keystone's "admin or trustor" lets it). A trust
        already gone counts as deleted; anything else raises."""
        try:
            conn = conn or self.connection(trust_id)
        except TrustNotHonoured:
            if self._gone(trust_id):
                return
            raise
        try:
            conn.identity.delete_trust(trust_id, ignore_missing=True)
        except sdk_exceptions.NotFoundException:
            return
        LOG.info("trust %s deleted", trust_id)

    def _gone(self, trust_id):
        """Whether Keystone says the trust does not exist (deleted, or
        expired): asked as the trustee, with its own token (Keystone's
        ``identity:get_trust`` lets the trustee read it), since a token
        scoped by a deleted trust is refused as any other (401)."""
        session = self._session(self._plugin())
        try:
            answer = session.get(
                f"/OS-TRUST/trusts/{trust_id}", raise_exc=False,
                endpoint_filter={"interface": ks_plugin.AUTH_INTERFACE,
                                 "version": (3, 0)})
        except ks_exceptions.ClientException:
            return False
        return answer.status_code == 404

    def delete_quietly(self, trust_id, conn=None):
        """:meth:`delete`; whether it is gone. A failure is logged
        (without secrets) for the caller to retry."""
        try:
            self.delete(trust_id, conn)
            return True
        except Exception as exc:  # noqa: BLE001 - logged, retried later
            LOG.warning("trust %s not deleted yet: %s", trust_id,
                        _one_line(exc))
            return False
