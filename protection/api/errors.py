"""Errors of the API, always as JSON::

    {"error": {"code": 404, "title": "Not Found",
               "message": "checkpoint 5f0c... does not exist",
               "request_id": "req-..."}}

:class:`ApiError` and its subclasses are raised by handlers;
:func:`from_exception` maps stackvault's own errors to a status;
:class:`JsonErrors` (a middleware) rewrites an error answered by
something else (keystonemiddleware's 401, oslo.middleware's 413, a 500)
into the same shape, with the request's id.
"""

import json
import logging

import webob
import webob.exc

from protection import exceptions
from protection.operations import store as ops
from protection.plans import store as plans

LOG = logging.getLogger(__name__)
REQUEST_ID = "openstack.request_id"


class ApiError(Exception):
    """An HTTP error with a message for the caller."""

    status = 500

    def __init__(self, message, headers=None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class NotAcceptable(ApiError):
    status = 406


class Conflict(ApiError):
    status = 409


class ServiceUnavailable(ApiError):
    status = 503


RETRY_AFTER = "30"      # seconds a 503 for a passing outage asks to wait


_MAPPED = (
    ((exceptions.CheckpointNotFound, ops.OperationNotFound,
      plans.PlanNotFound, exceptions.ResourceNotFound,
      exceptions.PluginNotFound), NotFound),
    ((exceptions.CheckpointNotAvailable, exceptions.CheckpointBusy,
      exceptions.CheckpointDamaged, exceptions.CheckpointCorrupt,
      exceptions.PreflightFailed, exceptions.OperationFailed,
      exceptions.CheckpointOfAnotherProject, ops.OperationBusy,
      ops.OwnershipLost), Conflict),
    ((exceptions.OperationError,), ApiError),
    ((exceptions.StackvaultError,), BadRequest),
)


def from_exception(exc):
    """The ApiError for one of stackvault's errors (its message kept,
    but for the service's own configuration, which is logged: it may
    name hosts and files a caller has no business knowing)."""
    if isinstance(exc, exceptions.ConfigError):
        LOG.error("configuration error: %s", exc)
        return ServiceUnavailable("the service is not configured right; "
                                  "its log says why")
    if isinstance(exc, exceptions.JobNotPosted):
        # The jobboard went down after it was reached: nothing was left
        # behind, and trying again later may work.
        return ServiceUnavailable(str(exc),
                                  headers={"Retry-After": RETRY_AFTER})
    for classes, error in _MAPPED:
        if isinstance(exc, classes):
            return error(str(exc))
    return ApiError("internal error")


def body(status, message, request_id):
    title = webob.exc.status_map[status].title \
        if status in webob.exc.status_map else "Error"
    return {"error": {"code": status, "title": title, "message": message,
                      "request_id": request_id}}


def response(status, message, request_id, headers=None):
    resp = webob.Response(status=status, json_body=body(
        status, message, request_id), charset="utf-8")
    resp.headers.update(headers or {})
    return resp


def _is_ours(resp):
    try:
        error = json.loads(resp.body).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and "request_id" in error


def _message_of(resp):
    """What the other layer said, as one short line."""
    try:
        error = json.loads(resp.body).get("error") or {}
        return str(error.get("message") or resp.status)
    except (ValueError, AttributeError):
        text = resp.text if resp.content_type.startswith("text/plain") \
            else ""
        line = " ".join(text.split())[:300]
        return line or resp.status


class JsonErrors:
    """Middleware: every error response leaves as our JSON error, and an
    exception escaping the layers below is a logged 500, not a
    traceback for the caller."""

    def __init__(self, app, messages=None):
        self.app = app
        # Our own words for statuses whose other layer says it badly
        # (oslo.middleware's 413 leaves a '%s' in its text).
        self.messages = messages or {}

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        try:
            resp = req.get_response(self.app)
        except Exception:   # noqa: BLE001 - the caller gets a JSON 500
            LOG.exception("unhandled error on %s %s", req.method, req.path)
            resp = response(500, "internal error",
                            environ.get(REQUEST_ID))
        if resp.status_code >= 400 and not _is_ours(resp):
            kept = {k: v for k, v in resp.headers.items()
                    if k.lower() in ("www-authenticate", "allow",
                                     "openstack-api-version", "vary",
                                     "retry-after")}
            message = self.messages.get(resp.status_code) or \
                _message_of(resp)
            resp = response(resp.status_code, message,
                            environ.get(REQUEST_ID), kept)
        return resp(environ, start_response)
