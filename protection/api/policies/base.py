"""The personas every rule is made of."""

from oslo_policy import policy

PREFIX = "stackvault"
ADMIN = "role:admin"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_MANAGER = "role:manager and project_id:%(project_id)s"
ADMIN_OR_PROJECT_READER = "rule:context_is_admin or rule:project_reader"
ADMIN_OR_PROJECT_MEMBER = "rule:context_is_admin or rule:project_member"
ADMIN_OR_PROJECT_MANAGER = "rule:context_is_admin or rule:project_manager"

SCOPE = ["project"]


def name(*parts):
    return ":".join((PREFIX,) + parts)


def api_rule(rule_name, check_str, description, method, path):
    """One documented rule of one route."""
    return policy.DocumentedRuleDefault(
        name=rule_name, check_str=check_str, description=description,
        operations=[{"method": method, "path": path}], scope_types=SCOPE)


def list_rules():
    return [
        policy.RuleDefault("context_is_admin", ADMIN,
                           description="Acts on every project's objects."),
        policy.RuleDefault("project_reader", PROJECT_READER,
                           description="A reader of the object's project."),
        policy.RuleDefault("project_member", PROJECT_MEMBER,
                           description="A member of the object's project."),
        policy.RuleDefault("project_manager", PROJECT_MANAGER,
                           description="A manager of the object's "
                                       "project."),
    ]
