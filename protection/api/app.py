"""The application behind the middleware: routing, microversions,
request validation and JSON answers.

``/`` (version discovery) needs no token; every other path reaches here
through keystonemiddleware (:mod:`.wsgi`), whose headers make the
:class:`~protection.api.scope.Caller`.
"""

import logging

import webob
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.api import errors
from protection.api import microversion
from protection.api import routes
from protection.api import schemas
from protection.api import scope
from protection.api.handlers import versions

LOG = logging.getLogger(__name__)


class ApiRequest:
    """One request as a handler sees it."""

    def __init__(self, app, request, route, version):
        self.webob = request
        self.app = app
        self.version = version
        self.conf = app.conf
        self.service = app.service
        self.pool = app.pool
        self.host_url = request.host_url
        self.query = schemas.query(request, route.query)
        self.body = schemas.body(request, route.body) \
            if route.body is not None else None
        self._caller = None
        self._conn = None

    @property
    def caller(self):
        if self._caller is None:
            self._caller = scope.Caller(self.webob.environ, self.app.enforcer)
        return self._caller

    def connection(self):
        """A cloud connection acting with the caller's token."""
        if self._conn is None:
            self._conn = self.app.connect(self.webob.environ, self.conf)
        return self._conn

    def require_room(self):
        """503 before anything is recorded when the pool is full."""
        if self.pool is not None:
            self.pool.require_room()


def _json(status, body, headers=None):
    resp = webob.Response(status=status, content_type="application/json",
                          charset="utf-8")
    if body is not None:
        resp.json_body = body
    resp.headers.update(headers or {})
    return resp


def _cloud_error(exc):
    """An error of the cloud the request acted on."""
    if isinstance(exc, sdk_exceptions.NotFoundException):
        return errors.NotFound(str(exc))
    if isinstance(exc, (ks_exceptions.Unauthorized,
                        sdk_exceptions.ForbiddenException)):
        return errors.Forbidden(f"the cloud refused the caller's token: "
                                f"{exc}")
    error = errors.ApiError(f"the cloud failed the request: {exc}")
    error.status = 502
    return error


class Application:
    """The WSGI application (without middleware)."""

    def __init__(self, conf, service, connect, enforcer=None, pool=None):
        self.conf = conf
        self.service = service
        self.connect = connect
        self.enforcer = enforcer or scope.make_enforcer(conf)
        self.pool = pool

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request):
        """The response to ``request``: version discovery at ``/``, else
        the route's handler's answer with the microversion it was served
        at, or the JSON error of whatever went wrong."""
        if request.path_info in ("", "/"):
            if request.method != "GET":
                return self._error(request, errors.MethodNotAllowed(
                    f"{request.method} is not allowed on /",
                    headers={"Allow": "GET"}), None)
            return _json(*versions.root(request))
        version = None
        try:
            version = microversion.negotiate(
                request.headers.get(microversion.HEADER))
            route, params = routes.match(request.method, request.path_info)
            answer = route.handler(ApiRequest(self, request, route,
                                              version), **params)
        except Exception as exc:   # noqa: BLE001 - every error is JSON
            return self._error(request, self._api_error(exc), version)
        status, body, *extra = answer      # extra: [headers] or []
        headers = extra[0] if extra else {}
        return _json(status, body,
                     {**headers, **microversion.headers(version)})

    def _api_error(self, exc):
        if isinstance(exc, errors.ApiError):
            return exc
        if isinstance(exc, exceptions.StackvaultError):
            return errors.from_exception(exc)
        if isinstance(exc, (sdk_exceptions.SDKException,
                            ks_exceptions.ClientException)):
            return _cloud_error(exc)
        LOG.exception("unexpected error")
        return errors.ApiError("internal error")

    def _error(self, request, error, version):
        headers = dict(error.headers)
        headers.update(microversion.headers(
            version or microversion.MIN_VERSION))
        if error.status >= 500:
            LOG.warning("%s %s: %s", request.method, request.path,
                        error.message)
        return errors.response(error.status, error.message,
                               request.environ.get(errors.REQUEST_ID),
                               headers)
