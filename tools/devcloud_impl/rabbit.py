"""RabbitMQ, started by hand (no systemd), on loopback only.

devcloud runs its own epmd (in the foreground, so it is one of our processes
and ``down`` stops it) on a private port, and a RabbitMQ node
``devcloud@localhost`` whose data, config, cookie and logs live in the state
directory.  The services' user is created by ``default_user`` on first boot.
"""

import socket
import time

from . import procs
from .context import RABBIT_PASSWORD, RABBIT_USER
from .ports import HOST, PORTS

RABBIT_LIB = "/usr/lib/rabbitmq/bin"


def _env(layout):
    base = layout.data / "rabbitmq"
    etc = layout.etc / "rabbitmq"
    return {
        "HOME": str(base),
        "RABBITMQ_NODENAME": "devcloud@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbitmq-dist"]),
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_CONFIG_FILE": str(etc / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(etc / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(etc / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(etc / "rabbitmq-env.conf"),
        "RABBITMQ_PID_FILE": str(layout.run / "rabbitmq.erlpid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
            "-kernel inet_dist_use_interface {127,0,0,1}"
        ),
    }


def write_config(layout):
    etc = layout.etc / "rabbitmq"
    etc.mkdir(parents=True, exist_ok=True)
    (layout.data / "rabbitmq").mkdir(parents=True, exist_ok=True)
    (etc / "rabbitmq.conf").write_text(
        "\n".join(
            [
                "listeners.tcp.default = %s:%d" % (HOST, PORTS["rabbitmq"]),
                "default_user = %s" % RABBIT_USER,
                "default_pass = %s" % RABBIT_PASSWORD,
                "loopback_users = none",
                "disk_free_limit.absolute = 50MB",
                "log.console = true",
                "log.console.level = warning",
                "log.file = false",
                "",
            ]
        )
    )
    (etc / "advanced.config").write_text("[].\n")
    (etc / "enabled_plugins").write_text("[].\n")
    (etc / "rabbitmq-env.conf").write_text(
        "# devcloud: everything is in the environment\n"
    )


def procs_for(layout):
    env = _env(layout)
    return [
        procs.Proc(
            "epmd",
            ["epmd", "-address", HOST, "-port", str(PORTS["epmd"])],
            env=env,
            port=PORTS["epmd"],
        ),
        procs.Proc(
            "rabbitmq",
            [RABBIT_LIB + "/rabbitmq-server"],
            env=env,
            port=PORTS["rabbitmq"],
        ),
    ]


def wait_port(layout, name, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.alive(layout, name):
            raise RuntimeError(
                "%s exited; log: %s\n%s"
                % (name, layout.log(name), procs.tail(layout.log(name)))
            )
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        "%s did not listen on %d within %ds" % (name, port, timeout)
    )


def wait(layout, timeout=120):
    wait_port(layout, "rabbitmq", PORTS["rabbitmq"], timeout)


def queue_exists(name):
    """True once a queue exists (kombu from the services virtualenv)."""
    import kombu

    url = "amqp://%s:%s@%s:%d//" % (
        RABBIT_USER,
        RABBIT_PASSWORD,
        HOST,
        PORTS["rabbitmq"],
    )
    with kombu.Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            channel.queue_declare(queue=name, passive=True)
            return True
        except Exception:
            return False
