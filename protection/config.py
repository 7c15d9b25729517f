"""stackvault's configuration (``stackvault.conf``), with oslo.config.

Framework groups are declared here; each plugin and bank declares its own
group through ``config_group``/``config_opts`` class attributes, registered
when it is loaded, so a plugin shipped as its own package brings its options.
``list_opts`` feeds ``oslo-config-generator`` (namespace ``stackvault``).
"""

import os

from oslo_config import cfg

from protection import exceptions
from protection import loader
from protection.auth import opts as auth_opts



def filesystem_bank_path(conf):
    """``[filesystem_bank] path``, or bank/ in the data dir (read when
    used, so that ``XDG_DATA_HOME`` counts)."""
    return conf.filesystem_bank.path or os.path.join(default_data_dir(),
                                                     "bank")


def persistence_url(conf):
    """``[persistence] connection``, or the SQLite file in the data dir
    (read when used, so that ``XDG_DATA_HOME`` counts)."""
    url = conf.persistence.connection
    if url:
        return url
    return "sqlite:///" + os.path.join(default_data_dir(), "stackvault.db")


def shared_persistence_url(conf):
    """``[persistence] connection`` for a jobboard: conductors on other
    machines must reach the same database, so the SQLite default (a file
    on this machine) is refused."""
    url = persistence_url(conf)
    if url.startswith("sqlite"):
        raise exceptions.ConfigError(
            "[jobboard] address is set but [persistence] connection is a "
            "SQLite file, which only this machine can read: conductors "
            "elsewhere could not load the operation. Point [persistence] "
            "connection at a shared database (mysql+pymysql://...)")
    return url


def default_data_dir():
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser(
        "~/.local/share")
    return os.path.join(base, "stackvault")


bank_opts = [
    cfg.StrOpt("backend", default="filesystem",
               help="The bank that keeps checkpoints: the name of an entry "
                    "point in the 'stackvault.banks' namespace "
                    "(filesystem, or swift when installed)."),
    cfg.FloatOpt("owner_timeout", default=3600.0, min=1,
                 help="Seconds after the last update of a 'protecting' or "
                      "'deleting' checkpoint's index before its owner on "
                      "ANOTHER host counts as dead (an owner on this host "
                      "is checked by its pid). Until then 'checkpoint "
                      "delete --force' is refused."),
    cfg.StrOpt("key_file",
               help="A file (mode 0600) holding the bank key: at least 32 "
                    "random bytes (head -c 32 /dev/urandom > FILE). Set: "
                    "every checkpoint is signed (HMAC-SHA256, checkpoint "
                    "format 3) and only checkpoints signed with this key "
                    "are restored or verified; others are shown damaged. "
                    "Empty (the default): checkpoints carry sha256 hashes "
                    "only, which whoever can write the bank can recompute "
                    "(doc/checkpoint-format.rst)."),
]

filesystem_bank_opts = [
    cfg.StrOpt("path",
               sample_default="$XDG_DATA_HOME/stackvault/bank",
               help="Directory of the filesystem bank. Created if missing. "
                    "Default: bank/ in stackvault's data directory "
                    "($XDG_DATA_HOME/stackvault, ~/.local/share/stackvault)."),
]

engine_opts = [
    cfg.IntOpt("max_workers", default=16, min=1, max=256,
               help="How many tasks of one operation run at the same time "
                    "(TaskFlow parallel engine's thread pool). Most tasks "
                    "wait for the cloud, each holding a thread: fewer "
                    "threads than independent waits (one per volume "
                    "restore, for example) serialize work that the cloud "
                    "would do at once."),
]

timeout_opts = [
    cfg.FloatOpt("request", default=60.0, min=1,
                 help="Seconds one HTTP request to the cloud may take "
                      "(connect and answer) before it fails; passed to "
                      "openstacksdk as api_timeout. A status poll that "
                      "times out is retried until its own deadline."),
    cfg.FloatOpt("status_wait", default=600.0, min=1,
                 help="Seconds to wait for a cloud resource to reach a "
                      "status before the step fails."),
    cfg.FloatOpt("per_gib", default=120.0, min=0,
                 help="Seconds added to a wait for every GiB of data the "
                      "step moves (backups, restores, uploads)."),
    cfg.FloatOpt("poll_initial", default=0.25, min=0.01,
                 help="Shortest interval between two polls of a status "
                      "(the interval at the start of a wait)."),
    cfg.FloatOpt("poll_max", default=5.0, min=0.01,
                 help="Longest interval between two polls."),
    cfg.FloatOpt("poll_lateness", default=0.05, min=0.01, max=1.0,
                 help="The interval between two polls is this fraction of "
                      "the time already waited (between poll_initial and "
                      "poll_max), so a step's end is noticed at most this "
                      "fraction of its duration late. Lower: sooner, with "
                      "more status requests."),
]

