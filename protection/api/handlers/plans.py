"""``/v1/plans``: a project's plans, and running one now.

A plan made through the API belongs to its caller's project (another
project's plan is 404, as for checkpoints). Its id is generated (its
``name`` is the caller's, free in every project); its checkpoints carry
that id as their ``plan_id``. It runs only when asked
(``POST /v1/plans/{plan_id}/run``), with the caller's credentials (a
Keystone trust a conductor uses and deletes, with a jobboard; the token,
in this process's pool, without): scheduled runs need a credential the
service may keep between runs, which waits for deferred auth, so
``schedule`` must be null; the API never takes a clouds.yaml name from a
caller.
"""

import copy
import dataclasses
import time
import uuid

from protection.api import delegation
from protection.api import errors
from protection.api import views
from protection.api.policies import plans as rules
from protection.plans import run as plan_run
from protection.plans import store as plans

FILTERS = ("name",)
NO_SCHEDULE = ("scheduled runs of plans made through the API wait for "
               "deferred auth: leave 'schedule' null and run the plan with "
               "POST /v1/plans/{plan_id}/run")


@dataclasses.dataclass(frozen=True)
class PlanJob:
    """A plan run as the worker pool names it."""

    id: str
    kind: str = "plan run"


def _visible(request, plan_id):
    try:
        plan = request.service.stores.plans.get(plan_id)
    except plans.PlanNotFound:
        plan = None
    if plan is None or not request.caller.sees(plan.project_id):
        raise errors.NotFound(f"plan {plan_id} does not exist")
    return plan


def _settings(request, body, current=None):
    """The plan's settings from ``body`` over ``current``'s, checked."""
    if body.get("schedule") is not None:
        raise errors.BadRequest(NO_SCHEDULE)
    settings = {k: getattr(current, k) for k in plans.SETTINGS} \
        if current else {"resources": [], "parameters": {}, "cloud": None,
                         "schedule": None, "keep": None, "keep_days": None}
    if "resources" in body:
        settings["resources"] = [[r["type"], r["id"]]
                                 for r in body["resources"]]
    for key in ("parameters", "keep", "keep_days"):
        if key in body:
            settings[key] = body[key] if key != "parameters" \
                else body[key] or {}
    plans.check_settings(request.service.registry, settings)
    return settings


def list_plans(request):
    project = request.caller.list_filter(
        rules.LIST, rules.LIST_ALL_PROJECTS,
        request.query.get("all_projects", False))
    found = [views.plan(p)
             for p in request.service.stores.plans.list(project)]
    shown = views.page(found, request.query, FILTERS,
                       f"{request.host_url}/v1/plans", request.conf)
    return 200, {"plans": shown["items"], "next": shown["next"]}


def create_plan(request):
    caller = request.caller
    caller.authorize(rules.CREATE, caller.project_id)
    settings = _settings(request, request.body)
    plan_id = str(uuid.uuid4())
    plan = request.service.stores.plans.create(
        plan_id, settings, None, owner={
            "project_id": caller.project_id, "user_id": caller.user_id,
            "title": request.body["name"]}, plan_id=plan_id)
    return 201, {"plan": views.plan(plan)}, {
        "Location": f"{request.host_url}/v1/plans/{plan.name}"}


def show_plan(request, plan_id):
    plan = _visible(request, plan_id)
    request.caller.authorize(rules.SHOW, plan.project_id)
    return 200, {"plan": views.plan(plan)}


def update_plan(request, plan_id):
    plan = _visible(request, plan_id)
    request.caller.authorize(rules.UPDATE, plan.project_id)
    changes = _settings(request, request.body, plan)
    if "name" in request.body:
        changes["title"] = request.body["name"]
    updated = request.service.stores.plans.update(plan.name, **changes)
    return 200, {"plan": views.plan(updated)}


def delete_plan(request, plan_id):
    plan = _visible(request, plan_id)
    request.caller.authorize(rules.DELETE, plan.project_id)
    request.service.stores.plans.delete(plan.name)
    return 204, None


def run_plan(request, plan_id):
    """Run the plan now in the background (202): protect its resources
    with the caller's credentials, then apply its retention. Its
    ``last_*`` fields say how it went (``last_status`` ``running``
    meanwhile). The token must be of the plan's project: what it creates
    and reads is the token's project's.

    With a jobboard the run is posted (:func:`protection.plans.run.post`
    through :func:`protection.api.delegation.start`): a conductor runs
    the protect and then the retention with one Keystone trust of the
    caller's. Without one, it runs in this process's worker pool with
    the caller's token."""
    plan = _visible(request, plan_id)
    caller = request.caller
    caller.authorize(rules.RUN, plan.project_id)
    if plan.project_id != caller.project_id:
        raise errors.Conflict(
            f"plan {plan.name} belongs to project {plan.project_id}: run it "
            "with a token of that project (it acts with the caller's "
            "credentials)")
    if delegation.posting(request):
        delegation.start(request, lambda trust: plan_run.post(
            request.service, request.connection(), plan, trust))
    else:
        _run_in_pool(request, plan)
    return 202, {"plan": views.plan(request.service.stores.plans.get(
        plan.name))}, {"Location": f"{request.host_url}/v1/plans/{plan.name}"}


def _run_in_pool(request, plan):
    """No jobboard: the run waits for its protect and then deletes what
    retention says, one after another in a worker of the pool, with the
    caller's token: a view of the service that runs its operations there
    instead of handing them to the pool again (same runner, stores and
    bank)."""
    request.require_room()
    conn = request.connection()
    inline = copy.copy(request.service)
    inline.executor = None
    inline.poster = None
    request.service.stores.plans.record_run(plan.name, time.time(),
                                            plan_run.RUNNING)
    request.pool.submit(PlanJob(plan.name), lambda: plan_run.run(
        inline, lambda _cloud: conn, plan))
