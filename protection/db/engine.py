"""stackvault's persistence database: the engine, and the lock under
which one process at a time creates or upgrades its schema.

One database (``[persistence] connection``) holds stackvault's own tables
(operations, plans, the checkpoint catalog: migrated by
:mod:`protection.db.migrate`) and TaskFlow's flow details
(:mod:`flows.persistence`, migrated by TaskFlow). The embedded default is
a SQLite file in stackvault's state directory; a MariaDB/MySQL URL makes
the database shared.

A MariaDB/MySQL connection waits for the server at most ``timeout``
seconds (``[persistence] timeout``): to connect, and for each answer (a
statement on a pooled connection may take twice that to fail: the
pool's ping, then a new connection). A
database that stops answering without closing the connection (a network
partition: nothing comes back, no reset) otherwise held every statement,
and with it the process, for ever: the fence of a running operation
(:mod:`protection.operations.fence`) could not stop it, and its
heartbeat thread could not be joined.
"""

import contextlib
import os

import sqlalchemy as sa


DEFAULT_TIMEOUT = 5.0
# pymysql's own names; what the URL's query sets (``?read_timeout=60``)
# wins over ``timeout``.
_MYSQL_TIMEOUTS = ("connect_timeout", "read_timeout", "write_timeout")


def make_engine(url, timeout=DEFAULT_TIMEOUT):
    """A SQLAlchemy engine for ``url``; a SQLite file's folder is created
    and its writers wait for each other instead of failing at once; a
    MariaDB/MySQL server is waited for at most ``timeout`` seconds per
    connection attempt and per answer (module doc)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(os.path.abspath(parsed.database))
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {}
    if parsed.get_backend_name() == "mysql" and \
            parsed.get_driver_name() == "pymysql":
        connect_args = {name: timeout for name in _MYSQL_TIMEOUTS
                        if name not in parsed.query}
    return sa.create_engine(url, pool_recycle=3600, pool_pre_ping=True,
                            connect_args=connect_args)


def _private_sqlite_file(path):
    """Create the database's folder (0700) and file (0600) before SQLite
    does (it would follow the umask: 0644 in a 0755 folder); tighten them
    when an earlier release left them readable by others. The operations
    journal names every object an operation created, and a flow detail is
    what a resumed process acts on: no other local user may read or write
    them. SQLite gives its -wal/-shm files the database file's mode."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for name, mode in ((folder, 0o700), (path, 0o600)):
        if os.stat(name).st_mode & 0o077 and \
                os.stat(name).st_uid == os.getuid():
            os.chmod(name, mode)


SCHEMA_LOCK = "stackvault-schema"
SCHEMA_LOCK_WAIT = 120      # seconds one process waits for another's upgrade
SCHEMA_LOCK_TRY = 1         # seconds of one GET_LOCK: well within a timeout


@contextlib.contextmanager
def schema_lock(engine):
    """While in the block, no other process creates or upgrades the
    schema of this MariaDB/MySQL database (a named lock, ``GET_LOCK``).

    Every process runs stackvault's and TaskFlow's migrations when
    it opens the database; on a new shared database, conductors and
    clients starting at once raced through the same migration and all
    but one failed ("expected to match one row when updating ... in
    'alembic_version'; 0 found"). SQLite (one machine) needs no lock.
    """
    if engine.dialect.name != "mysql":
        yield
        return
    with engine.connect() as conn:
        # Asked again every SCHEMA_LOCK_TRY seconds: one GET_LOCK that the
        # server answers only after SCHEMA_LOCK_WAIT would outlast the
        # connection's read timeout.
        for _ in range(int(SCHEMA_LOCK_WAIT / SCHEMA_LOCK_TRY)):
            got = conn.execute(sa.text("SELECT GET_LOCK(:name, :wait)"),
                               {"name": SCHEMA_LOCK,
                                "wait": SCHEMA_LOCK_TRY}).scalar()
            if got == 1:
                break
        else:
            raise TimeoutError(
                f"another process held the schema lock {SCHEMA_LOCK!r} "
                f"for more than {SCHEMA_LOCK_WAIT} s")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"),
                         {"name": SCHEMA_LOCK})


def _sqlite_pragmas(dbapi_conn, _record):
    """WAL with ``synchronous=NORMAL``: a commit survives the death of the
    process (what resume is for) without an fsync per atom state change,
    which made persistence cost seconds per operation; only a power cut
    can lose the last commits, and then resume re-runs those atoms, which
    find what they created by their marks."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
