"""The API's policy defaults, in code (oslo.policy).

Keystone's default roles as the secure-RBAC personas; each project
reader, member or manager acts on its own project's objects, an admin on
every project's:

=================  =========================================================
reader             list and show resources, checkpoints and operations
member             protect, restore, delete and verify checkpoints, abort
                   operations, create, change, delete and run plans (and
                   everything a reader does)
manager            a project's own administrator: adopt checkpoints written
                   before projects were recorded into the project
admin              all of it in every project; lists every project's with
                   ``?all_projects=true``
=================  =========================================================

Keystone's implied roles (admin -> manager -> member -> reader) are in
the token, so each rule names the least role it needs. An operator
overrides any rule in a policy file (``[oslo_policy] policy_file``);
``oslopolicy-sample-generator --namespace stackvault`` writes the sample.
"""

import itertools

from protection.api.policies import base
from protection.api.policies import checkpoints
from protection.api.policies import operations
from protection.api.policies import plans
from protection.api.policies import resources


def list_rules():
    """Every default rule (entry point ``oslo.policy.policies``)."""
    return list(itertools.chain(base.list_rules(), resources.list_rules(),
                                checkpoints.list_rules(),
                                operations.list_rules(),
                                plans.list_rules()))
