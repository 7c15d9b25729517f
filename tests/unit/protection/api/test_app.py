"""The API's conventions: version discovery, microversions, JSON errors
with the request id, validation, paging, lists scoped to the project,
and operations that answer at once and run in the background."""

import time

import pytest

from protection.api import microversion
from protection.api import workers
from tests.fakes import api as fake_api

PROTECT = {"name": "app", "resources": [{"type": "Test::Network",
                                         "id": "net"}]}
HEADER = "OpenStack-API-Version"


@pytest.fixture
def api(tmp_path):
    return fake_api.Api(tmp_path / "bank")


def _error(resp):
    error = resp.json["error"]
    assert error["request_id"] == resp.headers["x-openstack-request-id"]
    assert set(error) == {"code", "title", "message", "request_id"}
    assert error["code"] == resp.status_code
    return error["message"]


# -- versions and microversions ------------------------------------------
def test_root_is_version_discovery_without_a_token(api):
    resp = api.call("GET", "/", persona=None)
    assert resp.status_code == 200
    (v1,) = resp.json["versions"]
    assert (v1["id"], v1["status"], v1["min_version"],
            v1["max_version"]) == ("v1.0", "CURRENT", "1.0", "1.0")
    assert v1["links"][0]["href"] == "http://localhost/v1/"
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert resp.content_type == "application/json"


def test_everything_under_v1_needs_a_token(api):
    resp = api.call("GET", "/v1/checkpoints", persona=None)
    assert resp.status_code == 401
    assert "WWW-Authenticate" in resp.headers
    assert _error(resp) == "Authentication required"


@pytest.mark.parametrize("asked,status,served", [
    (None, 200, "1.0"),
    ("data-protection 1.0", 200, "1.0"),
    ("data-protection latest", 200, "1.0"),
    ("compute 2.90, data-protection 1.0", 200, "1.0"),
    ("compute 2.90", 200, "1.0"),
    ("data-protection 1.1", 406, "1.0"),
    ("data-protection 2.0", 406, "1.0"),
    ("data-protection 0.9", 406, "1.0"),
    ("data-protection one", 400, "1.0"),
])
def test_microversion_negotiation(api, asked, status, served):
    headers = {HEADER: asked} if asked else {}
    resp = api.call("GET", "/v1/checkpoints", headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers[HEADER] == f"data-protection {served}"
    assert HEADER in resp.headers["Vary"]


def test_versions_order_as_numbers():
    assert microversion.Version.parse("1.10") > \
        microversion.Version.parse("1.9")


# -- errors -------------------------------------------------------------------
def test_unknown_route_is_404_and_wrong_method_405(api):
    assert api.call("GET", "/v1/nothing").status_code == 404
    resp = api.call("PUT", "/v1/checkpoints")
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, POST"
    assert "PUT is not allowed" in _error(resp)


def test_an_unknown_body_field_is_400_naming_it(api):
    resp = api.call("POST", "/v1/checkpoints",
                    body=dict(PROTECT, nmae="typo"))
    assert resp.status_code == 400
    assert "'nmae' was unexpected" in _error(resp)


def test_a_bad_type_is_400_naming_the_field(api):
    body = {"name": "app", "resources": [{"type": 5, "id": "net"}]}
    resp = api.call("POST", "/v1/checkpoints", body=body)
    assert resp.status_code == 400
    assert "field 'resources/0/type'" in _error(resp)


@pytest.mark.parametrize("query,words", [
    ("limit=ten", "'limit': 'ten' is not an integer"),
    ("limit=0", "field 'limit'"),
    ("colour=red", "unknown query parameter 'colour'"),
    ("sort=size", "field 'sort'"),
    ("all_projects=maybe", "not true or false"),
])
def test_a_bad_query_is_400_naming_the_parameter(api, query, words):
    resp = api.call("GET", f"/v1/checkpoints?{query}")
    assert resp.status_code == 400
    assert words in _error(resp)


def test_a_body_that_is_not_json_is_400(api):
    resp = api.call("POST", "/v1/restores", body=b"{not json")
    assert resp.status_code == 400
    assert "not valid JSON" in _error(resp)


def test_a_body_over_the_limit_is_413_as_json(tmp_path):
    api = fake_api.Api(tmp_path / "bank", max_request_body_size=2048)
    resp = api.call("POST", "/v1/checkpoints",
                    body=dict(PROTECT, name="x" * 4096))
    assert resp.status_code == 413
    assert "larger than 2048 bytes" in _error(resp)


def test_a_service_error_keeps_its_message(api):
    body = {"name": "app", "resources": [{"type": "Test::Network",
                                          "id": "nope"}]}
    resp = api.call("POST", "/v1/checkpoints", body=body)
    assert resp.status_code == 404
    assert "nope" in _error(resp)


# -- lists: tenancy and paging ------------------------------------------------
def _ids(resp, key="checkpoints"):
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json[key]]


