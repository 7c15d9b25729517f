"""``/v1/restores``: restore a checkpoint into the caller's project (the
connection is the caller's token's), or say what a restore would do."""

from protection.api import delegation
from protection.api.handlers import checkpoints
from protection.api.policies import checkpoints as rules


def _refs(items):
    return [(item["type"], item["id"]) for item in items or ()]


def create_restore(request):
    body = request.body
    checkpoint = checkpoints.visible_checkpoint(request,
                                                body["checkpoint_id"])
    request.caller.authorize(rules.RESTORE, checkpoint.project_id)
    service = request.service
    if body.get("dry_run"):
        report = service.dry_run(
            checkpoint.id, request.connection(), body.get("parameters"),
            only=_refs(body.get("only")), exclude=_refs(body.get("exclude")))
        return 200, {"dry_run": report.to_dict()}
    result = delegation.start(request, lambda trust: service.restore(
        checkpoint.id, request.connection(), body.get("parameters"),
        policy=body.get("on_failure", "rollback"),
        only=_refs(body.get("only")), exclude=_refs(body.get("exclude")),
        tenancy=request.caller.tenancy, trust=trust))
    return checkpoints.started(request, result)
