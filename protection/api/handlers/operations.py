"""``/v1/operations``: what protects, restores, deletes and verifies
did or are doing, and aborting an interrupted one."""

from protection.api import errors
from protection.api import views
from protection.api.policies import operations as rules
from protection.operations import store as ops

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
    op = _visible(request, operation_id)
    request.caller.authorize(rules.ABORT, op.project_id)
    if op.status in ops.FINAL:
        raise errors.Conflict(f"operation {op.id} has already ended "
                              f"({op.status})")
    if op.owner_alive():
        raise errors.Conflict(f"operation {op.id} is still running: only "
                              "an interrupted operation can be aborted")
    request.require_room()
    conn = request.connection()
    submitted = request.pool.submit(
        op, lambda: request.service.abort(op.id, lambda _cloud: conn,
                                          request.caller.tenancy))
    return 202, {"operation_id": submitted.operation_id}, {
        "Location": f"{request.host_url}/v1/operations/{op.id}"}
