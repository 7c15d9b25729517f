"""Whatever fails, the caller gets the JSON error with the request id,
never a traceback or another layer's HTML."""

import webob

from protection.api import errors
from protection.api import wsgi
from tests.fakes import api as fake_api


def _pipeline(app):
    return wsgi.pipeline(fake_api.api_conf(), app,
                         auth=lambda inner, conf: inner)


def test_an_exception_below_is_a_json_500():
    def broken(environ, start_response):
        raise RuntimeError("secret detail")
    resp = webob.Request.blank("/v1/x").get_response(_pipeline(broken))
    assert resp.status_code == 500
    error = resp.json["error"]
    assert error["message"] == "internal error"
    assert "secret" not in resp.text
    assert error["request_id"] == resp.headers["x-openstack-request-id"]


def test_another_layers_html_error_becomes_json():
    def html(environ, start_response):
        return webob.Response(status=503, body=b"<html>down</html>",
                              content_type="text/html")(environ,
                                                        start_response)
    resp = webob.Request.blank("/v1/x").get_response(_pipeline(html))
    assert resp.status_code == 503
    assert resp.json["error"]["title"] == "Service Unavailable"


def test_an_unexpected_error_in_a_handler_is_a_json_500(tmp_path,
                                                       monkeypatch):
    api = fake_api.Api(tmp_path / "bank")
    monkeypatch.setattr(api.service, "checkpoint_page",
                        lambda *args: 1 / 0)
    resp = api.call("GET", "/v1/checkpoints", "reader")
    assert resp.status_code == 500
    assert resp.json["error"]["message"] == "internal error"


def test_stackvault_errors_map_to_their_status():
    from protection import exceptions
    assert errors.from_exception(
        exceptions.CheckpointNotFound("x")).status == 404
    assert errors.from_exception(
        exceptions.CheckpointNotAvailable("x", "error")).status == 409
    assert errors.from_exception(
        exceptions.InvalidParameter("t", "k", "bad")).status == 400
    hidden = errors.from_exception(exceptions.ConfigError(
        "cannot open mysql://db.internal/stackvault"))
    assert hidden.status == 503 and "db.internal" not in hidden.message


def test_a_job_the_board_refused_is_503_to_try_again():
    """The jobboard went down after it was reached: a new operation's job
    (given up, nothing left queued) or a resume's or abort's (put back as
    it was) was not posted. Not the caller's mistake (not 400), nothing
    broken for good (not 500): 503 with Retry-After."""
    from protection import exceptions
    from protection.operations import jobboard
    for refused in (
            exceptions.JobNotPosted("operation op-1 was not started: the "
                                    "redis jobboard refused the job"),
            jobboard.NotPosted(None, "the redis jobboard refused the job")):
        error = errors.from_exception(refused)
        assert error.status == 503
        assert error.headers == {"Retry-After": errors.RETRY_AFTER}
        assert "refused the job" in error.message
