"""``[trustee]``: the user conductors act as with a trust.

keystoneauth's own options (``auth_type``, ``auth_url``, ``username``,
``password``, ``user_domain_name``...: any keystoneauth plugin that a
trust can scope, ``password`` by default in the sample) and session
options (``cafile``, ``insecure``, ``timeout``...), registered the way
keystoneauth documents it (as Heat does for its own ``[trustee]``), and
stackvault's ``trust_lifetime`` and ``region_name``. Leave the
project options unset: a token of the trustee is scoped by the trust.
"""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = "trustee"
DEFAULT_LIFETIME = 86400          # seconds: one day
MIN_LIFETIME = 600
MAX_LIFETIME = 7 * 86400

trust_opts = [
    cfg.IntOpt("trust_lifetime", default=DEFAULT_LIFETIME,
               min=MIN_LIFETIME, max=MAX_LIFETIME,
               help="Seconds a trust made for an operation posted by the "
                    "API is valid (its expires_at). It must cover the "
                    "time the operation waits in the jobboard and runs, "
                    "resumes included: a trust that expires mid-run fails "
                    "the operation. The trust is deleted as soon as the "
                    "operation ends, so the lifetime only bounds a trust "
                    "whose deletion failed. Default one day; 10 minutes "
                    "to 7 days."),
    cfg.StrOpt("region_name",
               help="Region of the cloud a conductor acts in with a trust "
                    "(where the trust-scoped token's catalog has several)."),
]


def register(conf):
    """Register ``[trustee]`` on ``conf``: keystoneauth's plugin choice
    and session options, and :data:`trust_opts`. The chosen plugin's own
    options are registered when it is loaded."""
    conf.register_opts(trust_opts, group=GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)
    ks_loading.register_session_conf_options(conf, GROUP)


def list_opts():
    """``[(group, opts)]`` for oslo-config-generator: with the
    ``password`` plugin's options, the usual trustee."""
    listed = {}
    for opt in (trust_opts + ks_loading.get_auth_common_conf_options()
                + ks_loading.get_auth_plugin_conf_options("password")
                + ks_loading.get_session_conf_options()):
        listed.setdefault(opt.dest, opt)
    return [(GROUP, list(listed.values()))]
