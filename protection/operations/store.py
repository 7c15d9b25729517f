"""Operations: every protect, restore, delete and verify, recorded durably.

An operation is one row of the ``stackvault_operations`` table, in the
same database as its persisted TaskFlow flow (:mod:`flows.persistence`):

``id``           shown when it starts and in ``-f json`` (operation_id)
``kind``         protect | restore | delete | verify
``checkpoint``   the checkpoint it works on
``args``         JSON: everything needed to build its flow again (cloud
                 names, parameters, policy) and what it acts with: a
                 ``clouds.yaml`` name (``cloud``) or a Keystone trust's
                 id and expiry (``trust_id``, ``trust_expires_at``: the
                 API's operations with a jobboard); never credentials.
                 ``trust_lent_by``: the trust is that operation's, lent
                 (a plan run's retention deletes act with its protect's
                 trust) and deleted only when that one ends.
                 ``follow_up``: what a hook does once the operation ended
                 (a posted plan run's retention and record,
                 :meth:`protection.service.facade.ProtectionService.
                 follow_up`); the operation's trust is kept until it is
                 done, then the key is renamed ``followed_up``
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
``generation``   the fencing token: bumped by every change of owner

Only the owner writes a running operation; ``resume`` and ``abort`` take
it over only when its owner is gone (same host: the pid is dead; another
host: no heartbeat for ``owner_timeout`` seconds).

Fencing. Every change of owner (create, take over, queue, release) is a
compare-and-swap on the row, ``UPDATE ... WHERE id = ? AND generation =
?``, that bumps ``generation``: of two processes that both saw the owner
dead, exactly one gets the operation, whatever their hosts (a lock in
one process could not decide that). The owner keeps the generation it
got; its heartbeats and its final write carry it and fail
(:class:`OwnershipLost`) once another process has moved it, and its
runner checks it before each task (:mod:`protection.operations.fence`).
"""

import datetime
import json
import os
import socket
import threading
import time
import uuid

import sqlalchemy as sa

from protection import exceptions
from protection import heartbeat as heartbeats
from protection.db import migrate
from protection.operations import leases as leases_mod

QUEUED = "queued"
RUNNING = "running"
INTERRUPTED = "interrupted"
SUCCEEDED = "succeeded"
FAILED = "failed"
ABORTED = "aborted"
FINAL = (SUCCEEDED, FAILED, ABORTED)
# ``args`` keys of the trust an operation acts with (see the module doc).
TRUST_LENT_BY = "trust_lent_by"
FOLLOW_UP = "follow_up"
FOLLOWED_UP = "followed_up"


def trust_to_end(args, now=None):
    """The id of the trust an operation that ended must delete: its own
    (not one lent by another operation), and not while a follow-up still
    needs it (unless it expired: ``now`` epoch seconds); else ``None``."""
    args = args or {}
    trust_id = args.get("trust_id")
    if not trust_id or args.get(TRUST_LENT_BY):
        return None
    if FOLLOW_UP in args and (now is None or
                              now <= (args.get("trust_expires_at") or 0)):
        return None
    return trust_id

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_operations", _META,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("checkpoint", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner_host", sa.String(255)),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("heartbeat", sa.Double()),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("journal", sa.Text, nullable=False, default="{}"),
    sa.Column("restored", sa.Text, nullable=False, default="{}"),
    sa.Column("left_behind", sa.Text, nullable=False, default="{}"),
    sa.Column("result", sa.Text),
    sa.Column("project_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("generation", sa.Integer, nullable=True),
)
_JSON = ("args", "journal", "restored", "left_behind", "result")


class OperationNotFound(exceptions.StackvaultError):
    def __init__(self, operation_id):
        super().__init__(f"operation {operation_id} does not exist")


class OperationBusy(exceptions.StackvaultError):
    """The operation's owner is alive: it is not ours to take."""


class OwnershipLost(exceptions.OperationError):
    """This process no longer owns the operation: another one took it
    over (its generation moved), or this one could not prove it still
    owns it (heartbeats failed for too long). Nothing more of the
    operation may be done here."""

    def __init__(self, operation_id, reason):
        super().__init__(f"operation {operation_id} is no longer this "
                         f"process's: {reason}")
        self.operation_id = operation_id


