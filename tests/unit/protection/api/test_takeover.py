"""An operation the API process could not finish (stopped, or killed)
is ``interrupted``; through the API a member of its project resumes it
(with their token) or aborts it, in the background."""

import time

import pytest

from protection.api import workers
from tests.fakes import api as fake_api

PROTECT = {"name": "app", "resources": [{"type": "Test::Server",
                                         "id": "web"}]}


def _status(api, operation_id, persona="member"):
    return api.call("GET", f"/v1/operations/{operation_id}",
                    persona).json["operation"]["status"]


@pytest.fixture
def interrupted(tmp_path):
    """A protect stopped mid-flight (the API process's SIGTERM), then an
    API process on the same bank and database: ``(api, operation id)``."""
    pool = workers.WorkerPool(1, 0)
    first = fake_api.Api(tmp_path / "bank", pool=pool)
    first.clouds["proj-a"].slow["web"] = 1.0
    resp = first.call("POST", "/v1/checkpoints", "member", PROTECT)
    operation_id = resp.json["operation_id"]
    deadline = time.monotonic() + 20
    while _status(first, operation_id) == "queued" and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    first.service.runner.stop()
    pool.shutdown(wait=True)
    assert _status(first, operation_id) == "interrupted"
    again = fake_api.Api(tmp_path / "bank")
    again.clouds = first.clouds
    return again, operation_id


def test_resume_finishes_it_with_the_callers_token(interrupted):
    api, operation_id = interrupted
    resp = api.call("POST", f"/v1/operations/{operation_id}/resume",
                    "member")
    assert resp.status_code == 202, resp.text
    assert _status(api, operation_id) == "succeeded"
    shown = api.call("GET", f"/v1/operations/{operation_id}").json
    checkpoint = shown["operation"]["checkpoint_id"]
    assert api.call("GET", f"/v1/checkpoints/{checkpoint}").json[
        "checkpoint"]["status"] == "available"


def test_an_admin_of_another_project_may_not_resume_it(interrupted):
    api, operation_id = interrupted
    resp = api.call("POST", f"/v1/operations/{operation_id}/resume",
                    "admin")
    assert resp.status_code == 409
    assert "token of that project" in resp.json["error"]["message"]
    assert _status(api, operation_id) == "interrupted"


def test_abort_undoes_it(interrupted):
    api, operation_id = interrupted
    resp = api.call("POST", f"/v1/operations/{operation_id}/abort",
                    "member")
    assert resp.status_code == 202, resp.text
    assert _status(api, operation_id) == "aborted"
