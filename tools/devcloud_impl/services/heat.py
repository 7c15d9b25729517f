"""Heat: api and one engine worker; its stack domain ``heat`` (identity.py)."""

from .. import ini, ports
from ..context import (
    HEAT_DOMAIN_ADMIN,
    SERVICE_PASSWORD,
    authtoken,
)
from . import copy_paste_ini, gunicorn

CATALOG = [("heat", "orchestration", ports.url("heat", "/v1/%(project_id)s"))]


def conf_path(ctx):
    return ctx.layout.etc_for("heat") / "heat.conf"


def configure(ctx):
    etc = ctx.layout.etc_for("heat")
    data = ctx.layout.data_for("heat")
    (data / "lock").mkdir(parents=True, exist_ok=True)
    copy_paste_ini(ctx, "heat", "api-paste.ini", etc / "api-paste.ini")
    ini.write(
        conf_path(ctx),
        {
            "DEFAULT": {
                "debug": False,
                "graceful_shutdown_timeout": 5,
                "transport_url": ctx.transport_url,
                "host": "devcloud",
                "num_engine_workers": 1,
                "region_name_for_services": ports.REGION,
                "heat_metadata_server_url": ports.url("heat"),
                "heat_waitcondition_server_url": ports.url(
                    "heat", "/v1/waitcondition"
                ),
                "stack_domain_admin": HEAT_DOMAIN_ADMIN,
                "stack_domain_admin_password": SERVICE_PASSWORD,
                "stack_user_domain_name": "heat",
                "environment_dir": ctx.layout.venv
                / "etc"
                / "heat"
                / "environment.d",
                "template_dir": ctx.layout.venv / "etc" / "heat" / "templates",
                "convergence_engine": True,
            },
            "database": {"connection": ctx.db.url("heat")},
            "keystone_authtoken": authtoken("heat"),
            "trustee": {
                "auth_type": "password",
                "auth_url": ports.url("keystone"),
                "username": "heat",
                "password": SERVICE_PASSWORD,
                "user_domain_name": "Default",
            },
            "clients_keystone": {"auth_uri": ports.url("keystone")},
            "clients": {"endpoint_type": "publicURL"},
            "heat_api": {"workers": 1, "bind_host": ports.HOST},
            "paste_deploy": {"api_paste_config": etc / "api-paste.ini"},
            "oslo_concurrency": {"lock_path": data / "lock"},
            "oslo_messaging_notifications": {"driver": "noop"},
            "ec2authtoken": {"auth_uri": ports.url("keystone", "/v3")},
        },
    )


def db_sync(ctx):
    return [
        [
            ctx.layout.vbin("heat-manage"),
            "--config-file",
            conf_path(ctx),
            "db_sync",
        ]
    ]


def procs(ctx):
    from .. import procs as p

    conf = ["--config-file", str(conf_path(ctx))]
    return [
        gunicorn(ctx, "heat", "heat", {"DEVCLOUD_WSGI_ARGV": " ".join(conf)}),
        p.Proc("heat-engine", [ctx.layout.vbin("heat-engine")] + conf),
    ]
