"""Swift: proxy, account, container and object servers; one replica.

Swift runs from its own virtualenv.  One device directory
``<state>/data/swift/node/d1``, rings of part power 10 with one replica,
``workers = 0`` and ``mount_check = false``; every config names ``swift_dir``
so nothing reads /etc/swift.  The proxy authenticates with Keystone
(``authtoken`` + ``keystoneauth``, operator roles admin and member).
"""

from .. import ini, ports
from ..context import authtoken
from ..ports import HOST, PORTS

CATALOG = [
    (
        "swift",
        "object-store",
        ports.url("swift-proxy", "/v1/AUTH_%(project_id)s"),
    )
]
SERVERS = ["account", "container", "object"]


def swift_dir(ctx):
    return ctx.layout.etc_for("swift")


def devices(ctx):
    return ctx.layout.data_for("swift") / "node"


def _server_conf(ctx, kind):
    return {
        "DEFAULT": {
            "bind_ip": HOST,
            "bind_port": PORTS["swift-" + kind],
            "workers": 0,
            "mount_check": False,
            "devices": devices(ctx),
            "swift_dir": swift_dir(ctx),
            "log_name": kind + "-server",
        },
        "pipeline:main": {"pipeline": "healthcheck %s-server" % kind},
        "app:%s-server" % kind: {"use": "egg:swift#%s" % kind},
        "filter:healthcheck": {"use": "egg:swift#healthcheck"},
    }


def configure(ctx):
    d = swift_dir(ctx)
    (devices(ctx) / "d1").mkdir(parents=True, exist_ok=True)
    ini.write(
        d / "swift.conf",
        {
            "swift-hash": {
                "swift_hash_path_suffix": "devcloud-suffix",
                "swift_hash_path_prefix": "devcloud-prefix",
            },
            "storage-policy:0": {"name": "Policy-0", "default": "yes"},
        },
    )
    for kind in SERVERS:
        ini.write(d / ("%s-server.conf" % kind), _server_conf(ctx, kind))
    auth = authtoken("swift")
    auth.update(
        {
            "paste.filter_factory": (
                "keystonemiddleware.auth_token:filter_factory"
            ),
            "delay_auth_decision": True,
        }
    )
    ini.write(
        d / "proxy-server.conf",
        {
            "DEFAULT": {
                "bind_ip": HOST,
                "bind_port": PORTS["swift-proxy"],
                "workers": 0,
                "swift_dir": d,
                "log_name": "proxy-server",
            },
            "pipeline:main": {
                "pipeline": "catch_errors gatekeeper healthcheck "
                "proxy-logging listing_formats authtoken keystoneauth copy "
                "slo dlo versioned_writes proxy-logging proxy-server"
            },
            "app:proxy-server": {
                "use": "egg:swift#proxy",
                "account_autocreate": True,
                "allow_account_management": True,
            },
            "filter:authtoken": auth,
            "filter:keystoneauth": {
                "use": "egg:swift#keystoneauth",
                "operator_roles": "admin,member",
                "reseller_admin_role": "ResellerAdmin",
            },
            "filter:healthcheck": {"use": "egg:swift#healthcheck"},
            "filter:catch_errors": {"use": "egg:swift#catch_errors"},
            "filter:gatekeeper": {"use": "egg:swift#gatekeeper"},
            "filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
            "filter:listing_formats": {"use": "egg:swift#listing_formats"},
            "filter:copy": {"use": "egg:swift#copy"},
            "filter:slo": {"use": "egg:swift#slo"},
            "filter:dlo": {"use": "egg:swift#dlo"},
            "filter:versioned_writes": {"use": "egg:swift#versioned_writes"},
        },
    )


def build_rings(ctx):
    """argv lists that build the three rings (run once)."""
    rb = ctx.layout.sbin("swift-ring-builder")
    d = swift_dir(ctx)
    cmds = []
    for kind in SERVERS:
        builder = str(d / ("%s.builder" % kind))
        cmds += [
            [rb, builder, "create", "10", "1", "1"],
            [
                rb,
                builder,
                "add",
                "r1z1-%s:%d/d1" % (HOST, PORTS["swift-" + kind]),
                "100",
            ],
            [rb, builder, "rebalance"],
        ]
    return cmds


def db_sync(ctx):
    return []


def procs(ctx):
    from .. import procs as p

    d = swift_dir(ctx)
    out = [
        p.Proc(
            "swift-%s" % kind,
            [
                ctx.layout.sbin("swift-%s-server" % kind),
                d / ("%s-server.conf" % kind),
                "-v",
            ],
            port=PORTS["swift-" + kind],
        )
        for kind in SERVERS
    ]
    out.append(
        p.Proc(
            "swift-proxy",
            [
                ctx.layout.sbin("swift-proxy-server"),
                d / "proxy-server.conf",
                "-v",
            ],
            port=PORTS["swift-proxy"],
        )
    )
    return out
