"""Rules of ``/v1/checkpoints`` and ``/v1/restores``."""

from protection.api.policies import base

LIST = base.name("checkpoint", "list")
LIST_ALL_PROJECTS = base.name("checkpoint", "list", "all_projects")
SHOW = base.name("checkpoint", "show")
CREATE = base.name("checkpoint", "create")
DELETE = base.name("checkpoint", "delete")
VERIFY = base.name("checkpoint", "verify")
ADOPT = base.name("checkpoint", "adopt")
RESTORE = base.name("restore", "create")


def list_rules():
    rule = base.api_rule
    return [
        rule(LIST, base.ADMIN_OR_PROJECT_READER,
             "List the project's checkpoints.", "GET", "/v1/checkpoints"),
        rule(LIST_ALL_PROJECTS, base.ADMIN,
             "List every project's checkpoints (?all_projects=true), also "
             "those written before projects were recorded.",
             "GET", "/v1/checkpoints"),
        rule(SHOW, base.ADMIN_OR_PROJECT_READER, "Show a checkpoint.",
             "GET", "/v1/checkpoints/{checkpoint_id}"),
        rule(CREATE, base.ADMIN_OR_PROJECT_MEMBER,
             "Protect resources into a new checkpoint.",
             "POST", "/v1/checkpoints"),
        rule(DELETE, base.ADMIN_OR_PROJECT_MEMBER,
             "Delete a checkpoint and what it stored.",
             "DELETE", "/v1/checkpoints/{checkpoint_id}"),
        rule(VERIFY, base.ADMIN_OR_PROJECT_MEMBER,
             "Verify a checkpoint's objects.",
             "POST", "/v1/checkpoints/{checkpoint_id}/verify"),
        rule(ADOPT, base.ADMIN_OR_PROJECT_MANAGER,
             "Adopt a checkpoint written before projects were recorded "
             "into the project.",
             "POST", "/v1/checkpoints/{checkpoint_id}/adopt"),
        rule(RESTORE, base.ADMIN_OR_PROJECT_MEMBER,
             "Restore a checkpoint into the caller's project (or try it: "
             "dry_run).", "POST", "/v1/restores"),
    ]