persistence_opts = [
    cfg.StrOpt("connection", secret=True,
               sample_default="sqlite:///$XDG_DATA_HOME/stackvault/"
                              "stackvault.db",
               help="SQLAlchemy URL of the database that keeps every "
                    "operation and its persisted TaskFlow flow. Default: a "
                    "SQLite file in stackvault's data directory (no "
                    "service to start). A mysql+pymysql:// URL shares it "
                    "between machines."),
    cfg.FloatOpt("owner_timeout", default=30.0, min=1,
                 help="Seconds without a heartbeat after which an "
                      "operation owned by another host counts as "
                      "interrupted (same host: its pid is checked)."),
    cfg.StrOpt("host", sample_default="<the machine's host name>",
               help="The name this process records as the owner host of "
                    "the operations it runs. An owner on a host of the "
                    "same name is checked by its pid; one on another by "
                    "its heartbeat. Processes that do not share a pid "
                    "namespace (two machines, two containers) must have "
                    "different names. Default: the host name."),
    cfg.FloatOpt("timeout", default=5.0, min=0.1,
                 help="Seconds a MariaDB/MySQL persistence database is "
                      "waited for: to connect, and for each answer "
                      "(pymysql's connect, read and write timeouts; a "
                      "value in the connection URL's query wins). A "
                      "database that stops answering (a network "
                      "partition) fails a statement after at most twice "
                      "this (the pool's ping, then a new connection) "
                      "instead of holding the process for ever. A running "
                      "operation that loses the database stops starting "
                      "tasks within about owner_timeout / 2 + 2 x timeout: "
                      "keep 2 x timeout below owner_timeout / 2 so that it "
                      "stops before another host may take the operation "
                      "over, and this above your slowest statement (raise "
                      "it for a 'stackvault-manage db sync' of a large "
                      "database)."),
    cfg.FloatOpt("prune_after_days", default=14.0, min=0,
                 help="Ended operations and their flow details older than "
                      "this are deleted when the next operation starts "
                      "(0: never)."),
]

jobboard_opts = [
    cfg.StrOpt("address",
               help="host:port of the jobboard that conductors take work "
                    "from (doc/deployment.rst). Empty (the default): every "
                    "operation runs embedded, in the process that asked "
                    "for it. Set: protect, restore, checkpoint delete and "
                    "checkpoint verify post a job and follow it."),
    cfg.StrOpt("backend", default="redis", choices=["redis", "etcd"],
               help="TaskFlow jobboard backend: redis (needs the redis "
                    "client, installed with stackvault) or etcd (install "
                    "'stackvault[etcd]')."),
    cfg.StrOpt("namespace", default="stackvault",
               help="Jobboard namespace (Redis key prefix, etcd path): "
                    "conductors take only the jobs of their namespace."),
    cfg.StrOpt("password", secret=True,
               help="Redis password, if the server asks for one. TaskFlow's "
                    "etcd jobboard cannot pass a password on: with backend "
                    "= etcd a password is refused; authenticate with a "
                    "client certificate (cert_file, key_file) instead."),
    cfg.BoolOpt("tls", default=False,
                help="Talk to the jobboard over TLS (Redis 'rediss', etcd "
                     "https), checking its certificate against ca_file."),
    cfg.StrOpt("ca_file",
               help="CA bundle the jobboard's certificate is checked "
                    "against (tls = true). Default: the system's."),
    cfg.StrOpt("cert_file",
               help="Client certificate presented to the jobboard "
                    "(tls = true); etcd's way to authenticate a client."),
    cfg.StrOpt("key_file", secret=True,
               help="Private key of cert_file."),
    cfg.FloatOpt("claim_expiry", default=30.0, min=1,
                 help="Seconds a conductor's claim on a job lives unless it "
                      "is extended: when a conductor dies, its jobs are "
                      "taken over by another conductor after this long."),
    cfg.FloatOpt("keep_alive", default=10.0, min=0.1,
                 help="Seconds between two extensions of a working "
                      "conductor's claims (keep it well below "
                      "claim_expiry)."),
    cfg.IntOpt("max_attempts", default=3, min=1,
               help="How many times conductors start a job before it is "
                    "given up and its operation ends failed with the last "
                    "reason (a conductor dying during the job counts)."),
]

conductor_opts = [
    cfg.StrOpt("name",
               help="This conductor's name on the jobboard; unique per "
                    "process. Default: stackvault-conductor-HOST-PID."),
    cfg.StrOpt("type", default="nonblocking",
               choices=["nonblocking", "blocking"],
               help="TaskFlow conductor: nonblocking runs up to max_jobs "
                    "jobs at once; blocking runs one at a time."),
    cfg.IntOpt("max_jobs", default=2, min=1,
               help="Jobs one conductor runs at the same time "
                    "(nonblocking)."),
    cfg.FloatOpt("wait_timeout", default=1.0, min=0.05,
                 help="Seconds the conductor waits on an idle jobboard "
                      "before it looks again."),
]

