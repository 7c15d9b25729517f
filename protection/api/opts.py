"""``[api]``: options of the protection API (``stackvault-api``).

Registered by :func:`register` when the API starts; listed for
``oslo-config-generator`` under the namespace ``stackvault.api``.
"""

from oslo_config import cfg

from protection.api import DEFAULT_PORT
from protection.auth import opts as auth_opts

GROUP = "api"

api_opts = [
    cfg.HostAddressOpt("host", default="0.0.0.0",
                       help="Address the standalone stackvault-api listens "
                            "on (a WSGI server such as uWSGI or gunicorn "
                            "has its own)."),
    cfg.PortOpt("port", default=DEFAULT_PORT,
                help="Port of the standalone stackvault-api."),
    cfg.IntOpt("max_request_body_size", default=114688, min=1024,
               help="Largest request body accepted, in bytes: larger is "
                    "refused with 413 before it is read "
                    "(oslo.middleware's sizelimit)."),
    cfg.IntOpt("operation_workers", default=4, min=1, max=64,
               help="Without a jobboard ([jobboard] address unset), the "
                    "API process runs protects, restores, deletes and "
                    "verifies itself, this many at a time. Not for a WSGI "
                    "server that recycles its workers: configure a "
                    "jobboard and conductors there."),
    cfg.IntOpt("max_queued_operations", default=64, min=0,
               help="Operations accepted beyond operation_workers, waiting "
                    "for a worker; more are refused with 503."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="Largest page a list request may ask for (limit)."),
    cfg.IntOpt("default_limit", default=100, min=1,
               help="Page size of a list request without limit."),
    cfg.StrOpt("region_name",
               help="Region of the cloud the API's operations act on, "
                    "where the caller's token's catalog has several."),
]


def register(conf):
    conf.register_opts(api_opts, group=GROUP)


def list_opts():
    """For oslo-config-generator (namespace ``stackvault.api``): ``[api]``
    and ``[trustee]``, which the API needs with a jobboard."""
    return [(GROUP, api_opts)] + auth_opts.list_opts()
