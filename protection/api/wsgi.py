"""The WSGI entry point of the protection API: ``application``.

For uWSGI or gunicorn (``gunicorn protection.api.wsgi:application``;
configuration files from ``STACKVAULT_CONFIG_FILES``, colon-separated,
else oslo.config's default search). The pipeline, outermost first:

1. oslo.middleware ``request_id``: ``x-openstack-request-id`` on every
   response;
2. :class:`~protection.api.errors.JsonErrors`: every error as our JSON;
3. ``http_proxy_to_wsgi``: the scheme and host a TLS proxy was asked
   for (``[oslo_middleware] enable_proxy_headers_parsing``);
4. ``sizelimit``: a body over ``[api] max_request_body_size`` is 413;
5. ``cors`` (``[cors]``);
6. keystonemiddleware ``auth_token`` (``[keystone_authtoken]``) on every
   path but ``/``;
7. the :class:`~protection.api.app.Application`.
"""

import os
import threading

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_middleware import cors
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import request_id
from oslo_middleware import sizelimit

from protection import bank as bank_mod
from protection import config
from protection import exceptions
from protection.api import app as app_mod
from protection.api import connection
from protection.api import errors
from protection.api import opts
from protection.api import workers
from protection.operations import jobboard
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService

CONFIG_FILES_ENV = "STACKVAULT_CONFIG_FILES"


class SkipAuthForRoot:
    """Version discovery (``/``) needs no token; every other path goes
    through ``auth``."""

    def __init__(self, app, auth):
        self.app = app
        self.auth = auth

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") in ("", "/"):
            return self.app(environ, start_response)
        return self.auth(environ, start_response)


def keystone_auth(app, conf):
    """keystonemiddleware's auth_token, configured from ``conf``; a
    ConfigError when ``[keystone_authtoken]`` lacks what every request
    needs (the URI clients authenticate at, the service user that
    validates tokens): otherwise each request would fail with a 500."""
    middleware = auth_token.AuthProtocol(app, {"oslo_config_config": conf})
    group = conf.keystone_authtoken
    missing = [name for name in ("www_authenticate_uri", "auth_type")
               if not getattr(group, name, None)]
    if missing:
        raise exceptions.ConfigError(
            f"[keystone_authtoken] {' and '.join(missing)} not set: the "
            "API cannot check tokens (see doc/deployment.rst, "
            "'[keystone_authtoken]')")
    return middleware


def pipeline(conf, application, auth=keystone_auth):
    """Wrap ``application`` in the middleware (see the module doc);
    ``auth(app, conf)`` makes the authenticating layer (tests: a fake)."""
    inner = SkipAuthForRoot(application, auth(application, conf))
    inner = cors.CORS(inner, conf)
    inner = sizelimit.RequestBodySizeLimiter(inner, conf)
    conf.set_override("max_request_body_size",
                      conf.api.max_request_body_size,
                      group="oslo_middleware")
    inner = http_proxy_to_wsgi.HTTPProxyToWSGI(inner, conf)
    inner = errors.JsonErrors(inner, {413: (
        f"the request body is larger than {conf.api.max_request_body_size} "
        "bytes ([api] max_request_body_size)")})
    return request_id.RequestId(inner)


def load_conf(config_files=None):
    conf = cfg.ConfigOpts()
    opts.register(conf)
    return config.load_config(config_files, conf=conf)


def build_service(conf, pool):
    """The ProtectionService the API calls: plugins, bank and database
    from ``conf``.

    With ``[jobboard] address``, its operations are posted for the
    conductors, each acting with a Keystone trust the API makes from the
    caller's token (:mod:`.delegation`): ``[trustee]`` must then be
    usable (else a ConfigError naming it: the API does not start) and
    the persistence database shared. Without one they run in ``pool``,
    in this process, with the caller's token in memory (plan runs do so
    in either case)."""
    service = ProtectionService(conf, PluginRegistry.load(conf),
                                bank_mod.load(conf), executor=pool)
    if jobboard.configured(conf):
        service.trusts.check_configured()
        config.shared_persistence_url(conf)
        service.poster = jobboard.Poster(conf, service.stores)
    return service


def make_app(conf, service=None, connect=connection.connect,
             auth=keystone_auth, pool=None):
    """The whole WSGI application for ``conf``."""
    pool = pool or workers.WorkerPool(conf.api.operation_workers,
                                      conf.api.max_queued_operations)
    service = service or build_service(conf, pool)
    return pipeline(conf, app_mod.Application(conf, service, connect,
                                              pool=pool), auth)


class LazyApplication:
    """Built at the first request, so that importing this module (a WSGI
    server's first step) reads no configuration yet."""

    def __init__(self):
        self._app = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    files = [f for f in os.environ.get(
                        CONFIG_FILES_ENV, "").split(":") if f]
                    self._app = make_app(load_conf(files or None))
        return self._app(environ, start_response)


application = LazyApplication()