def test_lists_show_the_callers_project_only(api):
    _op_a, mine = api.protect("proj-a")
    _op_b, theirs = api.protect("proj-b")
    _op_l, legacy = api.protect(None)
    assert _ids(api.call("GET", "/v1/checkpoints", "reader")) == [mine]
    assert _ids(api.call("GET", "/v1/checkpoints", "other")) == [theirs]
    assert _ids(api.call("GET", "/v1/checkpoints", "admin")) == []
    everything = api.call("GET", "/v1/checkpoints?all_projects=true",
                          "admin")
    assert sorted(_ids(everything)) == sorted([mine, theirs, legacy])
    ops = api.call("GET", "/v1/operations", "member")
    assert [o["checkpoint_id"] for o in ops.json["operations"]] == [mine]


def test_all_projects_is_for_admins_only(api):
    resp = api.call("GET", "/v1/checkpoints?all_projects=true", "member")
    assert resp.status_code == 403
    assert "checkpoint:list:all_projects" in _error(resp)


def test_checkpoints_come_a_page_at_a_time(api):
    for _ in range(5):
        api.protect("proj-a")
    # created_at has whole seconds: ties are in id order
    made = _ids(api.call("GET", "/v1/checkpoints"))
    assert len(made) == 5
    first = api.call("GET", "/v1/checkpoints?limit=2")
    assert _ids(first) == made[:2]
    second = api.call("GET", first.json["next"].replace(
        "http://localhost", ""))
    assert _ids(second) == made[2:4]
    last = api.call("GET", second.json["next"].replace(
        "http://localhost", ""))
    assert _ids(last) == made[4:] and last.json["next"] is None
    newest = api.call("GET", "/v1/checkpoints?sort=created_at:desc&limit=1")
    assert _ids(newest) == made[-1:]


def test_checkpoints_filter_by_status_and_name(api):
    _op, made = api.protect("proj-a")
    assert _ids(api.call("GET", "/v1/checkpoints?status=available")) == \
        [made]
    assert _ids(api.call("GET", "/v1/checkpoints?status=error")) == []
    assert _ids(api.call("GET", "/v1/checkpoints?name=app")) == [made]


def test_a_marker_of_another_project_is_400(api):
    _op, theirs = api.protect("proj-b")
    resp = api.call("GET", f"/v1/checkpoints?marker={theirs}")
    assert resp.status_code == 400


# -- what the routes answer ---------------------------------------------
def test_protect_records_the_callers_project_and_user(api):
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 202
    checkpoint = resp.json["checkpoint"]
    assert checkpoint["project_id"] == "proj-a"
    op = api.service.operation(resp.json["operation_id"])
    assert (op.project_id, op.user_id) == ("proj-a", "user-member-a")
    found = api.service.show_checkpoint(checkpoint["id"])
    assert found.index["user_id"] == "user-member-a"
    shown = api.call("GET", f"/v1/checkpoints/{checkpoint['id']}")
    assert shown.json["checkpoint"]["user_id"] == "user-member-a"


def test_a_restore_lands_in_the_callers_project(api):
    _op, theirs = api.protect("proj-b")
    before = set(api.clouds["proj-admin"].created())
    resp = api.call("POST", "/v1/restores", "admin",
                    {"checkpoint_id": theirs})
    assert resp.status_code == 202
    assert set(api.clouds["proj-admin"].created()) - before
    assert not api.clouds["proj-b"].created()
    op = api.service.operation(resp.json["operation_id"])
    assert (op.kind, op.project_id) == ("restore", "proj-admin")


def test_a_dry_run_restore_answers_with_the_plan(api):
    _op, mine = api.protect("proj-a")
    resp = api.call("POST", "/v1/restores", "member",
                    {"checkpoint_id": mine, "dry_run": True})
    assert resp.status_code == 200
    report = resp.json["dry_run"]
    assert report["ok"] and report["plan"][0]["parallel"] == \
        ["Test::Network#net"]
    assert not api.clouds["proj-a"].created()


def test_show_resource_gives_its_dependency_tree(api):
    resp = api.call("GET", "/v1/resources/Test::Server/web", "reader")
    assert resp.status_code == 200
    tree = {(r["type"], r["id"]) for r in resp.json["tree"]}
    assert ("Test::Image", "img") in tree
    assert api.call("GET", "/v1/resources?type=Test::Server").json[
        "resources"][0]["type"] == "Test::Server"


