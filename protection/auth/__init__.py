"""Delegated credentials: Keystone trusts for operations the API posts.

Layer: just above :mod:`protection.exceptions` (it imports nothing else
of stackvault), so that :mod:`protection.config` lists its options and
:mod:`protection.service`, :mod:`protection.operations`,
:mod:`protection.api` and :mod:`protection.cli` all use it.

An operation the API posts to the jobboard runs in a conductor, long
after the request, on another host: the caller's token must not travel
with it (no secret in a job or in the database). Instead the API makes
a **Keystone trust** with the caller's token (:mod:`.trusts`): trustor
the caller, trustee stackvault's own ``[trustee]`` user, the caller's
project and roles, impersonation, no redelegation, an expiry
(``[trustee] trust_lifetime``). The operation records only the trust's
id; a conductor authenticates as the trustee with that id and acts as
the caller in the caller's project, then deletes the trust when the
operation ends.

* :mod:`.opts`: the ``[trustee]`` group (keystoneauth's own auth and
  session options, ``trust_lifetime``, ``region_name``);
* :mod:`.trusts`: :class:`~.trusts.Trusts`, creating a trust, the
  trust-scoped connection, deleting it; :class:`~.trusts.TrustNotHonoured`
  when Keystone no longer accepts one.

A trust id alone is not a secret: it is usable only with the trustee's
password, which lives in ``stackvault.conf`` only. Tokens and passwords
are never logged (doc/security.rst).
"""
