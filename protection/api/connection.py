"""The cloud connection a request acts with: the caller's own token.

keystonemiddleware leaves the validated token in the request
(``keystone.token_auth``: an auth plugin holding the token and the
catalog Keystone returned with it). A keystoneauth session on that
plugin calls every service with the caller's token, found in the
caller's catalog, so what a restore creates lands in the caller's
project and what it reads is what the caller may read. No clouds.yaml
name ever comes from a caller; the token is kept only as long as the
connection of its request or operation, and never logged.
"""

import openstack
from keystoneauth1.identity import access as access_plugin
from keystoneauth1 import session as ks_session

from protection.api import errors

TOKEN_AUTH = "keystone.token_auth"


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
        timeout=conf.timeouts.request)
    return openstack.connection.Connection(
        session=session, region_name=conf.api.region_name,
        api_timeout=conf.timeouts.request)
