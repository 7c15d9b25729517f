"""Placement."""

from .. import ini, ports
from ..context import authtoken
from . import gunicorn

CATALOG = [("placement", "placement", ports.url("placement"))]


def configure(ctx):
    ini.write(
        ctx.layout.etc_for("placement") / "placement.conf",
        {
            "DEFAULT": {"debug": False},
            "placement_database": {"connection": ctx.db.url("placement")},
            "api": {"auth_strategy": "keystone"},
            "keystone_authtoken": authtoken("placement"),
        },
    )


def db_sync(ctx):
    return [
        [
            ctx.layout.vbin("placement-manage"),
            "--config-file",
            ctx.layout.etc_for("placement") / "placement.conf",
            "db",
            "sync",
        ]
    ]


def procs(ctx):
    return [
        gunicorn(
            ctx,
            "placement",
            "placement",
            {
                "OS_PLACEMENT_CONFIG_DIR": str(
                    ctx.layout.etc_for("placement")
                ),
                "DEVCLOUD_WSGI_ARGV": "",
            },
        )
    ]
