"""The checkpoint catalog: one row per checkpoint of the bank, in the
persistence database, so that a list costs its page and not the bank.

The bank stays the truth (``checkpoint show``, restore, delete and verify
read it); the catalog is an index of it, kept by the checkpoint store
(:class:`protection.checkpoint.store.CheckpointStore`): a row is written
each time a checkpoint's index is (created ``protecting``, committed
``available`` or failed ``error``, claimed ``deleting``, failed
``error_deleting``, adopted, and each heartbeat of its owner), and removed
when the checkpoint is. A checkpoint written by an older release or by
another deployment sharing the bank, or a row left by a process that died
between the bank and the database, is drift: :meth:`Catalog.rebuild`
makes the catalog the bank's again, and is safe to run at any time.

Columns: ``id``, ``project_id``, ``user_id``, ``plan_id`` (for a
checkpoint written before format 2, the plan name its request records),
``name``, ``status`` (as stored: ``interrupted`` is worked out when
shown, from ``owner`` and ``updated_at``), ``created_at`` and
``updated_at`` (epoch seconds), ``size`` (bytes of the objects its
manifest lists), ``resource_count``, ``owner`` (JSON, while protecting
or deleting) and ``recorded_at`` (when the row was written: a rebuild
leaves a row written after it listed the bank).
"""

import datetime
import json
import logging
import time

import sqlalchemy as sa

from protection.checkpoint import owner as owners
from protection.db import migrate

LOG = logging.getLogger(__name__)

# The request tag that named the plan before format 2 recorded plan_id
# (protection.plans.retention.PLAN_NAME; a test keeps them equal).
PLAN_NAME_TAG = "plan_name"
PROTECTING = "protecting"
INTERRUPTED = "interrupted"
DAMAGED = "damaged"
SORT_KEYS = ("created_at", "name", "status")
REBUILT = "rebuilt_at"

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_checkpoints", _META,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("project_id", sa.String(64)),
    sa.Column("user_id", sa.String(64)),
    sa.Column("plan_id", sa.String(255)),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("resource_count", sa.Integer, nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("recorded_at", sa.Double(), nullable=False),
    sa.Index("ix_stackvault_checkpoints_project_id_created_at_id",
             "project_id", "created_at", "id"),
    sa.Index("ix_stackvault_checkpoints_created_at_id", "created_at", "id"),
    sa.Index("ix_stackvault_checkpoints_project_id_status",
             "project_id", "status"),
    sa.Index("ix_stackvault_checkpoints_project_id_plan_id",
             "project_id", "plan_id"),
)
STATE = sa.Table(
    "stackvault_catalog_state", _META,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Double(), nullable=False),
)


class MarkerNotFound(LookupError):
    """The marker of a page is not a row of this list."""


def epoch(timestamp):
    """An index's ISO 8601 time as epoch seconds (0 when unreadable)."""
    try:
        moment = datetime.datetime.fromisoformat(str(timestamp))
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def iso(seconds):
    return datetime.datetime.fromtimestamp(
        seconds, datetime.timezone.utc).isoformat(timespec="seconds")


def row_of(checkpoint):
    """The catalog row of a checkpoint as read from (or written to) the
    bank; a damaged one is listed ``damaged`` with what can be read."""
    index = checkpoint.index if isinstance(checkpoint.index, dict) else {}
    readable = checkpoint.index_readable
    graph = index.get("graph") if readable else None
    nodes = graph.get("nodes", []) if isinstance(graph, dict) else []
    plan_id = (checkpoint.plan_id or checkpoint.request.get(PLAN_NAME_TAG)) \
        if readable else None
    owner = checkpoint.owner
    return {
        "id": checkpoint.id,
        "project_id": _text(checkpoint.project_id, 64),
        "user_id": _text(index.get("user_id") if readable else None, 64),
        "plan_id": _text(plan_id, 255),
        "name": _text(checkpoint.name, 255) or "",
        "status": checkpoint.status,
        "created_at": epoch(index.get("created_at")),
        "updated_at": epoch(index.get("updated_at")),
        "size": sum(int(o.get("size") or 0) for o in
                    checkpoint.manifest.objects().values()),
        "resource_count": len(nodes) if isinstance(nodes, list) else 0,
        "owner": json.dumps(owner, sort_keys=True)
        if isinstance(owner, dict) else None,
        "recorded_at": time.time(),
    }


def _text(value, length):
    return None if value is None else str(value)[:length]


def summary(row, owner_timeout=owners.DEFAULT_OWNER_TIMEOUT):
    """A row as ``checkpoint list`` and ``GET /v1/checkpoints`` show it:
    the keys of :meth:`~protection.checkpoint.store.Checkpoint.to_summary`
    plus ``user_id``, ``updated_at`` and ``size``."""
    status = row["status"]
    if status == PROTECTING:
        owner = json.loads(row["owner"]) if row["owner"] else None
        if not owners.is_alive(owner, iso(row["updated_at"]),
                               owner_timeout):
            status = INTERRUPTED
    return {
        "id": row["id"], "name": row["name"], "status": status,
        "created_at": iso(row["created_at"]),
        "resources": row["resource_count"],
        "project_id": row["project_id"], "plan_id": row["plan_id"],
        "user_id": row["user_id"], "updated_at": iso(row["updated_at"]),
        "size": row["size"],
    }


