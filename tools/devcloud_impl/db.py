"""Databases: MariaDB (default) or sqlite.

MariaDB is the default because it is the reliable one under load: with sqlite
several Nova services write one cell database and sqlite refuses a read
transaction that upgrades to a write after another writer committed ("database
is locked"), despite WAL and a busy timeout.  It is Debian's mariadb-server,
started by devcloud itself on 127.0.0.1:13306 with its own datadir under the
state directory (never the system's /var/lib/mysql), tuned for throw-away data
(no fsync per commit, no doublewrite).  ``up --db sqlite`` uses one sqlite
file per database instead (WAL, ``timeout=30``): no server process, less
memory, fine for a quick local try.
"""

import socket
import sqlite3
import time

from . import procs
from .context import DB_PASSWORD, DB_USER
from .ports import HOST, PORTS

DATABASES = [
    "keystone",
    "glance",
    "placement",
    "neutron",
    "nova_api",
    "nova_cell0",
    "nova",
    "cinder",
    "heat",
]


class MariaDB:
    name = "mysql"

    def __init__(self, layout):
        self.layout = layout
        self.datadir = layout.data / "mysql"
        self.cnf = layout.etc / "mysql" / "my.cnf"
        self.socket = layout.run / "mysqld.sock"

    def url(self, db):
        return "mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8mb4" % (
            DB_USER,
            DB_PASSWORD,
            HOST,
            PORTS["mysql"],
            db,
        )

    def write_config(self):
        self.cnf.parent.mkdir(parents=True, exist_ok=True)
        self.cnf.write_text(
            "\n".join(
                [
                    "[mysqld]",
                    "datadir = %s" % self.datadir,
                    "socket = %s" % self.socket,
                    "pid-file = %s" % (self.layout.run / "mysqld.pidfile"),
                    "port = %d" % PORTS["mysql"],
                    "bind-address = %s" % HOST,
                    "user = root",
                    "skip-name-resolve",
                    "skip-log-bin",
                    "innodb_flush_log_at_trx_commit = 0",
                    "innodb_doublewrite = 0",
                    "innodb_buffer_pool_size = 128M",
                    "innodb_log_file_size = 64M",
                    "sync_binlog = 0",
                    "max_connections = 2000",
                    "character-set-server = utf8mb4",
                    "collation-server = utf8mb4_general_ci",
                    "performance_schema = off",
                    "",
                    "[client]",
                    "socket = %s" % self.socket,
                    "",
                ]
            )
        )

    def init_datadir(self, env):
        if (self.datadir / "mysql").is_dir():
            return False
        self.datadir.mkdir(parents=True, exist_ok=True)
        procs.run(
            [
                "mariadb-install-db",
                "--defaults-file=%s" % self.cnf,
                "--datadir=%s" % self.datadir,
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            env,
            self.layout.log("mysql-init"),
            timeout=300,
        )
        return True

    def procs(self):
        return [
            procs.Proc(
                "mysql",
                ["mariadbd", "--defaults-file=%s" % self.cnf],
                port=PORTS["mysql"],
            )
        ]

    def wait(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not procs.alive(self.layout, "mysql"):
                raise RuntimeError(
                    "mariadbd exited; log: %s\n%s"
                    % (
                        self.layout.log("mysql"),
                        procs.tail(self.layout.log("mysql")),
                    )
                )
            try:
                with socket.create_connection(
                    (HOST, PORTS["mysql"]), timeout=1
                ):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("MariaDB did not listen within %ds" % timeout)

    def create_databases(self, env):
        sql = [
            "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';"
            % (DB_USER, HOST, DB_PASSWORD)
        ]
        for db in DATABASES:
            sql.append(
                "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4;" % db
            )
            sql.append(
                "GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s';"
                % (db, DB_USER, HOST)
            )
        sql.append("FLUSH PRIVILEGES;")
        procs.run(
            [
                "mariadb",
                "--defaults-file=%s" % self.cnf,
                "-uroot",
                "-e",
                " ".join(sql),
            ],
            env,
            self.layout.log("mysql-init"),
            timeout=60,
        )

    def after_schema(self, db):
        pass


class Sqlite:
    name = "sqlite"

    def __init__(self, layout):
        self.layout = layout
        self.dir = layout.data / "sqlite"

    def url(self, db):
        return "sqlite:///%s?timeout=30" % (self.dir / (db + ".sqlite"))

    def write_config(self):
        self.dir.mkdir(parents=True, exist_ok=True)

    def init_datadir(self, env):
        self.dir.mkdir(parents=True, exist_ok=True)
        return False

    def procs(self):
        return []

    def wait(self, timeout=0):
        pass

    def create_databases(self, env):
        pass

    def after_schema(self, db):
        """WAL: readers never block the writer; set once, it sticks."""
        path = self.dir / (db + ".sqlite")
        if path.exists():
            con = sqlite3.connect(str(path), timeout=30)
            try:
                con.execute("PRAGMA journal_mode=WAL")
            finally:
                con.close()


def backend(name, layout):
    if name in ("mysql", "mariadb"):
        return MariaDB(layout)
    if name == "sqlite":
        return Sqlite(layout)
    raise ValueError("unknown database backend %r (mysql or sqlite)" % name)
