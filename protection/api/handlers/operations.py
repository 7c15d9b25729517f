"""``/v1/operations``: what protects, restores, deletes and verifies
did or are doing, and resuming or aborting an interrupted one (an API
process that died leaves its operations ``interrupted``)."""

from protection.api import delegation
from protection.api import errors
from protection.api import views
from protection.api.policies import operations as rules
from protection.operations import store as ops
from protection.service import running

FILTERS = ("status", "kind", "checkpoint_id")


def _visible(request, operation_id):
    op = request.service.operation(operation_id)
    request.caller.require_visible(
        op.project_id, f"operation {operation_id} does not exist")
    return op


def list_operations(request):
    project = request.caller.list_filter(
        rules.LIST, rules.LIST_ALL_PROJECTS,
        request.query.get("all_projects", False))
    found = [views.operation(op)
             for op in request.service.list_operations(project)]
    shown = views.page(found, request.query, FILTERS,
                       f"{request.host_url}/v1/operations", request.conf)
    return 200, {"operations": shown["items"], "next": shown["next"]}


def show_operation(request, operation_id):
    op = _visible(request, operation_id)
    request.caller.authorize(rules.SHOW, op.project_id)
    shown = views.operation(op)
    shown["progress"] = request.service.operation_progress(op.id)
    return 200, {"operation": shown}


def abort_operation(request, operation_id):
    """Undo an interrupted operation, in the background (202); one that
    ended or whose process still runs it is 409."""
    return _take_over(
        request, operation_id, rules.ABORT,
        lambda op_id, connect: request.service.abort(
            op_id, connect, request.caller.tenancy))   # audited: who


def resume_operation(request, operation_id):
    """Finish an interrupted operation (skipping what it finished) with
    the caller's token, in the background (202): what a restore still
    creates lands in the token's project, so the token must be of the
    operation's project (else 409, also for an admin)."""
    op = _visible(request, operation_id)
    if op.project_id != request.caller.project_id:
        request.caller.authorize(rules.RESUME, op.project_id)
        raise errors.Conflict(
            f"operation {op.id} belongs to project {op.project_id}: resume "
            "it with a token of that project (it acts with the caller's "
            "token)")
    return _take_over(request, operation_id, rules.RESUME,
                      request.service.resume)


def _take_over(request, operation_id, rule, action):
    """Run ``action(id, connect)`` (the service's abort or resume) on an
    interrupted operation with the caller's token, in the pool; with a
    jobboard, post it for a conductor (:func:`.delegation.post_again`)."""
    op = _visible(request, operation_id)
    request.caller.authorize(rule, op.project_id)
    given_up = rule == rules.ABORT and running.was_given_up(op)
    if op.status in ops.FINAL and not given_up:     # given up: undo it
        raise errors.Conflict(f"operation {op.id} has already ended "
                              f"({op.status})")
    if op.owner_alive() or op.status == ops.QUEUED:
        raise errors.Conflict(f"operation {op.id} is still running: only "
                              "an interrupted operation can be taken over")
    if delegation.posting(request):
        # A conductor takes it over, acting with its trust.
        return delegation.post_again(request, op, rule == rules.ABORT)
    request.require_room()
    conn = request.connection()
    submitted = request.pool.submit(
        op, lambda: action(op.id, lambda _cloud: conn))
    return 202, {"operation_id": submitted.operation_id}, {
        "Location": f"{request.host_url}/v1/operations/{op.id}"}
