"""Connections to clouds, from clouds.yaml or the environment only.

Credentials are never taken from stackvault's own config and never logged.
"""

import os

import openstack
from openstack import exceptions as sdk_exceptions

from protection import exceptions


def connect(cloud=None, request_timeout=None):
    """An ``openstack.connection.Connection`` to the named cloud.

    ``cloud`` defaults to ``OS_CLOUD``. A cloud that is not configured is a
    one-line :class:`~protection.exceptions.ConfigError`.
    ``request_timeout`` (``[timeouts] request``) bounds every HTTP request:
    a cloud that accepts the connection and never answers fails the call
    instead of hanging.
    """
    name = cloud or os.environ.get("OS_CLOUD")
    if not name and not os.environ.get("OS_AUTH_URL"):
        raise exceptions.ConfigError(
            "no cloud configured: pass --os-cloud NAME or set OS_CLOUD to a "
            "cloud in clouds.yaml (OS_CLIENT_CONFIG_FILE names the file)")
    try:
        if request_timeout:
            return openstack.connect(cloud=name, api_timeout=request_timeout)
        return openstack.connect(cloud=name)
    except sdk_exceptions.ConfigException as exc:
        raise exceptions.ConfigError(
            f"cannot use cloud {name!r}: {exc}") from None
