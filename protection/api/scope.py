"""Who is calling, what policy lets them do, and which projects' objects
they see.

A caller sees its own project's objects; an admin (``context_is_admin``)
sees every project's, and the objects written before projects were
recorded (no project). An object the caller does not see is *not found*
(404), whatever the route: its existence is not disclosed. Policy is
checked only on what the caller sees, against the object's project
(403 when its role is not enough: a reader deleting its own project's
checkpoint).
"""

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_policy import policy

from protection.api import errors
from protection.api import policies
from protection.checkpoint import store as checkpoint_store


def make_enforcer(conf):
    """An oslo.policy Enforcer with the defaults in code; the policy file
    (``[oslo_policy] policy_file``) overrides them."""
    enforcer = policy.Enforcer(conf)
    enforcer.register_defaults(policies.list_rules())
    return enforcer


class Caller:
    """The identity keystonemiddleware put in the request, and its
    rights."""

    def __init__(self, environ, enforcer):
        self.context = oslo_context.RequestContext.from_environ(environ)
        self._enforcer = enforcer
        self._is_admin = None

    @property
    def is_admin(self):
        """``context_is_admin``, checked when first needed: a request on
        its own project's objects never needs it, and each policy check
        costs (oslo.policy looks for its files at every check)."""
        if self._is_admin is None:
            self._is_admin = self.allowed("context_is_admin", None)
        return self._is_admin

    @property
    def project_id(self):
        return self.context.project_id

    @property
    def user_id(self):
        return self.context.user_id

    @property
    def tenancy(self):
        """What operations and checkpoints it starts record as owner."""
        return checkpoint_store.Tenancy(self.project_id, self.user_id)

    def allowed(self, rule, project_id):
        return self._enforcer.authorize(
            rule, {"project_id": project_id}, self.context, do_raise=False)

    def authorize(self, rule, project_id):
        """Raise Forbidden unless ``rule`` allows the caller to act on an
        object of ``project_id``."""
        if not self.allowed(rule, project_id):
            raise errors.Forbidden(f"policy does not allow {rule}")

    def sees(self, project_id):
        if project_id is not None and project_id == self.project_id:
            return True
        return self.is_admin

    def require_visible(self, project_id, not_found_message):
        if not self.sees(project_id):
            raise errors.NotFound(not_found_message)

    def list_filter(self, rule, all_projects_rule, all_projects):
        """The project a list is filtered to (``None``: every project,
        for an admin who asked with ``all_projects``)."""
        self.authorize(rule, self.project_id)
        if all_projects:
            self.authorize(all_projects_rule, self.project_id)
            return None
        return self.project_id


def enforcer_for_generator():
    """The Enforcer ``oslopolicy-policy-generator`` and
    ``oslopolicy-list-redundant`` read (entry point
    ``oslo.policy.enforcer``), on oslo.config's global options."""
    return make_enforcer(cfg.CONF)