class Catalog:
    """The catalog table on a SQLAlchemy engine (migrated on open)."""

    def __init__(self, engine, owner_timeout=owners.DEFAULT_OWNER_TIMEOUT):
        self.engine = engine
        self.owner_timeout = owner_timeout
        self._built = False
        migrate.upgrade(engine)

    # -- kept by the checkpoint store ---------------------------------------
    def record(self, checkpoint):
        """Write the checkpoint's row (insert or replace)."""
        self._upsert([row_of(checkpoint)])

    def forget(self, checkpoint_id):
        with self.engine.begin() as conn:
            conn.execute(TABLE.delete().where(TABLE.c.id == checkpoint_id))

    def mark_damaged(self, checkpoint_id, read_at):
        """A read of the bank that began at ``read_at`` (epoch) found the
        checkpoint damaged (a forged, truncated or unsigned index or
        manifest): its row, if it has one, is listed ``damaged`` from now
        on. Only the status changes: project, plan and name stay what an
        intact index recorded, never what a damaged one claims. A row
        recorded since the read began is left: the read may have caught a
        writer between the index and its hash, and the writer's row is
        newer than what it saw."""
        with self.engine.begin() as conn:
            conn.execute(TABLE.update().where(
                (TABLE.c.id == checkpoint_id)
                & (TABLE.c.status != DAMAGED)
                & (TABLE.c.recorded_at < read_at)
            ).values(status=DAMAGED))

    def _upsert(self, rows, conn=None):
        if conn is None:
            with self.engine.begin() as conn:
                return self._upsert(rows, conn)
        ids = [row["id"] for row in rows]
        for start in range(0, len(ids), 500):
            conn.execute(TABLE.delete().where(
                TABLE.c.id.in_(ids[start:start + 500])))
        if rows:
            conn.execute(TABLE.insert(), rows)

    # -- rebuilt from the bank ------------------------------------------------
    def rebuilt_at(self):
        """When :meth:`rebuild` last ended (epoch), ``None``: never."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(STATE.c.value).where(
                STATE.c.name == REBUILT)).scalar()

    def rebuild(self, store):
        """Make the catalog list what ``store``'s bank holds, as it is
        there: rows of checkpoints that are gone are removed, missing
        ones added, the others rewritten. Returns ``{"added", "updated",
        "removed", "total"}`` (counts). Safe to re-run, and to run while
        operations run: a row written since the bank was listed (by an
        operation, which keeps it) is neither removed nor overwritten
        with what the listing saw before."""
        started = time.time()
        rows = [row_of(checkpoint) for checkpoint in store.list()]
        with self.engine.begin() as conn:
            known = dict(conn.execute(
                sa.select(TABLE.c.id, TABLE.c.recorded_at)).all())
            listed = {row["id"] for row in rows}
            gone = sorted(i for i, recorded in known.items()
                          if i not in listed and recorded < started)
            for start in range(0, len(gone), 500):
                conn.execute(TABLE.delete().where(
                    TABLE.c.id.in_(gone[start:start + 500])))
            self._upsert([row for row in rows
                          if known.get(row["id"], -1.0) < started], conn)
            conn.execute(STATE.delete().where(STATE.c.name == REBUILT))
            conn.execute(STATE.insert().values(name=REBUILT,
                                               value=time.time()))
        return {"added": len(listed - set(known)),
                "updated": len(listed & set(known)),
                "removed": len(gone), "total": len(listed)}

    def built_from(self, store):
        """Rebuild from ``store`` when the catalog never was (a database
        upgraded to the catalog's revision, or a new one): the first list
        after an upgrade shows the checkpoints written before. Returns
        the rebuild's counts, or ``None`` when it was built already.

        Once seen built, not asked again by this object: a catalog stays
        built (a rebuild replaces its mark in one transaction), and the
        query was a tenth of the CPU of a page."""
        if self._built or self.rebuilt_at() is not None:
            self._built = True
            return None
        counts = self.rebuild(store)
        self._built = True
        LOG.info("checkpoint catalog built from the bank: %s", counts)
        return counts

    # -- read -----------------------------------------------------------------
    def page(self, project_id=None, filters=None, sort="created_at",
             descending=False, limit=None, marker=None):
        """``(summaries, more)``: one page of rows, ``limit`` of them after
        ``marker`` (a checkpoint id of the same list), in ``sort`` order
        then by id, so rows with equal keys keep one order across pages.
        ``project_id``: only that project's (``None``: every project's).
        ``filters``: column -> value among status, plan_id, name (a tuple
        of values: any of them). Raises MarkerNotFound for a marker not in
        the list."""
        if sort not in SORT_KEYS:
            raise ValueError(f"cannot sort checkpoints by {sort!r}")
        where = [TABLE.c[name].in_(value) if isinstance(value, tuple)
                 else TABLE.c[name] == value
                 for name, value in (filters or {}).items()]
        if project_id is not None:
            where.append(TABLE.c.project_id == project_id)
        key, tie = TABLE.c[sort], TABLE.c.id
        query = sa.select(TABLE).where(*where)
        with self.engine.connect() as conn:
            if marker is not None:
                query = query.where(self._after(conn, where, key, tie,
                                                marker, descending))
            order = (key.desc(), tie.desc()) if descending else (key, tie)
            query = query.order_by(*order)
            if limit is not None:
                query = query.limit(limit + 1)
            rows = conn.execute(query).mappings().all()
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return [summary(row, self.owner_timeout) for row in rows], more

    @staticmethod
    def _after(conn, where, key, tie, marker, descending):
        """The condition of the rows after the marker's row."""
        found = conn.execute(sa.select(key).where(
            TABLE.c.id == marker, *where)).first()
        if found is None:
            raise MarkerNotFound(marker)
        value = found[0]
        # The leading bound lets the database seek in its index instead
        # of testing every row against the OR.
        if descending:
            return sa.and_(key <= value, sa.or_(key < value, tie < marker))
        return sa.and_(key >= value, sa.or_(key > value, tie > marker))

    def count(self):
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(TABLE)).scalar()
