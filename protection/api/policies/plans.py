"""Rules of ``/v1/plans``: a project's plans and running one now."""

from protection.api.policies import base

LIST = base.name("plan", "list")
LIST_ALL_PROJECTS = base.name("plan", "list", "all_projects")
SHOW = base.name("plan", "show")
CREATE = base.name("plan", "create")
UPDATE = base.name("plan", "update")
DELETE = base.name("plan", "delete")
RUN = base.name("plan", "run")


def list_rules():
    rule = base.api_rule
    path = "/v1/plans/{plan_id}"
    return [
        rule(LIST, base.ADMIN_OR_PROJECT_READER, "List the project's plans.",
             "GET", "/v1/plans"),
        rule(LIST_ALL_PROJECTS, base.ADMIN,
             "List every project's plans (?all_projects=true), also those "
             "of the embedded CLI.", "GET", "/v1/plans"),
        rule(SHOW, base.ADMIN_OR_PROJECT_READER, "Show a plan.", "GET", path),
        rule(CREATE, base.ADMIN_OR_PROJECT_MEMBER,
             "Create a plan in the caller's project.", "POST", "/v1/plans"),
        rule(UPDATE, base.ADMIN_OR_PROJECT_MEMBER, "Change a plan.",
             "PATCH", path),
        rule(DELETE, base.ADMIN_OR_PROJECT_MEMBER,
             "Delete a plan (its checkpoints stay).", "DELETE", path),
        rule(RUN, base.ADMIN_OR_PROJECT_MEMBER,
             "Run a plan now with the caller's token.", "POST",
             f"{path}/run"),
    ]
