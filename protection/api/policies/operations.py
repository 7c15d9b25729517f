"""Rules of ``/v1/operations``."""

from protection.api.policies import base

LIST = base.name("operation", "list")
LIST_ALL_PROJECTS = base.name("operation", "list", "all_projects")
SHOW = base.name("operation", "show")
ABORT = base.name("operation", "abort")
RESUME = base.name("operation", "resume")


def list_rules():
    rule = base.api_rule
    return [
        rule(LIST, base.ADMIN_OR_PROJECT_READER,
             "List the project's operations.", "GET", "/v1/operations"),
        rule(LIST_ALL_PROJECTS, base.ADMIN,
             "List every project's operations (?all_projects=true).",
             "GET", "/v1/operations"),
        rule(SHOW, base.ADMIN_OR_PROJECT_READER, "Show an operation.",
             "GET", "/v1/operations/{operation_id}"),
        rule(ABORT, base.ADMIN_OR_PROJECT_MEMBER,
             "Abort an interrupted operation: undo what it created.",
             "POST", "/v1/operations/{operation_id}/abort"),
        rule(RESUME, base.ADMIN_OR_PROJECT_MEMBER,
             "Resume an interrupted operation with the caller's token (of "
             "the operation's project).",
             "POST", "/v1/operations/{operation_id}/resume"),
    ]
