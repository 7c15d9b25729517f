"""Where running flows are kept: TaskFlow's own SQLAlchemy persistence.

One database holds every operation's flow (a TaskFlow logbook with one
flow detail, both named by the operation id): which atoms finished, their
results (plain JSON: ids and small dicts), and which were running when the
process died. An engine loaded on the same flow detail skips what finished
and runs again what was running, which is how an operation resumes.

The embedded default is a SQLite file in stackvault's state directory (no
service to start); a MariaDB/MySQL URL makes the database shared.
"""

import contextlib
import os
import threading

import sqlalchemy as sa
from taskflow.persistence import models
from taskflow.persistence.backends import impl_sqlalchemy


def make_engine(url):
    """A SQLAlchemy engine for ``url``; a SQLite file's folder is created
    and its writers wait for each other instead of failing at once."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(os.path.abspath(parsed.database))
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_recycle=3600, pool_pre_ping=True)


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


@contextlib.contextmanager
def schema_lock(engine):
    """While in the block, no other process creates or upgrades the
    schema of this MariaDB/MySQL database (a named lock, ``GET_LOCK``).

    Every process creates its tables and runs TaskFlow's migrations when
    it opens the database; on a new shared database, conductors and
    clients starting at once raced through the same migration and all
    but one failed ("expected to match one row when updating ... in
    'alembic_version'; 0 found"). SQLite (one machine) needs no lock.
    """
    if engine.dialect.name != "mysql":
        yield
        return
    with engine.connect() as conn:
        got = conn.execute(sa.text("SELECT GET_LOCK(:name, :wait)"),
                           {"name": SCHEMA_LOCK,
                            "wait": SCHEMA_LOCK_WAIT}).scalar()
        if got != 1:
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


class _Backend(impl_sqlalchemy.SQLAlchemyBackend):
    """TaskFlow's SQLAlchemy backend, with one shared connection object.

    TaskFlow asks for a connection for every atom state change, and each
    new one builds the whole table schema again in SQLAlchemy: that, not
    the database, was most of the cost of persistence (ten times the
    run time of a small operation). Its connection objects hold no state
    but the engine and the tables (each call takes its own transaction),
    so one is shared.
    """

    def __init__(self, conf, engine):
        super().__init__(conf, engine=engine)
        self._shared = None
        self._shared_lock = threading.Lock()

    def get_connection(self):
        with self._shared_lock:
            if self._shared is None:
                self._shared = super().get_connection()
            return self._shared


class FlowStore:
    """TaskFlow persistence on one SQLAlchemy engine."""

    def __init__(self, engine):
        self.backend = _Backend({"connection": str(engine.url)}, engine)
        with self._connection() as conn:
            conn.upgrade()

    @contextlib.contextmanager
    def _connection(self):
        conn = self.backend.get_connection()
        try:
            yield conn
        finally:
            conn.close()

    def create(self, operation_id, meta):
        """A new logbook and flow detail for ``operation_id``."""
        book = models.LogBook(operation_id, uuid=operation_id)
        detail = models.FlowDetail(operation_id, uuid=operation_id)
        detail.meta = dict(meta)
        book.add(detail)
        with self._connection() as conn:
            conn.save_logbook(book)
        return book, detail

    def load(self, operation_id):
        """``(book, flow_detail)`` of an operation; LookupError if gone."""
        with self._connection() as conn:
            try:
                book = conn.get_logbook(operation_id)
            except Exception as exc:  # noqa: BLE001 - TaskFlow's NotFound
                raise LookupError(operation_id) from exc
        detail = book.find(operation_id)
        if detail is None:
            raise LookupError(operation_id)
        return book, detail

    def destroy(self, operation_id):
        with self._connection() as conn:
            try:
                conn.destroy_logbook(operation_id)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass

    def note_attempt(self, operation_id, error=None):
        """Count one more start of the operation (``error``: record why
        the last one ended instead); return ``(attempts, last_error)``,
        kept in its flow detail's meta."""
        _book, detail = self.load(operation_id)
        meta = detail.meta
        if error is None:
            meta["attempts"] = meta.get("attempts", 0) + 1
        else:
            meta["last_error"] = error
        with self._connection() as conn:
            conn.update_flow_details(detail)
        return meta.get("attempts", 0), meta.get("last_error")

    def size(self, operation_id):
        """Bytes the operation's atom details hold (for the benchmarks)."""
        _book, detail = self.load(operation_id)
        total = 0
        for atom in detail:
            total += len(repr(atom.to_dict()))
        return total
