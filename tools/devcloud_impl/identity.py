"""Keystone content: projects, users, roles, the service catalog.

Runs once per state directory, right after Keystone answers and before any
other service starts (nova-conductor and nova-scheduler exit at start if
their placement credentials fail).  Every step is find-or-create, so a rerun
after an interruption is harmless.
"""

import openstack

from . import ports
from .context import (
    ADMIN_PASSWORD,
    HEAT_DOMAIN_ADMIN,
    KEYSTONE_URL,
    SERVICE_PASSWORD,
    USER_PASSWORD,
)
from .services import ALL_CATALOG

SERVICE_USERS = [
    "glance",
    "placement",
    "neutron",
    "nova",
    "cinder",
    "heat",
    "swift",
]
# (user, project, roles): the clouds devcloud, devcloud-alt (devcloud-admin is
# keystone-manage bootstrap's admin).
PROJECT_USERS = [
    ("demo", "demo", ["member", "reader", "heat_stack_owner"]),
    ("alt", "alt", ["member", "reader", "heat_stack_owner"]),
]
EXTRA_ROLES = [
    "service",
    "heat_stack_owner",
    "heat_stack_user",
    "ResellerAdmin",
]


def admin_connection():
    return openstack.connect(
        auth_url=KEYSTONE_URL,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=ports.REGION,
        identity_api_version="3",
        interface="public",
        load_yaml_config=False,
        load_envvars=False,
    )


def _project(conn, name, domain_id="default"):
    return conn.identity.find_project(
        name, domain_id=domain_id
    ) or conn.identity.create_project(
        name=name, domain_id=domain_id, description="devcloud"
    )


def _role(conn, name):
    return conn.identity.find_role(name) or conn.identity.create_role(
        name=name
    )


def _user(conn, name, password, domain_id="default", project=None):
    user = conn.identity.find_user(name, domain_id=domain_id)
    if user:
        return user
    kw = {"default_project_id": project.id} if project else {}
    return conn.identity.create_user(
        name=name, password=password, domain_id=domain_id, **kw
    )


def _grant(conn, project, user, role):
    if not conn.identity.validate_user_has_project_role(project, user, role):
        conn.identity.assign_project_role_to_user(project, user, role)


def catalog_entry(conn, name, stype, url):
    """The service ``name`` of type ``stype`` with its three endpoints at
    ``url`` (find-or-create)."""
    svc = conn.identity.find_service(name)
    if svc is None or svc.type != stype:
        svc = conn.identity.create_service(
            name=name, type=stype, description="devcloud " + name
        )
    have = {e.interface for e in conn.identity.endpoints(service_id=svc.id)}
    for interface in ("public", "internal", "admin"):
        if interface not in have:
            conn.identity.create_endpoint(
                service_id=svc.id,
                interface=interface,
                url=url,
                region_id=ports.REGION,
            )


def project_user(conn, user, password, project, role):
    """``user`` (find-or-create) with ``role`` on ``project``."""
    project = _project(conn, project)
    found = _user(conn, user, password, project=project)
    _grant(conn, project, found, _role(conn, role))
    return found


def _catalog(conn):
    for name, stype, url in ALL_CATALOG:
        catalog_entry(conn, name, stype, url)


def setup():
    conn = admin_connection()
    roles = {
        r: _role(conn, r) for r in ["admin", "member", "reader"] + EXTRA_ROLES
    }
    service = _project(conn, "service")
    for name in SERVICE_USERS:
        user = _user(conn, name, SERVICE_PASSWORD, project=service)
        for r in ("admin", "service"):
            _grant(conn, service, user, roles[r])
    for uname, pname, rnames in PROJECT_USERS:
        project = _project(conn, pname)
        user = _user(conn, uname, USER_PASSWORD, project=project)
        for r in rnames:
            _grant(conn, project, user, roles[r])
    # Heat's stack user domain and its admin
    domain = conn.identity.find_domain("heat") or conn.identity.create_domain(
        name="heat", description="devcloud: Heat stack users"
    )
    hadmin = _user(
        conn, HEAT_DOMAIN_ADMIN, SERVICE_PASSWORD, domain_id=domain.id
    )
    if not conn.identity.validate_user_has_domain_role(
        domain, hadmin, roles["admin"]
    ):
        conn.identity.assign_domain_role_to_user(
            domain, hadmin, roles["admin"]
        )
    _catalog(conn)
    conn.close()
