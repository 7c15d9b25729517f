"""Neutron: ML2 with devcloud's agentless mechanism driver, router plugin.

No agent and no RPC server run: ports are bound by ``devcloud_agentless``
(ml2_agentless.py), routers exist in the database only.  The external network
``public`` is a flat network on physnet ``public``; projects get vxlan ones.
"""

from .. import ini, ports
from ..context import authtoken, service_auth
from . import copy_paste_ini, gunicorn

CATALOG = [("neutron", "network", ports.url("neutron"))]

ENTRY_POINT_DIST = "stackvault_devcloud_ml2-1.0.dist-info"


def _register_mechanism_driver(ctx):
    """Declare the entry point neutron's stevedore loader looks for."""
    site = next((ctx.layout.venv / "lib").glob("python3*/site-packages"))
    dist = site / ENTRY_POINT_DIST
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: stackvault-devcloud-ml2\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[neutron.ml2.mechanism_drivers]\n"
        "devcloud_agentless = "
        "devcloud_impl.ml2_agentless:AgentlessMechanismDriver\n"
    )
    (dist / "RECORD").write_text("")


def conf_files(ctx):
    etc = ctx.layout.etc_for("neutron")
    return [etc / "neutron.conf", etc / "ml2_conf.ini"]


def configure(ctx):
    _register_mechanism_driver(ctx)
    etc = ctx.layout.etc_for("neutron")
    data = ctx.layout.data_for("neutron")
    data.mkdir(parents=True, exist_ok=True)
    copy_paste_ini(ctx, "neutron", "api-paste.ini", etc / "api-paste.ini")
    ini.write(
        etc / "neutron.conf",
        {
            "DEFAULT": {
                "debug": False,
                "core_plugin": "ml2",
                "service_plugins": "router",
                "auth_strategy": "keystone",
                "transport_url": ctx.transport_url,
                "api_paste_config": etc / "api-paste.ini",
                "state_path": data,
                "host": "devcloud",
                "bind_host": ports.HOST,
                "bind_port": ports.PORTS["neutron"],
                "allow_overlapping_ips": True,
                "notify_nova_on_port_status_changes": True,
                "notify_nova_on_port_data_changes": True,
                "network_auto_schedule": False,
                "router_auto_schedule": False,
                "api_workers": 1,
                "rpc_workers": 0,
                "rpc_state_report_workers": 0,
            },
            "database": {"connection": ctx.db.url("neutron")},
            "keystone_authtoken": authtoken("neutron"),
            "nova": service_auth("nova"),
            "oslo_concurrency": {"lock_path": data / "lock"},
            "oslo_messaging_notifications": {"driver": "noop"},
            "agent": {"root_helper": "sudo", "report_interval": 0},
        },
    )
    ini.write(
        etc / "ml2_conf.ini",
        {
            "ml2": {
                "type_drivers": "flat,vxlan,local",
                "tenant_network_types": "vxlan",
                "mechanism_drivers": "devcloud_agentless",
                "extension_drivers": "port_security",
            },
            "ml2_type_flat": {"flat_networks": "public"},
            "ml2_type_vxlan": {"vni_ranges": "1:10000"},
            "securitygroup": {
                "firewall_driver": "noop",
                "enable_security_group": True,
            },
        },
    )


def db_sync(ctx):
    args = []
    for f in conf_files(ctx):
        args += ["--config-file", f]
    if ctx.db.name == "sqlite":
        # neutron's migrations ALTER constraints, which sqlite cannot do:
        # create the head schema from the models, then stamp it.
        return [
            [
                ctx.layout.vbin("python"),
                "-m",
                "devcloud_impl.neutron_sqlite_schema",
                ctx.db.url("neutron"),
            ],
            [ctx.layout.vbin("neutron-db-manage")] + args + ["stamp", "heads"],
        ]
    return [
        [ctx.layout.vbin("neutron-db-manage")] + args + ["upgrade", "heads"]
    ]


def procs(ctx):
    return [
        gunicorn(
            ctx,
            "neutron",
            "neutron",
            {
                "OS_NEUTRON_CONFIG_DIR": str(ctx.layout.etc_for("neutron")),
                "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini",
                "DEVCLOUD_WSGI_ARGV": " ".join(
                    "--config-file %s" % f for f in conf_files(ctx)
                ),
            },
        )
    ]
