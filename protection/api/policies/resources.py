"""Rules of ``/v1/resources``: what the caller's project can protect."""

from protection.api.policies import base

LIST = base.name("resource", "list")
SHOW = base.name("resource", "show")


def list_rules():
    return [
        base.api_rule(LIST, base.ADMIN_OR_PROJECT_READER,
                      "List the resources the project can protect.",
                      "GET", "/v1/resources"),
        base.api_rule(SHOW, base.ADMIN_OR_PROJECT_READER,
                      "Show a resource and its dependency tree.",
                      "GET", "/v1/resources/{type}/{id}"),
    ]