def test_operations_run_in_the_background(tmp_path):
    pool = workers.WorkerPool(2, 0)
    api = fake_api.Api(tmp_path / "bank", pool=pool)
    api.clouds["proj-a"].slow["net"] = 0.5
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 202
    assert resp.json["checkpoint"]["status"] == "protecting"
    location = resp.headers["Location"].replace("http://localhost", "")
    operation = f"/v1/operations/{resp.json['operation_id']}"
    assert api.call("GET", operation).json["operation"]["status"] == \
        "running"
    deadline = time.monotonic() + 20
    while pool.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.call("GET", operation).json["operation"]["status"] == \
        "succeeded"
    assert api.call("GET", location).json["checkpoint"]["status"] == \
        "available"
    pool.shutdown()


def test_a_full_pool_refuses_before_recording_anything(tmp_path):
    pool = workers.WorkerPool(1, 0)
    api = fake_api.Api(tmp_path / "bank", pool=pool)
    api.clouds["proj-a"].slow["net"] = 1.0
    assert api.call("POST", "/v1/checkpoints", "member",
                    PROTECT).status_code == 202
    resp = api.call("POST", "/v1/checkpoints", "member", PROTECT)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "30"
    assert len(api.service.list_operations()) == 1
    pool.shutdown()


def test_an_adopted_checkpoint_joins_the_project(api):
    _op, legacy = api.protect(None)
    assert api.call("GET", f"/v1/checkpoints/{legacy}",
                    "reader").status_code == 404
    resp = api.call("POST", f"/v1/checkpoints/{legacy}/adopt", "manager")
    assert resp.status_code == 200
    assert resp.json["checkpoint"]["project_id"] == "proj-a"
    assert api.call("GET", f"/v1/checkpoints/{legacy}",
                    "reader").status_code == 200
    assert api.call("GET", f"/v1/checkpoints/{legacy}",
                    "other").status_code == 404
    index = api.service.show_checkpoint(legacy).index
    assert (index["format_version"], index["user_id"]) == \
        (2, "user-manager-a")


def test_an_admin_adopts_into_a_named_project_a_manager_only_its_own(api):
    _op, legacy = api.protect(None)
    body = {"project_id": "proj-b"}
    assert api.call("POST", f"/v1/checkpoints/{legacy}/adopt", "manager",
                    body).status_code == 403
    resp = api.call("POST", f"/v1/checkpoints/{legacy}/adopt", "admin", body)
    assert resp.json["checkpoint"]["project_id"] == "proj-b"
    assert _ids(api.call("GET", "/v1/checkpoints", "other")) == [legacy]


def test_a_started_operation_is_answered_with_the_operation(api):
    _op, mine = api.protect("proj-a")
    resp = api.call("POST", "/v1/restores", "member",
                    {"checkpoint_id": mine, "on_failure": "keep"})
    assert resp.status_code == 202
    operation = resp.json["operation"]
    assert operation["id"] == resp.json["operation_id"]
    assert (operation["kind"], operation["checkpoint_id"]) == \
        ("restore", mine)
    assert resp.headers["Location"].endswith(
        f"/v1/operations/{operation['id']}")


def test_an_operation_shows_its_progress_per_resource(tmp_path):
    pool = workers.WorkerPool(1, 0)
    api = fake_api.Api(tmp_path / "bank", pool=pool)
    api.clouds["proj-a"].slow["web"] = 1.5
    resp = api.call("POST", "/v1/checkpoints", "member", {
        "name": "app", "resources": [{"type": "Test::Server", "id": "web"}]})
    path = f"/v1/operations/{resp.json['operation_id']}"
    deadline = time.monotonic() + 20
    progress = {}
    while time.monotonic() < deadline:
        # Until the slow server runs after its image: its first steps
        # may be seen running before the image's have started.
        progress = api.call("GET", path).json["operation"]["progress"]
        if progress.get("Test::Server#web", {}).get("state") == "running" \
                and progress.get("Test::Image#img", {}).get("state") in (
                    "running", "done"):
            break
        time.sleep(0.05)
    assert progress["Test::Server#web"]["state"] == "running"
    assert progress["Test::Image#img"]["state"] in ("running", "done")
    pool.shutdown()
    progress = api.call("GET", path).json["operation"]["progress"]
    assert {p["state"] for p in progress.values()} == {"done"}
    assert all(p["steps_done"] == p["steps"] for p in progress.values())
