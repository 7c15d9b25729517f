"""Operations: every protect, restore, delete and verify, recorded durably.

An operation is one row of the ``stackvault_operations`` table, in the
same database as its persisted TaskFlow flow (:mod:`flows.persistence`):

``id``           shown when it starts and in ``-f json`` (operation_id)
``kind``         protect | restore | delete | verify
``checkpoint``   the checkpoint it works on
``args``         JSON: everything needed to build its flow again (cloud
                 names, parameters, policy); never credentials
``status``       queued (posted to the jobboard, no conductor has it
                 yet) | running | succeeded | failed | aborted (a running
                 one whose owner is gone is shown as ``interrupted``)
``owner``        host and pid of the process running it; ``heartbeat``
                 when that process last said it was alive
``journal``      JSON: atom name -> id of what that atom created, written
                 the moment the API returns it
``restored``     JSON: ``TYPE#ORIGINAL_ID`` -> new id (restore)
``left_behind``  JSON: what a failed rollback or ``keep`` left in the cloud
``result``       JSON: the operation's final report
``project_id``   the project (and ``user_id`` the user) it runs for, from
                 the caller's token through the API; ``NULL`` for the
                 embedded CLI and for rows written before these columns
                 (added to an older table by a migration,
                 :mod:`protection.db.migrate`)

Only the owner writes a running operation; ``resume`` and ``abort`` take
it over only when its owner is gone (same host: the pid is dead; another
host: no heartbeat for ``owner_timeout`` seconds).
"""

import datetime
import json
import os
import socket
import threading
import time
import uuid

import sqlalchemy as sa

from protection.checkpoint import owner as owners
from protection import exceptions
from protection.db import migrate
from protection.operations import leases as leases_mod

