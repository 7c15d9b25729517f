"""Glance: the file store under the state directory."""

from .. import ini, ports
from ..context import authtoken
from . import config_args, copy_paste_ini, gunicorn

CATALOG = [("glance", "image", ports.url("glance"))]


def configure(ctx):
    etc = ctx.layout.etc_for("glance")
    data = ctx.layout.data_for("glance")
    for d in ("images", "staging", "tasks"):
        (data / d).mkdir(parents=True, exist_ok=True)
    copy_paste_ini(
        ctx, "glance", "glance-api-paste.ini", etc / "glance-api-paste.ini"
    )
    ini.write(
        etc / "glance-api.conf",
        {
            "DEFAULT": {
                "debug": False,
                "enabled_backends": "fs:file",
                "bind_host": ports.HOST,
                "bind_port": ports.PORTS["glance"],
                "image_cache_dir": data / "cache",
                "worker_self_reference_url": ports.url("glance"),
            },
            "database": {"connection": ctx.db.url("glance")},
            "glance_store": {"default_backend": "fs"},
            "fs": {"filesystem_store_datadir": data / "images"},
            "os_glance_staging_store": {
                "filesystem_store_datadir": data / "staging"
            },
            "os_glance_tasks_store": {
                "filesystem_store_datadir": data / "tasks"
            },
            "keystone_authtoken": authtoken("glance"),
            "paste_deploy": {"flavor": "keystone"},
            "oslo_messaging_notifications": {"driver": "noop"},
            "oslo_concurrency": {"lock_path": data / "locks"},
        },
    )


def db_sync(ctx):
    etc = ctx.layout.etc_for("glance")
    return [
        [
            ctx.layout.vbin("glance-manage"),
            "--config-file",
            etc / "glance-api.conf",
            "db_sync",
        ]
    ]


def procs(ctx):
    etc = ctx.layout.etc_for("glance")
    return [
        gunicorn(
            ctx,
            "glance",
            "glance",
            {
                "OS_GLANCE_CONFIG_DIR": str(etc),
                "DEVCLOUD_WSGI_ARGV": config_args(etc / "glance-api.conf"),
            },
        )
    ]
