"""The route table of ``/v1``: method, path, handler, request schemas
and answers. The application dispatches from it and the OpenAPI
document (:mod:`.openapi`) is made from it, so the two cannot differ.
"""

import dataclasses
import re
import typing

from protection.api import errors
from protection.api import schemas
from protection.api.handlers import checkpoints
from protection.api.handlers import operations
from protection.api.handlers import plans
from protection.api.handlers import resources
from protection.api.handlers import restores
from protection.api.handlers import versions

_PARAM = re.compile(r"\{(\w+)\}")


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: typing.Callable
    summary: str
    responses: tuple = (200,)
    body: typing.Optional[dict] = None
    query: typing.Optional[dict] = None

    @property
    def params(self):
        return _PARAM.findall(self.path)

    @property
    def pattern(self):
        """The path as a regex: each ``{name}`` one path segment."""
        pieces = _PARAM.split(self.path)    # literal, name, literal, ...
        regex = "".join(re.escape(piece) if i % 2 == 0
                        else f"(?P<{piece}>[^/]+)"
                        for i, piece in enumerate(pieces))
        return re.compile(f"^{regex}/?$")


ROUTES = (
    Route("GET", "/v1", versions.show_v1, "The v1 version document."),
    Route("GET", "/v1/openapi.json", versions.openapi_document,
          "This API as an OpenAPI 3 document."),
    Route("GET", "/v1/resources", resources.list_resources,
          "Resources the caller's project can protect.",
          query=schemas.RESOURCE_LIST_QUERY),
    Route("GET", "/v1/resources/{resource_type}/{resource_id}",
          resources.show_resource, "A resource and its dependency tree.",
          (200, 404)),
    Route("POST", "/v1/checkpoints", checkpoints.create_checkpoint,
          "Protect resources into a new checkpoint.", (202, 400, 404),
          body=schemas.PROTECT),
    Route("GET", "/v1/checkpoints", checkpoints.list_checkpoints,
          "The project's checkpoints, a page at a time.",
          query=schemas.CHECKPOINT_LIST_QUERY),
    Route("GET", "/v1/checkpoints/{checkpoint_id}",
          checkpoints.show_checkpoint, "A checkpoint.", (200, 404)),
    Route("DELETE", "/v1/checkpoints/{checkpoint_id}",
          checkpoints.delete_checkpoint,
          "Delete a checkpoint and what it stored.", (202, 200, 404, 409),
          query=schemas.DELETE_QUERY),
    Route("POST", "/v1/checkpoints/{checkpoint_id}/verify",
          checkpoints.verify_checkpoint, "Verify a checkpoint.",
          (202, 404, 409)),
    Route("POST", "/v1/checkpoints/{checkpoint_id}/adopt",
          checkpoints.adopt_checkpoint,
          "Give a checkpoint written before projects were recorded to "
          "the caller's project.", (200, 404, 409), body=schemas.ADOPT),
    Route("POST", "/v1/restores", restores.create_restore,
          "Restore a checkpoint into the caller's project (dry_run: "
          "only say what would be done).", (202, 200, 400, 404, 409),
          body=schemas.RESTORE),
    Route("GET", "/v1/operations", operations.list_operations,
          "The project's operations, a page at a time.",
          query=schemas.OPERATION_LIST_QUERY),
    Route("GET", "/v1/operations/{operation_id}",
          operations.show_operation, "An operation.", (200, 404)),
    Route("POST", "/v1/operations/{operation_id}/abort",
          operations.abort_operation,
          "Undo an interrupted operation.", (202, 404, 409)),
    Route("POST", "/v1/operations/{operation_id}/resume",
          operations.resume_operation,
          "Finish an interrupted operation with the caller's token.",
          (202, 404, 409)),
    Route("GET", "/v1/plans", plans.list_plans,
          "The project's plans, a page at a time.",
          query=schemas.PLAN_LIST_QUERY),
    Route("POST", "/v1/plans", plans.create_plan,
          "Create a plan in the caller's project (run on request only: "
          "schedule must be null).", (201, 400), body=schemas.PLAN_CREATE),
    Route("GET", "/v1/plans/{plan_id}", plans.show_plan, "A plan.",
          (200, 404)),
    Route("PATCH", "/v1/plans/{plan_id}", plans.update_plan,
          "Change a plan's name, resources, parameters or retention.",
          (200, 400, 404), body=schemas.PLAN_UPDATE),
    Route("DELETE", "/v1/plans/{plan_id}", plans.delete_plan,
          "Delete a plan (its checkpoints stay).", (204, 404)),
    Route("POST", "/v1/plans/{plan_id}/run", plans.run_plan,
          "Run a plan now, with the caller's token, in the background.",
          (202, 404, 409)),
)


def match(method, path):
    """The Route for ``method`` on ``path`` and its path parameters;
    404 when no route has the path, 405 (with ``Allow``) when none has
    the method."""
    allowed = []
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict()
        allowed.append(route.method)
    if allowed:
        raise errors.MethodNotAllowed(
            f"{method} is not allowed on {path} (allowed: "
            f"{', '.join(sorted(set(allowed)))})",
            headers={"Allow": ", ".join(sorted(set(allowed)))})
    raise errors.NotFound(f"no such resource: {path}")
