"""Keystone: fernet tokens, in-process token cache, cheap password hashes."""

from .. import ini, ports
from ..context import ADMIN_PASSWORD
from . import config_args, gunicorn

CATALOG = []  # keystone-manage bootstrap registers the identity endpoint


def conf_path(ctx):
    return ctx.layout.etc_for("keystone") / "keystone.conf"


def configure(ctx):
    data = ctx.layout.data_for("keystone")
    for d in ("fernet-keys", "credential-keys"):
        (data / d).mkdir(parents=True, exist_ok=True)
    ini.write(
        conf_path(ctx),
        {
            "DEFAULT": {"debug": False},
            "database": {"connection": ctx.db.url("keystone")},
            "token": {"provider": "fernet"},
            "fernet_tokens": {"key_repository": data / "fernet-keys"},
            "fernet_receipts": {"key_repository": data / "fernet-keys"},
            "credential": {"key_repository": data / "credential-keys"},
            # token validation 250 ms -> 10 ms per call
            "cache": {"enabled": True, "backend": "dogpile.cache.memory"},
            # must be set before bootstrap hashes the first password
            "identity": {"password_hash_rounds": 4},
        },
    )


def db_sync(ctx):
    km = [ctx.layout.vbin("keystone-manage"), "--config-file", conf_path(ctx)]
    return [
        km + ["db_sync"],
        km
        + [
            "fernet_setup",
            "--keystone-user",
            "root",
            "--keystone-group",
            "root",
        ],
        km
        + [
            "credential_setup",
            "--keystone-user",
            "root",
            "--keystone-group",
            "root",
        ],
        km
        + [
            "bootstrap",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-admin-url",
            ports.url("keystone", "/v3"),
            "--bootstrap-internal-url",
            ports.url("keystone", "/v3"),
            "--bootstrap-public-url",
            ports.url("keystone", "/v3"),
            "--bootstrap-region-id",
            ports.REGION,
        ],
    ]


def procs(ctx):
    return [
        gunicorn(
            ctx,
            "keystone",
            "keystone",
            {
                "OS_KEYSTONE_CONFIG_FILES": str(conf_path(ctx)),
                "DEVCLOUD_WSGI_ARGV": config_args(conf_path(ctx)),
            },
            threads=12,
        )
    ]