DEFAULT_OBJECT_SIZE_MIB = 64
DEFAULT_IMAGE_DATA_CONCURRENCY = 4
DEFAULT_PROCESS_CONCURRENCY = 16

image_data_opts = [
    cfg.IntOpt("object_size_mib", default=DEFAULT_OBJECT_SIZE_MIB, min=1,
               max=4096,
               deprecated_opts=[cfg.DeprecatedOpt("object_size_mb",
                                                  group="image_plugin")],
               help="Size of the bank objects that image data (an image, "
                    "a server's root-disk snapshot) is cut into, in MiB. "
                    "Memory use does not depend on it (data streams in "
                    "4 MiB chunks); larger objects mean fewer bank "
                    "requests. Replaces [image_plugin] object_size_mb, "
                    "which is still read when this is not set."),
    cfg.IntOpt("concurrency", default=DEFAULT_IMAGE_DATA_CONCURRENCY, min=1,
               max=16,
               help="Bank objects of one image's data moved at the same "
                    "time: protect stores the next objects while the "
                    "previous ones finish, restore reads the next objects "
                    "ahead while one is sent. Memory per transfer: up to "
                    "concurrency x 12 MiB (queues of two 4 MiB chunks), "
                    "whatever the object size; all transfers of a process "
                    "together are bounded by process_concurrency."),
    cfg.IntOpt("process_concurrency", default=DEFAULT_PROCESS_CONCURRENCY,
               min=1, max=256,
               help="Bank objects of image data moved at the same time by "
                    "the whole process (a CLI run or a conductor, over "
                    "every operation and image it runs): its image data "
                    "holds at most about process_concurrency x 12 MiB of "
                    "memory (192 MiB with 16). A transfer waits for a free "
                    "slot before its next object, never holding one that "
                    "another needs to finish."),
]

FRAMEWORK_OPTS = [
    ("bank", bank_opts),
    ("filesystem_bank", filesystem_bank_opts),
    ("engine", engine_opts),
    ("timeouts", timeout_opts),
    ("persistence", persistence_opts),
    ("image_data", image_data_opts),
    ("jobboard", jobboard_opts),
    ("conductor", conductor_opts),
]


def register_framework_opts(conf):
    for group, opts in FRAMEWORK_OPTS:
        conf.register_opts(opts, group=group)
    # [trustee]: keystoneauth's options, registered its way
    # (protection.auth.opts); the chosen plugin's when it is loaded.
    auth_opts.register(conf)


def _check_values(conf, group, opts):
    """Read each option once: oslo.config converts (and rejects) a value
    from a config file only when it is read, so a bad value would otherwise
    surface later as a raw ConfigFileValueError in the middle of a command.
    """
    for opt in opts:
        try:
            getattr(getattr(conf, group), opt.dest)
        except (cfg.Error, ValueError) as exc:
            raise exceptions.ConfigError(
                f"bad configuration: [{group}] {opt.dest}: {exc}") from None


def register_component_opts(conf, component):
    """Register a plugin's or bank's own ``config_opts`` in its group."""
    group = getattr(component, "config_group", None)
    opts = getattr(component, "config_opts", None) or []
    if group and opts:
        conf.register_opts(opts, group=group)
        _check_values(conf, group, opts)


def load_config(config_files=None, conf=None):
    """Return a ConfigOpts with the framework's options, parsed.

    ``config_files`` overrides oslo.config's default search
    (``~/.stackvault/stackvault.conf``, ``/etc/stackvault/stackvault.conf``).
    """
    conf = conf if conf is not None else cfg.ConfigOpts()
    register_framework_opts(conf)
    for path in config_files or []:
        if not os.path.isfile(path):
            raise exceptions.ConfigError(f"config file {path} does not exist")
    try:
        conf(args=[], project="stackvault",
             default_config_files=config_files or None)
    except (cfg.Error, ValueError) as exc:
        raise exceptions.ConfigError(f"bad configuration: {exc}") from None
    for group, opts in FRAMEWORK_OPTS:
        _check_values(conf, group, opts)
    _check_values(conf, auth_opts.GROUP, auth_opts.trust_opts)
    return conf


def _component_opts(namespace):
    found = []
    for component in loader.load_all(namespace).values():
        group = getattr(component, "config_group", None)
        opts = getattr(component, "config_opts", None)
        if group and opts:
            found.append((group, list(opts)))
    return found


def list_opts():
    """Every option, for oslo-config-generator (entry point ``stackvault``)."""
    return (list(FRAMEWORK_OPTS) + auth_opts.list_opts()
            + _component_opts(loader.BANKS)
            + _component_opts(loader.PLUGINS)
            + _component_opts(loader.DATASOURCES))
