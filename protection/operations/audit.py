"""The audit trail: who deleted, pruned, aborted or undid what, when, and
how it ended (issue #23, item 10).

Each destructive action leaves one row in the ``stackvault_audit`` table
of the persistence database and one line on the ``stackvault.audit``
logger (an operator can send that logger to its own file or to syslog:
doc/security.rst). A record holds:

``at``          when the action was asked for (epoch seconds)
``actor``       who: ``os-user@host`` for the embedded CLI, ``user
                <user_id> project <project_id>`` through the API (or when
                the cloud connection names them)
``action``      delete | prune | abort | undo
``target``      the checkpoint (delete, prune, undo) or operation (abort)
``checkpoint``  the checkpoint it concerns
``resources``   how many resources it concerned, when known
``outcome``     succeeded | failed | refused | started (running in the
                background: its end is the operation's own record)
``detail``      the reason or the failures, and what was left in the
                cloud (ids only)

Never a secret: records hold ids and reasons, and every text passes
through oslo.utils' ``mask_password`` (a cloud error quoting a request
body, for example).
"""

import dataclasses
import getpass
import json
import logging
import socket
import time
import typing
import uuid

import sqlalchemy as sa
from oslo_utils import strutils


LOG = logging.getLogger("stackvault.audit")

DELETE, PRUNE, ABORT, UNDO = "delete", "prune", "abort", "undo"
# Not destructive, but a trust decision: what the bank key vouches for.
SIGN = "sign"
SUCCEEDED, FAILED, REFUSED, STARTED = ("succeeded", "failed", "refused",
                                       "started")

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_audit", _META,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("at", sa.Double(), nullable=False, index=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("project_id", sa.String(64), nullable=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("target", sa.String(64), nullable=True),
    sa.Column("checkpoint", sa.String(64), nullable=True),
    sa.Column("resources", sa.Integer, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
)


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts: a name to show, and the Keystone ids when known."""

    who: str
    project_id: typing.Optional[str] = None
    user_id: typing.Optional[str] = None

    @classmethod
    def local(cls):
        """The operating-system user of this process, on this host."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):      # no passwd entry (a container)
            user = "uid-unknown"
        return cls(f"{user}@{socket.gethostname()}")

    @classmethod
    def of(cls, tenancy=None, conn=None):
        """From the caller's ``tenancy`` (the API's token), else from the
        cloud connection's session, else the local user."""
        project = getattr(tenancy, "project_id", None)
        user = getattr(tenancy, "user_id", None)
        if user is None and conn is not None:
            user = _known(conn, "current_user_id")
            project = _known(conn, "current_project_id")
        if user is None and project is None:
            return cls.local()
        return cls(f"user {user} project {project}", project, user)


def _known(conn, name):
    """A connection's attribute, only if it is already a plain string
    (reading it must not authenticate, nor fail the action)."""
    try:
        value = getattr(conn, name, None)
    except Exception:  # noqa: BLE001 - unknown is fine
        return None
    return value if isinstance(value, str) else None


def scrub(text):
    """``text`` on one line, with anything that looks like a password or
    token masked."""
    if text is None:
        return None
    return " ".join(strutils.mask_password(str(text)).split())


@dataclasses.dataclass
class Record:
    actor: Actor
    action: str
    target: typing.Optional[str]
    outcome: str
    checkpoint: typing.Optional[str] = None
    resources: typing.Optional[int] = None
    detail: typing.Optional[str] = None
    at: float = dataclasses.field(default_factory=time.time)
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

    def line(self):
        """The record as the ``stackvault.audit`` logger writes it."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self):
        return {"id": self.id, "at": _iso(self.at), "actor": self.actor.who,
                "project_id": self.actor.project_id,
                "user_id": self.actor.user_id, "action": self.action,
                "target": self.target, "checkpoint": self.checkpoint,
                "resources": self.resources, "outcome": self.outcome,
                "detail": self.detail}


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class AuditLog:
    """The audit table on a SQLAlchemy engine."""

    def __init__(self, engine):
        self.engine = engine      # the table: migration 0005

    def write(self, record):
        """Log ``record`` and store it. The log line comes first: if the
        database fails, the record is still in the log (and the failure
        is logged), and the action it records is not failed by it."""
        record.detail = scrub(record.detail)
        LOG.info("%s", record.line())
        try:
            with self.engine.begin() as conn:
                conn.execute(TABLE.insert().values(
                    id=record.id, at=record.at, actor=record.actor.who,
                    project_id=record.actor.project_id,
                    user_id=record.actor.user_id, action=record.action,
                    target=record.target, checkpoint=record.checkpoint,
                    resources=record.resources, outcome=record.outcome,
                    detail=record.detail))
        except sa.exc.SQLAlchemyError as exc:
            LOG.error("audit record %s not stored: %s", record.id, exc)

    def list(self, limit=None):
        """Records, newest first (at most ``limit``)."""
        query = TABLE.select().order_by(TABLE.c.at.desc(), TABLE.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).fetchall()
        return [Record(Actor(r.actor, r.project_id, r.user_id), r.action,
                       r.target, r.outcome, r.checkpoint, r.resources,
                       r.detail, r.at, r.id) for r in rows]
