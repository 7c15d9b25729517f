"""``/v1/checkpoints``: protect, list, show, delete and verify."""

from protection.api import delegation
from protection.api import errors
from protection.api import views
from protection.api.policies import checkpoints as rules
from protection.checkpoint import catalog
from protection.checkpoint.store import Tenancy
from protection.model.report import OperationResult

FILTERS = ("status", "plan_id", "name")


def visible_checkpoint(request, checkpoint_id):
    """The checkpoint, if the caller sees it; else 404 (the same answer
    as for one that does not exist)."""
    checkpoint = request.service.show_checkpoint(checkpoint_id)
    request.caller.require_visible(
        checkpoint.project_id, f"checkpoint {checkpoint_id} does not exist")
    return checkpoint


def started(request, result):
    """202 with the operation an action started, or 200 with the result
    of one that ended at once (a delete with nothing to run)."""
    if isinstance(result, OperationResult):
        return 200, {"operation_id": result.operation_id,
                     "result": result.to_dict()}
    operation = request.service.operation(result.operation_id)
    return 202, {"operation_id": operation.id,
                 "operation": views.operation(operation)}, {
        "Location": f"{request.host_url}/v1/operations/"
                    f"{result.operation_id}"}


def create_checkpoint(request):
    caller = request.caller
    caller.authorize(rules.CREATE, caller.project_id)
    body = request.body
    result = delegation.start(request, lambda trust: request.service.protect(
        request.connection(), body["name"],
        [(r["type"], r["id"]) for r in body["resources"]],
        body.get("parameters"), tenancy=caller.tenancy, trust=trust))
    operation = request.service.operation(result.operation_id)
    checkpoint = request.service.show_checkpoint(operation.checkpoint)
    return 202, {"checkpoint": views.checkpoint_summary(checkpoint),
                 "operation_id": operation.id}, {
        "Location": f"{request.host_url}/v1/checkpoints/{checkpoint.id}"}


def list_checkpoints(request):
    """One page from the checkpoint catalog (its cost is the page's, not
    the bank's); ``show`` reads the bank."""
    caller, query = request.caller, request.query
    project = caller.list_filter(rules.LIST, rules.LIST_ALL_PROJECTS,
                                 query.get("all_projects", False))
    key, _, direction = query.get("sort", "created_at").partition(":")
    limit = views.page_limit(query, request.conf)
    try:
        found, more = request.service.checkpoint_page(
            project, {name: query[name] for name in FILTERS if name in query},
            key, direction == "desc", limit, query.get("marker"))
    except catalog.MarkerNotFound:
        raise errors.BadRequest(f"marker {query['marker']} is not in this "
                                "list") from None
    following = views.next_link(
        query, found[-1]["id"], limit,
        f"{request.host_url}/v1/checkpoints") if more else None
    return 200, {"checkpoints": found, "next": following}


def show_checkpoint(request, checkpoint_id):
    checkpoint = visible_checkpoint(request, checkpoint_id)
    request.caller.authorize(rules.SHOW, checkpoint.project_id)
    return 200, {"checkpoint": views.checkpoint_detail(checkpoint)}


def delete_checkpoint(request, checkpoint_id):
    checkpoint = visible_checkpoint(request, checkpoint_id)
    request.caller.authorize(rules.DELETE, checkpoint.project_id)
    result = delegation.start(request, lambda trust: request.service.delete(
        checkpoint.id, request.connection(),
        force=request.query.get("force", False),
        tenancy=request.caller.tenancy, trust=trust))
    return started(request, result)


def verify_checkpoint(request, checkpoint_id):
    checkpoint = visible_checkpoint(request, checkpoint_id)
    request.caller.authorize(rules.VERIFY, checkpoint.project_id)
    result = delegation.start(request, lambda trust: request.service.verify(
        checkpoint.id, request.connection(), tenancy=request.caller.tenancy,
        trust=trust))
    return started(request, result)


def adopt_checkpoint(request, checkpoint_id):
    """Give a checkpoint written before projects were recorded to the
    caller's project (an admin: to ``project_id``). Such a checkpoint is
    visible here to whoever may adopt (a project manager); one that
    already has a project is 409 to those who see it."""
    caller = request.caller
    checkpoint = request.service.show_checkpoint(checkpoint_id)
    project = request.body.get("project_id", caller.project_id)
    if checkpoint.project_id is None and \
            caller.allowed(rules.ADOPT, caller.project_id):
        if project != caller.project_id:
            caller.authorize(rules.ADOPT, project)
    else:
        checkpoint = visible_checkpoint(request, checkpoint_id)
        caller.authorize(rules.ADOPT, checkpoint.project_id)
    adopted = request.service.adopt_checkpoint(
        checkpoint.id, Tenancy(project, caller.user_id))
    return 200, {"checkpoint": views.checkpoint_summary(adopted)}
