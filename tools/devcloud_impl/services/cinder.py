"""Cinder: api, scheduler, volume (upstream NFS driver) and backup (posix).

No NFS server runs.  os-brick skips mounting a share whose mount point
(``nfs_mount_point_base/<md5 of the share>``) is already in /proc/mounts, so
devcloud bind-mounts ``<state>/nfs-export`` there before cinder-volume starts
(boot.py).  Volumes are sparse raw files ``volume-<id>`` in that directory,
snapshots qcow2 overlays, ``volume-<id>.info`` names the active file.
"""

from .. import ini, ports
from ..context import authtoken, service_auth
from . import copy_paste_ini, gunicorn

BACKEND = "nfs"
CATALOG = [
    ("cinderv3", "block-storage", ports.url("cinder", "/v3/%(project_id)s")),
    ("cinder", "volumev3", ports.url("cinder", "/v3/%(project_id)s")),
]


def conf_path(ctx):
    return ctx.layout.etc_for("cinder") / "cinder.conf"


def configure(ctx):
    etc = ctx.layout.etc_for("cinder")
    data = ctx.layout.data_for("cinder")
    for d in ("lock", "tmp"):
        (data / d).mkdir(parents=True, exist_ok=True)
    copy_paste_ini(ctx, "cinder", "api-paste.ini", etc / "api-paste.ini")
    # The list filters a deployed Cinder allows (?volume_id=, ?name= ...);
    # without it every filtered list is refused with 400.
    copy_paste_ini(
        ctx, "cinder", "resource_filters.json", etc / "resource_filters.json"
    )
    (etc / "nfs_shares").write_text(ctx.nfs_share + "\n")
    ini.write(
        conf_path(ctx),
        {
            "DEFAULT": {
                "debug": False,
                "graceful_shutdown_timeout": 5,
                "transport_url": ctx.transport_url,
                "auth_strategy": "keystone",
                "state_path": data,
                "host": "devcloud",
                "my_ip": ports.HOST,
                "api_paste_config": etc / "api-paste.ini",
                "resource_query_filters_file": etc / "resource_filters.json",
                "osapi_volume_listen": ports.HOST,
                "osapi_volume_workers": 1,
                "enabled_backends": BACKEND,
                "default_volume_type": BACKEND,
                "rootwrap_config": ctx.layout.venv
                / "etc"
                / "cinder"
                / "rootwrap.conf",
                "image_conversion_dir": data / "tmp",
                "backup_driver": (
                    "cinder.backup.drivers.posix.PosixBackupDriver"
                ),
                "backup_posix_path": ctx.layout.backups,
                "backup_workers": 1,
                # The posix driver holds a whole backup file in memory: its
                # 2 GB default made cinder-backup reach 3.3 GB RSS. 64 MiB
                # files, no compression (CPU is what a 2-core machine
                # lacks), and at most 4 backup/restore operations at once
                # bound it.
                "backup_file_size": 64 * 1024 * 1024,
                "backup_compression_algorithm": "none",
                "backup_max_operations": 4,
                "glance_api_servers": ports.url("glance"),
                "report_interval": 5,
                "service_down_time": 60,
            },
            "database": {"connection": ctx.db.url("cinder")},
            "keystone_authtoken": authtoken("cinder"),
            # the privileged user for Nova's os-assisted-volume-snapshots
            "nova": dict(service_auth("cinder"), interface="public"),
            "service_user": dict(
                service_auth("cinder"), send_service_user_token=True
            ),
            "oslo_concurrency": {"lock_path": data / "lock"},
            "oslo_messaging_notifications": {"driver": "noop"},
            BACKEND: {
                "volume_driver": "cinder.volume.drivers.nfs.NfsDriver",
                "volume_backend_name": BACKEND,
                "nfs_shares_config": etc / "nfs_shares",
                "nfs_mount_point_base": ctx.layout.nfs_mounts,
                "nfs_snapshot_support": True,
                "nfs_sparsed_volumes": True,
                "nfs_qcow2_volumes": False,
                "nas_secure_file_operations": False,
                "nas_secure_file_permissions": False,
            },
        },
    )


def db_sync(ctx):
    return [
        [
            ctx.layout.vbin("cinder-manage"),
            "--config-file",
            conf_path(ctx),
            "db",
            "sync",
        ]
    ]


def procs(ctx):
    from .. import procs as p

    conf = ["--config-file", str(conf_path(ctx))]
    return [
        gunicorn(
            ctx, "cinder", "cinder", {"DEVCLOUD_WSGI_ARGV": " ".join(conf)}
        ),
        p.Proc(
            "cinder-scheduler", [ctx.layout.vbin("cinder-scheduler")] + conf
        ),
        p.Proc("cinder-volume", [ctx.layout.vbin("cinder-volume")] + conf),
        p.Proc("cinder-backup", [ctx.layout.vbin("cinder-backup")] + conf),
    ]
