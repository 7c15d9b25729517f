"""Nova: api, conductor, scheduler and compute with devcloud's fake driver.

nova-compute runs ``python -m devcloud_impl.nova_compute`` so that the
``devcloud.SnapshotFakeDriver`` virt driver (nova_driver.py) answers Cinder's
assisted volume snapshots.  It is started only once the conductor's queue
exists (see boot.py): otherwise its first RPC to the conductor is dropped and
it stalls for 60 s.
"""

from .. import ini, ports
from ..context import authtoken, service_auth
from . import copy_paste_ini, gunicorn

CATALOG = [("nova", "compute", ports.url("nova", "/v2.1"))]

COMPUTE = "nova-compute"


def conf_path(ctx):
    return ctx.layout.etc_for("nova") / "nova.conf"


def configure(ctx):
    etc = ctx.layout.etc_for("nova")
    data = ctx.layout.data_for("nova")
    (data / "instances").mkdir(parents=True, exist_ok=True)
    copy_paste_ini(ctx, "nova", "api-paste.ini", etc / "api-paste.ini")
    ini.write(
        conf_path(ctx),
        {
            "DEFAULT": {
                "debug": False,
                "graceful_shutdown_timeout": 5,
                "transport_url": ctx.transport_url,
                "state_path": data,
                "instances_path": data / "instances",
                "host": "devcloud",
                "my_ip": ports.HOST,
                "compute_driver": "devcloud.SnapshotFakeDriver",
                "vif_plugging_is_fatal": False,
                "vif_plugging_timeout": 0,
                "enabled_apis": "osapi_compute",
                "osapi_compute_listen": ports.HOST,
                "rootwrap_config": ctx.layout.venv
                / "etc"
                / "nova"
                / "rootwrap.conf",
                "allow_resize_to_same_host": True,
                "heal_instance_info_cache_interval": -1,
                "instance_usage_audit": False,
            },
            "api": {"auth_strategy": "keystone"},
            "wsgi": {"api_paste_config": etc / "api-paste.ini"},
            "api_database": {"connection": ctx.db.url("nova_api")},
            "database": {"connection": ctx.db.url("nova")},
            "keystone_authtoken": authtoken("nova"),
            "placement": service_auth("placement"),
            "neutron": service_auth("neutron"),
            "cinder": dict(
                service_auth("cinder"),
                catalog_info="block-storage:cinderv3:publicURL",
                os_region_name=ports.REGION,
            ),
            "glance": {"region_name": ports.REGION},
            "service_user": dict(
                service_auth("nova"), send_service_user_token=True
            ),
            "scheduler": {"discover_hosts_in_cells_interval": 2, "workers": 1},
            "conductor": {"workers": 1},
            "oslo_concurrency": {"lock_path": data / "lock"},
            "oslo_messaging_notifications": {"driver": "noop"},
            "notifications": {"notification_format": "unversioned"},
            # read by devcloud's virt driver: where Cinder's NFS shares are
            "libvirt": {"nfs_mount_point_base": ctx.layout.nfs_mounts},
            "os_vif_ovs": {"ovsdb_connection": "unix:/nonexistent"},
            "vnc": {"enabled": False},
            "spice": {"enabled": False},
        },
    )


def db_sync(ctx):
    nm = [ctx.layout.vbin("nova-manage"), "--config-file", conf_path(ctx)]
    return [
        nm + ["api_db", "sync"],
        nm
        + [
            "cell_v2",
            "map_cell0",
            "--database_connection",
            ctx.db.url("nova_cell0"),
        ],
        # exits 2 when cell1 exists already (a rerun after an interrupted up)
        (nm + ["cell_v2", "create_cell", "--name", "cell1"], (0, 2)),
        nm + ["db", "sync"],
    ]


def procs(ctx):
    from .. import procs as p

    conf = ["--config-file", str(conf_path(ctx))]
    return [
        gunicorn(
            ctx,
            "nova",
            "nova",
            {
                "OS_NOVA_CONFIG_DIR": str(ctx.layout.etc_for("nova")),
                "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf",
                "DEVCLOUD_WSGI_ARGV": "",
            },
        ),
        p.Proc("nova-conductor", [ctx.layout.vbin("nova-conductor")] + conf),
        p.Proc("nova-scheduler", [ctx.layout.vbin("nova-scheduler")] + conf),
        p.Proc(
            COMPUTE,
            [ctx.layout.vbin("python"), "-m", "devcloud_impl.nova_compute"]
            + conf,
        ),
    ]
