"""What every config writer needs: paths, URLs, credentials, environment.

devcloud is for tests and demos on one machine, bound to 127.0.0.1: the
passwords below are fixed on purpose (they appear in clouds.yaml anyway).
"""

import os

from . import ports
from .ports import HOST, PORTS, REGION

ADMIN_PASSWORD = "devcloud-admin"
SERVICE_PASSWORD = "devcloud-service"
USER_PASSWORD = "devcloud-user"
RABBIT_USER = "devcloud"
RABBIT_PASSWORD = "devcloud-rabbit"
DB_USER = "devcloud"
DB_PASSWORD = "devcloud-db"
HEAT_DOMAIN_ADMIN = "heat_domain_admin"

KEYSTONE_URL = ports.url("keystone", "/v3")
NFS_SHARE_HOST = HOST


class Ctx:
    def __init__(self, layout, db):
        self.layout = layout
        self.db = db  # a database backend (db.py)

    @property
    def transport_url(self):
        return "rabbit://%s:%s@%s:%d/" % (
            RABBIT_USER,
            RABBIT_PASSWORD,
            HOST,
            PORTS["rabbitmq"],
        )

    @property
    def nfs_share(self):
        return "%s:%s" % (NFS_SHARE_HOST, self.layout.nfs_export)

    def env(self):
        """Environment of every service process."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OS_", "PYTHON", "VIRTUAL_ENV"))
        }
        env["PATH"] = ":".join(
            [
                str(self.layout.bin),
                str(self.layout.venv / "bin"),
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
        )
        env["PYTHONPATH"] = _tools_dir()
        env["PYTHONUNBUFFERED"] = "1"
        env["LC_ALL"] = "C.UTF-8"
        return env


def _tools_dir():
    from . import paths

    return str(paths.TOOLS_DIR)


def authtoken(service):
    """[keystone_authtoken] for an API service."""
    return {
        "www_authenticate_uri": ports.url("keystone"),
        "auth_url": ports.url("keystone"),
        "auth_type": "password",
        "username": service,
        "password": SERVICE_PASSWORD,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": REGION,
        "service_token_roles_required": True,
        "memcached_servers": None,
    }


def service_auth(username="nova", **extra):
    """A keystoneauth password section (for [nova], [placement], ...)."""
    d = {
        "auth_type": "password",
        "auth_url": ports.url("keystone"),
        "username": username,
        "password": SERVICE_PASSWORD,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": REGION,
    }
    d.update(extra)
    return d
