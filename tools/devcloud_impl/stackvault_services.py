"""What stackvault's distributed mode needs beside the cloud (issue 11).

* Redis on 127.0.0.1:6379 (Debian's redis-server), the jobboard. ``up``
  starts it (as a devcloud process: ``down`` stops it, no data kept) unless
  a Redis already answers there, which it then uses as it is.
* a ``stackvault`` database in devcloud's MariaDB (the shared persistence
  of operations and their flows), created on every ``up`` (idempotent).

``env`` prints ``STACKVAULT_JOBBOARD`` and ``STACKVAULT_PERSISTENCE``:
what to put in stackvault.conf (``[jobboard] address``, ``[persistence]
connection``) for a distributed run on devcloud; stackvault itself never
reads them, so the embedded default stays the default. Stdlib only.
"""

import socket
import subprocess
import time

from . import procs
from .context import DB_PASSWORD, DB_USER
from .ports import HOST, PORTS

REDIS_PORT = 6379
DATABASE = "stackvault"


def redis_proc(layout):
    data = layout.data / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return procs.Proc(
        "redis",
        ["redis-server", "--bind", HOST, "--port", str(REDIS_PORT),
         "--save", "", "--appendonly", "no", "--dir", str(data)],
        port=REDIS_PORT)


def redis_answers(timeout=2.0):
    """Whether a Redis answers PING on 127.0.0.1:6379."""
    try:
        with socket.create_connection((HOST, REDIS_PORT),
                                      timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure(ctx):
    """Redis up and the stackvault database present (idempotent)."""
    if not redis_answers():
        procs.start(ctx.layout, redis_proc(ctx.layout), ctx.env())
        for _ in range(100):
            if redis_answers(timeout=0.5):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("redis-server did not answer on %s:%d; log: "
                               "%s" % (HOST, REDIS_PORT,
                                       ctx.layout.log("redis")))
    if ctx.db.name != "mysql":
        return
    procs.run(
        ["mariadb", "--defaults-file=%s" % ctx.db.cnf, "-uroot", "-e",
         "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4; "
         "GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s'; FLUSH PRIVILEGES;"
         % (DATABASE, DATABASE, DB_USER, HOST)],
        ctx.env(), ctx.layout.log("mysql-init"), timeout=60)


def stop(layout):
    """Stop the Redis devcloud started (not one it found running)."""
    return procs.stop_many(layout, ["redis"], timeout=15)


def persistence_url():
    return "mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8mb4" % (
        DB_USER, DB_PASSWORD, HOST, PORTS["mysql"], DATABASE)


def env_line():
    return "export STACKVAULT_JOBBOARD=%s:%d STACKVAULT_PERSISTENCE='%s'" % (
        HOST, REDIS_PORT, persistence_url())


def status_rows(db_name):
    """``(name, where, answers)`` for ``status``."""
    rows = [("redis (jobboard)", "%s:%d" % (HOST, REDIS_PORT),
             "yes" if redis_answers() else "no")]
    if db_name == "mysql":
        rows.append(("stackvault db", "%s:%d/%s" % (HOST, PORTS["mysql"],
                                                    DATABASE),
                     "yes" if _database_exists() else "no"))
    return rows


def _database_exists():
    """Whether MariaDB lets devcloud's user into the stackvault database
    (a handshake and a COM_INIT_DB would need a client; the mariadb CLI
    is there wherever MariaDB is)."""
    r = subprocess.run(
        ["mariadb", "-h", HOST, "-P", str(PORTS["mysql"]), "-u", DB_USER,
         "-p%s" % DB_PASSWORD, "-e", "SELECT 1", DATABASE],
        capture_output=True, timeout=15)
    return r.returncode == 0