def iso(epoch):
    """Epoch seconds as ISO 8601 in UTC (``None`` stays ``None``)."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).isoformat(timespec="seconds")


_iso = iso


class Operation:
    """One row, decoded."""

    def __init__(self, row, owner_timeout, host=None):
        self.__dict__.update({k: row[k] for k in row.keys()})
        for key in _JSON:
            value = getattr(self, key)
            setattr(self, key, json.loads(value) if value else None)
        self.generation = self.generation or 0
        self._owner_timeout = owner_timeout
        self._host = host or socket.gethostname()

    def owner_alive(self, now=None):
        if self.status in FINAL or self.owner_pid is None:
            return False
        now = time.time() if now is None else now
        return heartbeats.owner_alive(
            self.owner_host, self.owner_pid, now - (self.heartbeat or 0),
            self._owner_timeout, self._host)

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
            "generation": self.generation,
        }


class OperationStore:
    """The operations table on a SQLAlchemy engine."""

    def __init__(self, engine, owner_timeout=30.0, host=None):
        self.engine = engine
        self.owner_timeout = owner_timeout
        # The name this process's rows carry as owner_host ([persistence]
        # host): the pid check applies only to owners of the same name.
        self.host = host or socket.gethostname()
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
                status=RUNNING, owner_host=self.host,
                owner_pid=os.getpid(), heartbeat=now, created_at=now,
                updated_at=now, args=json.dumps(args, sort_keys=True),
                journal="{}", restored="{}", left_behind="{}",
                project_id=project_id, user_id=user_id, generation=0))
        return self.get(operation_id)

    def get(self, operation_id):
        with self.engine.connect() as conn:
            row = conn.execute(TABLE.select().where(
                TABLE.c.id == operation_id)).mappings().first()
        if row is None:
            raise OperationNotFound(operation_id)
        return Operation(row, self.owner_timeout, self.host)

    def list(self, project_id=None):
        """Every operation, oldest first; ``project_id``: only that
        project's."""
        query = TABLE.select().order_by(TABLE.c.created_at)
        if project_id is not None:
            query = query.where(TABLE.c.project_id == project_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Operation(row, self.owner_timeout, self.host)
                for row in rows]

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

    def _swap(self, operation_id, generation, **values):
        """The compare-and-swap every change of owner is: write
        ``values`` and bump the generation only if it is still
        ``generation``; the new generation, or ``None`` when another
        process moved it first."""
        values.update(generation=generation + 1, updated_at=time.time())
        with self.engine.begin() as conn:
            swapped = conn.execute(
                TABLE.update().where(TABLE.c.id == operation_id,
                                     TABLE.c.generation == generation)
                .values(**values)).rowcount
        return generation + 1 if swapped == 1 else None

    def take_over(self, operation_id, reopen=False):
        """Make this process the owner of an operation whose owner is
        gone; raise OperationBusy when it is alive, when it ended (unless
        ``reopen``: a given-up operation being aborted), or when another
        process took it over between the look and the swap."""
        op = self.get(operation_id)
        if op.status in FINAL and not (reopen and op.status == FAILED):
            raise OperationBusy(
                f"operation {operation_id} has already ended "
                f"({op.status})")
        if op.owner_alive():
            raise OperationBusy(
                f"operation {operation_id} is still running in process "
                f"{op.owner_pid} on {op.owner_host}: resume or abort it "
                "only once that process has stopped")
        generation = self._swap(
            operation_id, op.generation, owner_host=self.host,
            owner_pid=os.getpid(), heartbeat=time.time(), status=RUNNING)
        taken = self.get(operation_id)
        if generation is None or taken.generation != generation:
            raise OperationBusy(
                f"operation {operation_id} was taken over by another "
                "process at the same moment; it runs there")
        self.leases.renew(operation_id)
        return taken

    def release(self, operation_id, generation):
        """Give up ownership of a running operation (it was interrupted):
        it is ``interrupted`` at once, for any process to resume. Only
        while this process's ``generation`` holds; whether it did."""
        return self._swap(operation_id, generation, owner_host=None,
                          owner_pid=None) is not None

    def release_mine(self, operation_id):
        """Release a running operation if this very process is still its
        recorded owner (host and pid): a compare-and-swap on the owner,
        bumping the generation. For a conductor whose run stopped while
        the database was away: whether it released it."""
        with self.engine.begin() as conn:
            released = conn.execute(
                TABLE.update().where(TABLE.c.id == operation_id,
                                     TABLE.c.status == RUNNING,
                                     TABLE.c.owner_host == self.host,
                                     TABLE.c.owner_pid == os.getpid())
                .values(owner_host=None, owner_pid=None,
                        generation=TABLE.c.generation + 1,
                        updated_at=time.time())).rowcount
        return released == 1

    def queue(self, op):
        """Hand the operation (as created by this process) to the
        jobboard: no owner until a conductor takes it over. Returns it
        with its new generation."""
        if self._swap(op.id, op.generation, status=QUEUED, owner_host=None,
                      owner_pid=None) is None:
            raise OwnershipLost(op.id, "it was taken over before it was "
                                       "queued")
        return self.get(op.id)

    def unqueue(self, op, status):
        """Take back :meth:`queue` of ``op`` (as queued by this process)
        whose job could not be posted: ``status`` again (``running``
        without an owner: interrupted; or ``failed``); whether it held."""
        return self._swap(op.id, op.generation, status=status) is not None

    def update_args(self, operation_id, changes=None, drop=()):
        """Set ``changes`` in the operation's ``args`` and remove the keys
        ``drop`` (what it acts with, a requested abort)."""
        with self._lock:
            args = dict(self.get(operation_id).args or {})
            for key in drop:
                args.pop(key, None)
            args.update(changes or {})
            self._update(operation_id, args=args)

    def follow_up_done(self, operation_id):
        """The operation's follow-up ran: ``follow_up`` becomes
        ``followed_up`` (its trust may now be deleted)."""
        with self._lock:
            args = dict(self.get(operation_id).args or {})
            if FOLLOW_UP not in args:
                return
            args[FOLLOWED_UP] = args.pop(FOLLOW_UP)
            self._update(operation_id, args=args)

    def forget_trust(self, operation_id, trust_id):
        """The operation's trust was deleted (or expired): its id leaves
        ``args`` (kept as ``ended_trust_id``), so no one tries it again;
        unless a newer trust replaced it meanwhile."""
        with self._lock:
            args = dict(self.get(operation_id).args or {})
            if args.get("trust_id") != trust_id:
                return
            del args["trust_id"]
            args["ended_trust_id"] = trust_id
            self._update(operation_id, args=args)

    def requeue(self, op):
        """A queued operation whose job is gone is posted again (the
        sweeper): whether this process won the right to post it."""
        return self._swap(op.id, op.generation, status=QUEUED) is not None

    def _fenced_update(self, operation_id, generation, **values):
        values["updated_at"] = time.time()
        for key in _JSON:
            if key in values:
                values[key] = json.dumps(values[key], sort_keys=True)
        with self.engine.begin() as conn:
            written = conn.execute(
                TABLE.update().where(TABLE.c.id == operation_id,
                                     TABLE.c.generation == generation)
                .values(**values)).rowcount
        if written != 1:
            raise OwnershipLost(operation_id, "another process took it "
                                f"over (generation {generation} moved)")

    def heartbeat(self, operation_id, generation):
        """Say the owner of ``generation`` is alive; OwnershipLost when
        the generation moved. Its read leases are renewed in the same
        transaction (one write per beat)."""
        now = time.time()
        with self.engine.begin() as conn:
            written = conn.execute(
                TABLE.update().where(TABLE.c.id == operation_id,
                                     TABLE.c.generation == generation)
                .values(heartbeat=now, updated_at=now)).rowcount
            if written != 1:
                raise OwnershipLost(operation_id, "another process took it "
                                    f"over (generation {generation} moved)")
            self.leases.renew(operation_id, now, conn)

    def check_generation(self, operation_id, generation):
        """Raise OwnershipLost unless the operation is still at
        ``generation`` (what the runner asks before each task)."""
        with self.engine.connect() as conn:
            current = conn.execute(
                sa.select(TABLE.c.generation).where(
                    TABLE.c.id == operation_id)).scalar()
        if (current or 0) != generation:
            raise OwnershipLost(operation_id, "another process took it "
                                f"over (generation {generation} -> "
                                f"{current})")

    def _edit_journal(self, operation_id, edit):
        """Apply ``edit(journal)`` (True: it changed) to the journal as a
        compare-and-swap on its text, again until no other writer came in
        between: a step still finishing in a process that lost the
        operation and the new owner's steps both keep their entries."""
        with self._lock:
            while True:
                with self.engine.connect() as conn:
                    text = conn.execute(sa.select(TABLE.c.journal).where(
                        TABLE.c.id == operation_id)).scalar()
                journal = json.loads(text or "{}")
                if not edit(journal):
                    return
                with self.engine.begin() as conn:
                    swapped = conn.execute(
                        TABLE.update().where(TABLE.c.id == operation_id,
                                             TABLE.c.journal == text)
                        .values(journal=json.dumps(journal, sort_keys=True),
                                updated_at=time.time())).rowcount
                if swapped == 1:
                    return

    def record_created(self, operation_id, atom_name, new_id):
        """Journal what an atom created, at once (see module doc)."""
        def add(journal):
            journal[atom_name] = new_id
            return True
        self._edit_journal(operation_id, add)

    def forget_created(self, operation_id, atom_name):
        self._edit_journal(
            operation_id,
            lambda journal: journal.pop(atom_name, None) is not None)

    def save_restored(self, operation_id, restored):
        with self._lock:
            self._update(operation_id, restored=restored)

    def finish(self, operation_id, status, result, left_behind=None,
               generation=None):
        """Record the operation's end; with ``generation``, only while it
        holds (else OwnershipLost: the new owner ends it)."""
        values = {"status": status, "result": result}
        if left_behind is not None:
            values["left_behind"] = left_behind
        if generation is None:
            self._update(operation_id, **values)
        else:
            self._fenced_update(operation_id, generation, **values)
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
