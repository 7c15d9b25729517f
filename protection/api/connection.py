"""The cloud connection a request acts with: the caller's own token.

keystonemiddleware leaves the validated token in the request
(``keystone.token_auth``: an auth plugin holding the token and the
catalog Keystone returned with it). A keystoneauth session on that
plugin calls every service with the caller's token, found in the
caller's catalog, so what a restore creates lands in the caller's
project and what it reads is what the caller may read. No clouds.yaml
name ever comes from a caller; the token is kept only as long as the
connection of its request or operation, and never logged.

Every request's session shares one cache of the services' version
documents (:class:`DiscoveryCache`): without it each request that
touches the cloud asked each service for them again, twice for a service
that refuses the unauthenticated try (Cinder on devcloud: a 401, then
with the token), before its first real call; a restore's pre-flight
paid that on its way to the 202.
"""

import threading
import time

import openstack
from keystoneauth1.identity import access as access_plugin
from keystoneauth1 import session as ks_session

from protection.api import errors

TOKEN_AUTH = "keystone.token_auth"


class DiscoveryCache(dict):
    """keystoneauth's discovery cache (``URL -> Discover``), shared by
    every session of the process, each entry kept ``ttl`` seconds from
    the moment it was fetched (a service upgraded meanwhile is asked
    again then).

    Only version documents go in: the same for every project and user,
    no token, no catalog. keystoneauth writes an entry back after every
    hit: the same object does not make it younger."""

    def __init__(self, ttl=300.0, clock=time.monotonic):
        super().__init__()
        self.ttl = ttl
        self._clock = clock
        self._fetched = {}
        self._lock = threading.Lock()

    def get(self, url, default=None):
        with self._lock:
            fetched = self._fetched.get(url)
            if fetched is None or self._clock() - fetched > self.ttl:
                return default
            return super().get(url, default)

    def __setitem__(self, url, found):
        with self._lock:
            if super().get(url) is not found:
                self._fetched[url] = self._clock()
            super().__setitem__(url, found)


DISCOVERY = DiscoveryCache()


def connect(environ, conf):
    """An ``openstack.connection.Connection`` with the caller's token."""
    plugin = environ.get(TOKEN_AUTH)
    if plugin is None or not getattr(plugin, "has_user_token", False):
        raise errors.Forbidden("the request carries no user token to act "
                               "on the cloud with")
    # The validated token itself (AccessInfo: token and catalog), not
    # keystonemiddleware's plugin, which adds the API's own service
    # token: services that require the 'service' role of a service
    # token refuse a request whose service token lacks it.
    session = ks_session.Session(
        auth=access_plugin.AccessInfoPlugin(plugin.user),
        timeout=conf.timeouts.request, discovery_cache=DISCOVERY)
    return openstack.connection.Connection(
        session=session, region_name=conf.api.region_name,
        api_timeout=conf.timeouts.request)
