"""Read leases: a restore or verify holds one on its checkpoint while it
runs, so that a delete or a plan's retention does not remove the
checkpoint under it.

A lease is one row of ``stackvault_checkpoint_leases`` in the persistence
database, next to the operation that holds it:

``checkpoint_id``  the checkpoint being read
``operation_id``   the operation reading it (restore, verify)
``kind``           that operation's kind, for the refusal's message
``holder``         ``host:pid`` of the process that took or renewed it
``expires_at``     epoch seconds; the operation's heartbeat (every few
                   seconds, :mod:`protection.operations.runner`) moves it
                   to ``now + [persistence] owner_timeout``

The table is made by migration 0004 (:mod:`protection.db.migrate`).
A lease is live until ``expires_at``: a reader that died stops renewing
it, and after ``owner_timeout`` it no longer holds anything. It ends with
its operation (:meth:`protection.operations.store.OperationStore.finish`).
Leases live in the database: two deployments that share only a bank do
not see each other's (doc/operations.rst, "Read leases").
"""

import dataclasses
import datetime
import os
import socket
import time

import sqlalchemy as sa

from protection import exceptions

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_checkpoint_leases", _META,
    sa.Column("checkpoint_id", sa.String(64), primary_key=True),
    sa.Column("operation_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
)


@dataclasses.dataclass(frozen=True)
class Lease:
    checkpoint_id: str
    operation_id: str
    kind: str
    holder: str
    expires_at: float


def _iso(epoch):
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).isoformat(timespec="seconds")


def _holder():
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseStore:
    """The leases table on a SQLAlchemy engine; a lease lives ``ttl``
    seconds past its last renewal."""

    def __init__(self, engine, ttl):
        self.engine = engine
        self.ttl = ttl

    def take(self, checkpoint_id, operation_id, kind, now=None):
        """Lease ``checkpoint_id`` to ``operation_id`` (again: renewed)."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            conn.execute(TABLE.delete().where(
                TABLE.c.checkpoint_id == checkpoint_id,
                TABLE.c.operation_id == operation_id))
            conn.execute(TABLE.insert().values(
                checkpoint_id=checkpoint_id, operation_id=operation_id,
                kind=kind, holder=_holder(), expires_at=now + self.ttl))

    def renew(self, operation_id, now=None, conn=None):
        """Push back the expiry of every lease ``operation_id`` holds (its
        heartbeat; a lease that expired meanwhile is live again); in
        ``conn``'s transaction when given."""
        now = time.time() if now is None else now
        update = TABLE.update().where(
            TABLE.c.operation_id == operation_id).values(
                expires_at=now + self.ttl, holder=_holder())
        if conn is not None:
            conn.execute(update)
            return
        with self.engine.begin() as conn:
            conn.execute(update)

    def release(self, operation_id):
        """End every lease of ``operation_id`` (it ended)."""
        with self.engine.begin() as conn:
            conn.execute(TABLE.delete().where(
                TABLE.c.operation_id == operation_id))

    def live(self, checkpoint_id, now=None):
        """The leases on ``checkpoint_id`` that have not expired."""
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            rows = conn.execute(TABLE.select().where(
                TABLE.c.checkpoint_id == checkpoint_id,
                TABLE.c.expires_at > now).order_by(
                    TABLE.c.expires_at)).mappings().all()
        return [Lease(**row) for row in rows]

    def refuse_if_leased(self, checkpoint_id, now=None):
        """Raise CheckpointLeased naming the reader while one is live."""
        found = self.live(checkpoint_id, now)
        if found:
            lease = found[-1]
            raise exceptions.CheckpointLeased(
                f"checkpoint {checkpoint_id} is being read by {lease.kind} "
                f"operation {lease.operation_id} ({lease.holder}, lease "
                f"renewed until {_iso(lease.expires_at)}): delete it once "
                "that operation ends")

