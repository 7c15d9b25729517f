"""Where running flows are kept: TaskFlow's own SQLAlchemy persistence.

One database holds every operation's flow (a TaskFlow logbook with one
flow detail, both named by the operation id): which atoms finished, their
results (plain JSON: ids and small dicts), and which were running when the
process died. An engine loaded on the same flow detail skips what finished
and runs again what was running, which is how an operation resumes.

The engine it runs on (a SQLite file by default, or MariaDB/MySQL) is made
by :mod:`protection.db.engine`; TaskFlow migrates its own tables
(:meth:`FlowStore.__init__`), stackvault's are migrated by
:mod:`protection.db.migrate`.
"""

import contextlib
import threading

import sqlalchemy as sa
from taskflow.persistence import models
from taskflow.persistence.backends import impl_sqlalchemy
from taskflow.persistence.backends.sqlalchemy import tables


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
        self._atom_tables = None
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

    def atom_states(self, operation_id):
        """``{atom name: state}`` of the operation's flow detail; ``{}``
        when it keeps none (or it is gone).

        What showing an operation's progress needs, read in one query of
        two columns: :meth:`load` builds the whole logbook (every atom's
        results, failures and meta decoded from JSON), which was half of
        the CPU of ``GET /v1/operations/{id}``. The flow detail's uuid is
        the operation id (:meth:`create`)."""
        atoms = self._tables.atomdetails
        query = sa.select(atoms.c.name, atoms.c.state).where(
            atoms.c.parent_uuid == operation_id)
        with self.backend.engine.connect() as conn:
            return {name: state for name, state in conn.execute(query)}

    @property
    def _tables(self):
        if self._atom_tables is None:
            self._atom_tables = tables.fetch(sa.MetaData())
        return self._atom_tables

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

    def reset_attempts(self, operation_id):
        """Start counting the operation's starts again (someone asked for
        it to be run once more: a resume or an abort)."""
        _book, detail = self.load(operation_id)
        detail.meta.pop("attempts", None)
        detail.meta.pop("last_error", None)
        with self._connection() as conn:
            conn.update_flow_details(detail)

    def size(self, operation_id):
        """Bytes the operation's atom details hold (for the benchmarks)."""
        _book, detail = self.load(operation_id)
        total = 0
        for atom in detail:
            total += len(repr(atom.to_dict()))
        return total
