"""``/v1/plans``: a plan belongs to its caller's project, runs only on
request with the caller's token (no schedule until deferred auth), and
its run protects into that project and applies its retention."""

import pytest
import sqlalchemy as sa

from protection import exceptions
from protection.operations import jobboard
from protection.operations import store as ops
from protection.plans import store as plans
from tests.fakes import api as fake_api
from tests.fakes.jobboard import Board

PLAN = {"name": "nightly", "keep": 1,
        "resources": [{"type": "Test::Network", "id": "net"}]}


@pytest.fixture
def api(tmp_path):
    return fake_api.Api(tmp_path / "bank")


def _create(api, body=PLAN, persona="member"):
    resp = api.call("POST", "/v1/plans", persona, body)
    assert resp.status_code == 201, resp.text
    return resp.json["plan"]


def test_a_plan_is_the_callers_projects_and_named_as_asked(api):
    plan = _create(api)
    assert (plan["name"], plan["project_id"], plan["user_id"]) == \
        ("nightly", "proj-a", "user-member-a")
    assert plan["id"] != "nightly" and plan["schedule"] is None
    assert "cloud" not in plan
    # Another project may have its own "nightly": names are not ids.
    assert _create(api, persona="other")["id"] != plan["id"]
    listed = api.call("GET", "/v1/plans", "reader").json["plans"]
    assert [p["id"] for p in listed] == [plan["id"]]


def test_a_schedule_is_refused_until_deferred_auth(api):
    resp = api.call("POST", "/v1/plans", "member",
                    dict(PLAN, schedule="0 3 * * *"))
    assert resp.status_code == 400
    assert "deferred auth" in resp.json["error"]["message"]


@pytest.mark.parametrize("body,words", [
    (dict(PLAN, keep=0), "keep"),
    (dict(PLAN, resources=[{"type": "No::Such", "id": "x"}]), "No::Such"),
    (dict(PLAN, cloud="devcloud"), "cloud"),
])
def test_wrong_settings_are_400_naming_them(api, body, words):
    resp = api.call("POST", "/v1/plans", "member", body)
    assert resp.status_code in (400, 404), resp.text
    assert words in resp.json["error"]["message"]


def test_update_changes_only_what_is_given(api):
    plan = _create(api)
    resp = api.call("PATCH", f"/v1/plans/{plan['id']}", "member",
                    {"name": "weekly", "keep_days": 7.5})
    assert resp.status_code == 200, resp.text
    changed = resp.json["plan"]
    assert (changed["name"], changed["keep"], changed["keep_days"]) == \
        ("weekly", 1, 7.5)
    assert changed["resources"] == plan["resources"]


def test_a_run_protects_into_the_plan_and_applies_its_retention(api):
    plan = _create(api)
    for _ in range(2):
        resp = api.call("POST", f"/v1/plans/{plan['id']}/run", "member")
        assert resp.status_code == 202, resp.text
    shown = api.call("GET", f"/v1/plans/{plan['id']}").json["plan"]
    assert shown["last_status"] == "succeeded", shown
    checkpoints = api.call("GET", "/v1/checkpoints").json["checkpoints"]
    # keep=1: the first run's checkpoint was deleted by the second's.
    assert [c["id"] for c in checkpoints] == [shown["last_checkpoint"]]
    (checkpoint,) = checkpoints
    assert (checkpoint["name"], checkpoint["project_id"],
            checkpoint["plan_id"]) == ("nightly", "proj-a", plan["id"])


def test_the_cli_refuses_to_run_a_plan_made_through_the_api(api):
    from protection.cli import plan as cli_plan
    plan_id = _create(api)["id"]
    made = api.service.stores.plans.get(plan_id)
    with pytest.raises(plans.InvalidPlan, match="POST /v1/plans"):
        cli_plan._runnable(made)