QUEUED = "queued"
RUNNING = "running"
INTERRUPTED = "interrupted"
SUCCEEDED = "succeeded"
FAILED = "failed"
ABORTED = "aborted"
FINAL = (SUCCEEDED, FAILED, ABORTED)

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_operations", _META,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("checkpoint", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner_host", sa.String(255)),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("heartbeat", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("journal", sa.Text, nullable=False, default="{}"),
    sa.Column("restored", sa.Text, nullable=False, default="{}"),
    sa.Column("left_behind", sa.Text, nullable=False, default="{}"),
    sa.Column("result", sa.Text),
    sa.Column("project_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(64), nullable=True),
)
_JSON = ("args", "journal", "restored", "left_behind", "result")


class OperationNotFound(exceptions.StackvaultError):
    def __init__(self, operation_id):
        super().__init__(f"operation {operation_id} does not exist")


class OperationBusy(exceptions.StackvaultError):
    """The operation's owner is alive: it is not ours to take."""


def iso(epoch):
    """Epoch seconds as ISO 8601 in UTC (``None`` stays ``None``)."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).isoformat(timespec="seconds")


_iso = iso


class Operation:
    """One row, decoded."""

    def __init__(self, row, owner_timeout):
        self.__dict__.update({k: row[k] for k in row.keys()})
        for key in _JSON:
            value = getattr(self, key)
            setattr(self, key, json.loads(value) if value else None)
        self._owner_timeout = owner_timeout

    def owner_alive(self, now=None):
        if self.status in FINAL or self.owner_pid is None:
            return False
        if self.owner_host == socket.gethostname():
            return owners.pid_alive(self.owner_pid)
        now = time.time() if now is None else now
        return (now - (self.heartbeat or 0)) < self._owner_timeout

    @property
    def shown_status(self):
        if self.status == RUNNING and not self.owner_alive():
            return INTERRUPTED
        return self.status

    def to_dict(self):
        return {
            "operation_id": self.id, "kind": self.kind,
            "checkpoint_id": self.checkpoint, "status": self.shown_status,
            "owner": f"{self.owner_host}:{self.owner_pid}",
            "heartbeat": _iso(self.heartbeat),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "args": self.args, "created": self.journal,
            "restored": self.restored, "left_behind": self.left_behind,
            "result": self.result,
            "project_id": self.project_id, "user_id": self.user_id,
        }


class OperationStore:
    """The operations table on a SQLAlchemy engine."""

    def __init__(self, engine, owner_timeout=30.0):
        self.engine = engine
        self.owner_timeout = owner_timeout
        self._lock = threading.Lock()
        migrate.upgrade(engine)
        # Read leases on checkpoints (restore, verify) live and die with
        # the operation that holds them: renewed by its heartbeat, ended
        # with it.
        self.leases = leases_mod.LeaseStore(engine, owner_timeout)

    def _update(self, operation_id, **values):
        values["updated_at"] = time.time()
        for key in _JSON:
            if key in values:
                values[key] = json.dumps(values[key], sort_keys=True)
        with self.engine.begin() as conn:
            conn.execute(TABLE.update().where(TABLE.c.id == operation_id)
                         .values(**values))

    def create(self, kind, checkpoint_id, args, project_id=None,
               user_id=None):
        operation_id = str(uuid.uuid4())
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(TABLE.insert().values(
                id=operation_id, kind=kind, checkpoint=checkpoint_id,
                status=RUNNING, owner_host=socket.gethostname(),
                owner_pid=os.getpid(), heartbeat=now, created_at=now,
                updated_at=now, args=json.dumps(args, sort_keys=True),
                journal="{}", restored="{}", left_behind="{}",
                project_id=project_id, user_id=user_id))
        return self.get(operation_id)

    def get(self, operation_id):
        with self.engine.connect() as conn:
            row = conn.execute(TABLE.select().where(
                TABLE.c.id == operation_id)).mappings().first()
        if row is None:
            raise OperationNotFound(operation_id)
        return Operation(row, self.owner_timeout)

    def list(self, project_id=None):
        """Every operation, oldest first; ``project_id``: only that
        project's."""
        query = TABLE.select().order_by(TABLE.c.created_at)
        if project_id is not None:
            query = query.where(TABLE.c.project_id == project_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Operation(row, self.owner_timeout) for row in rows]

    def protected_here(self, checkpoint_id):
        """Whether a protect recorded in this database made the
        checkpoint (ended operations are pruned after ``[persistence]
        prune_after_days``)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(TABLE.c.id).where(
                TABLE.c.kind == "protect",
                TABLE.c.checkpoint == checkpoint_id).limit(1)).first()
        return found is not None

    def set_checkpoint(self, operation_id, checkpoint_id):
        self._update(operation_id, checkpoint=checkpoint_id)

    def take_over(self, operation_id):
        """Make this process the owner of an operation whose owner is
        gone; raise OperationBusy when it is alive, or when it ended."""
        with self._lock:
            op = self.get(operation_id)
            if op.status in FINAL:
                raise OperationBusy(
                    f"operation {operation_id} has already ended "
                    f"({op.status})")
            if op.owner_alive():
                raise OperationBusy(
                    f"operation {operation_id} is still running in process "
                    f"{op.owner_pid} on {op.owner_host}: resume or abort it "
                    "only once that process has stopped")
            self._update(operation_id, owner_host=socket.gethostname(),
                         owner_pid=os.getpid(), heartbeat=time.time(),
                         status=RUNNING)
        self.leases.renew(operation_id)
        return self.get(operation_id)

    def release(self, operation_id):
        """Give up ownership of a running operation (it was interrupted):
        it is ``interrupted`` at once, for any process to resume."""
        self._update(operation_id, owner_host=None, owner_pid=None)

    def queue(self, operation_id):
        """Hand the operation to the jobboard: no owner until a conductor
        takes it over."""
        self._update(operation_id, status=QUEUED, owner_host=None,
                     owner_pid=None)

    def heartbeat(self, operation_id):
        """The owner is alive; its read leases are renewed in the same
        transaction (one write per beat)."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(TABLE.update().where(TABLE.c.id == operation_id)
                         .values(heartbeat=now, updated_at=now))
            self.leases.renew(operation_id, now, conn)

    def record_created(self, operation_id, atom_name, new_id):
        """Journal what an atom created, at once (see module doc)."""
        with self._lock:
            journal = self.get(operation_id).journal
            journal[atom_name] = new_id
            self._update(operation_id, journal=journal)

    def forget_created(self, operation_id, atom_name):
        with self._lock:
            journal = self.get(operation_id).journal
            if journal.pop(atom_name, None) is not None:
                self._update(operation_id, journal=journal)

    def save_restored(self, operation_id, restored):
        with self._lock:
            self._update(operation_id, restored=restored)

    def finish(self, operation_id, status, result, left_behind=None):
        values = {"status": status, "result": result}
        if left_behind is not None:
            values["left_behind"] = left_behind
        self._update(operation_id, **values)
        self.leases.release(operation_id)

    def prune(self, older_than_seconds, now=None):
        """Delete ended operations older than the age; return their ids."""
        limit = (time.time() if now is None else now) - older_than_seconds
        with self.engine.begin() as conn:
            ids = [r.id for r in conn.execute(
                sa.select(TABLE.c.id).where(
                    TABLE.c.status.in_(FINAL),
                    TABLE.c.updated_at < limit))]
            if ids:
                conn.execute(TABLE.delete().where(TABLE.c.id.in_(ids)))
        return ids