def test_an_older_plans_table_gets_the_owner_columns(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE stackvault_plans (name VARCHAR(255) PRIMARY KEY, "
            "resources TEXT NOT NULL, parameters TEXT NOT NULL, schedule "
            "VARCHAR(255), keep INTEGER, keep_days FLOAT, cloud "
            "VARCHAR(255), next_run BIGINT, last_run FLOAT, last_status "
            "VARCHAR(16), last_checkpoint VARCHAR(64), last_error TEXT, "
            "created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)"))
        conn.execute(sa.text(
            "INSERT INTO stackvault_plans VALUES ('old', '[[\"T\", \"x\"]]', "
            "'{}', NULL, NULL, NULL, 'devcloud', NULL, NULL, NULL, NULL, "
            "NULL, 1, 1)"))
    store = plans.PlanStore(engine)
    old = store.get("old")
    assert (old.project_id, old.title, old.display_name) == \
        (None, None, "old")
    assert store.list("proj-a") == []


def test_a_plan_deleted_meanwhile_is_404_not_400():
    from protection.api import errors
    error = errors.from_exception(plans.PlanNotFound("4b52"))
    assert error.status == 404


class RecordingPool(fake_api.InlinePool):
    """The inline pool, remembering what it was handed."""

    def __init__(self):
        super().__init__()
        self.handed = []

    def submit(self, operation, run):
        self.handed.append(operation.kind)
        return super().submit(operation, run)


def test_without_a_jobboard_a_run_goes_to_the_pool(tmp_path):
    api = fake_api.Api(tmp_path / "bank", pool=RecordingPool())
    plan = _create(api)
    resp = api.call("POST", f"/v1/plans/{plan['id']}/run", "member")
    assert resp.status_code == 202, resp.text
    assert api.pool.handed == ["plan run"]
    assert api.trusts.made == []
    assert _shown(api, plan)["last_status"] == "succeeded"


def _shown(api, plan):
    return api.call("GET", f"/v1/plans/{plan['id']}").json["plan"]


def test_with_a_jobboard_a_run_is_posted_with_a_trust(tmp_path):
    board = Board()
    api = fake_api.Api(tmp_path / "bank", pool=RecordingPool(), board=board)
    plan = _create(api)
    resp = api.call("POST", f"/v1/plans/{plan['id']}/run", "member")
    assert resp.status_code == 202, resp.text
    assert resp.json["plan"]["last_status"] == "running"
    assert api.pool.handed == []
    [job] = board.jobs
    op = api.service.operation(job.details["operation_id"])
    [(trust_id, user, project, _roles)] = api.trusts.made
    assert (user, project) == ("user-member-a", "proj-a")
    assert trust_id in api.trusts.live
    assert (op.kind, op.status, op.args["trust_id"]) == (
        "protect", ops.QUEUED, trust_id)
    assert op.args["follow_up"]["plan"] == plan["id"]
    checkpoint = api.service.show_checkpoint(op.checkpoint)
    assert (checkpoint.project_id, checkpoint.index["plan_id"]) == (
        "proj-a", plan["id"])


def test_a_board_that_is_down_is_503_no_trust_and_no_plan_change(
        tmp_path, monkeypatch):
    api = fake_api.Api(tmp_path / "bank", board=Board())
    plan = _create(api)
    api.service.poster._board = None

    def unreachable(*_args):
        raise exceptions.OperationError("cannot reach the redis jobboard")
    monkeypatch.setattr(jobboard, "connect", unreachable)
    resp = api.call("POST", f"/v1/plans/{plan['id']}/run", "member")
    assert resp.status_code == 503
    assert "cannot reach" in resp.json["error"]["message"]
    assert api.trusts.made == [] and api.service.list_operations() == []
    assert _shown(api, plan) == plan


def test_a_posted_run_whose_resource_is_gone_fails_the_plan_at_once(
        tmp_path):
    board = Board()
    api = fake_api.Api(tmp_path / "bank", board=board)
    plan = _create(api, dict(PLAN, resources=[{"type": "Test::Network",
                                               "id": "no-such-net"}]))
    resp = api.call("POST", f"/v1/plans/{plan['id']}/run", "member")
    assert resp.status_code == 404, resp.text
    assert "no-such-net" in resp.json["error"]["message"]
    shown = _shown(api, plan)
    assert shown["last_status"] == "failed"
    assert "no-such-net" in shown["last_error"]
    assert board.jobs == [] and not api.trusts.live
