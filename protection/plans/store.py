"""Plans: what to protect, when, and how many checkpoints to keep.

A plan is one row of the ``stackvault_plans`` table, in the persistence
database next to ``stackvault_operations``
(:mod:`protection.operations.store`):

``name``             the plan's name (unique), also in its checkpoints'
                     ``index.json`` (``plan.plan_name``), for people
``id``               the plan's stable id (a UUID, given on creation, or
                     on upgrade to a plan made before ids): recorded as
                     ``plan_id`` in its checkpoints' index, which is how
                     retention finds them (:mod:`protection.plans.
                     retention`)
``resources``        JSON: ``[[type, id], ...]``, the roots to protect
``parameters``       JSON: protect parameters, as ``--parameter`` gives
``schedule``         a cron expression (UTC), or ``NULL``: run by hand only
``keep``             keep the newest N available checkpoints (``NULL``: all)
``keep_days``        delete available checkpoints older than D days
``cloud``            the clouds.yaml name the plan protects (never
                     credentials)
``next_run``         epoch seconds of the next scheduled run; claimed with
                     a compare-and-swap UPDATE
                     (:mod:`protection.plans.schedule`)
``last_*``           when the last run started, how it ended, its
                     checkpoint and its error
``project_id``       the project a plan made through the API belongs to,
``user_id``          and the user who made it (``NULL``: a plan of the
                     embedded CLI, which acts for whoever can read the
                     bank); added to older tables by
                     migration 0007 (:mod:`protection.db.migrate`)
``title``            the name an API caller gave (such a plan's ``name``
                     is a generated id, so that two projects may each
                     have a plan called ``nightly``)
"""

import json
import time
import uuid

import sqlalchemy as sa

from protection import exceptions
from protection.db import migrate
from protection.operations.store import iso
from protection.model import parameters as params_mod
from protection.model.resource import Resource

_META = sa.MetaData()
TABLE = sa.Table(
    "stackvault_plans", _META,
    sa.Column("name", sa.String(255), primary_key=True),
    # Nullable only for rows of an older table until they are given one
    # (migration 0004, protection/db/migrations).
    sa.Column("id", sa.String(36)),
    sa.Column("resources", sa.Text, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("schedule", sa.String(255)),
    sa.Column("keep", sa.Integer),
    sa.Column("keep_days", sa.Double()),
    sa.Column("cloud", sa.String(255)),
    # Whole seconds: compared for equality when a run is claimed (a
    # MySQL FLOAT would round it).
    sa.Column("next_run", sa.BigInteger),
    sa.Column("last_run", sa.Double()),
    sa.Column("last_status", sa.String(16)),
    sa.Column("last_checkpoint", sa.String(64)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    # Added after the first version: nullable (migration 0007).
    sa.Column("project_id", sa.String(64)),
    sa.Column("user_id", sa.String(64)),
    sa.Column("title", sa.String(255)),
)
_JSON = ("resources", "parameters")
SETTINGS = ("resources", "parameters", "schedule", "keep", "keep_days",
            "cloud")
# Who a plan belongs to (set once, at create).
OWNER = ("project_id", "user_id", "title")


class PlanNotFound(exceptions.StackvaultError):
    def __init__(self, name):
        super().__init__(f"plan {name!r} does not exist")


class PlanExists(exceptions.StackvaultError):
    def __init__(self, name):
        super().__init__(f"plan {name!r} already exists (update or delete "
                         "it)")


class InvalidPlan(exceptions.StackvaultError):
    """A plan setting is wrong (user mistake: exit 2)."""


class Plan:
    """One row, decoded."""

    def __init__(self, row):
        self.__dict__.update({k: row[k] for k in row.keys()})
        for key in _JSON:
            setattr(self, key, json.loads(getattr(self, key)))

    @property
    def display_name(self):
        """What its checkpoints are named: the caller's name of a plan
        made through the API, else the plan's name."""
        return self.title or self.name

    @property
    def made_by_api(self):
        """Made through the API: it acts with its caller's token only,
        never with a clouds.yaml cloud."""
        return self.project_id is not None and self.cloud is None

    @property
    def roots(self):
        return [tuple(r) for r in self.resources]

    def to_dict(self):
        return {
            "id": self.id,
            "name": self.name,
            "resources": [f"{t}={i}" for t, i in self.roots],
            "parameters": self.parameters, "schedule": self.schedule,
            "keep": self.keep, "keep_days": self.keep_days,
            "cloud": self.cloud, "next_run": iso(self.next_run),
            "last_run": iso(self.last_run), "last_status": self.last_status,
            "last_checkpoint": self.last_checkpoint,
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "project_id": self.project_id, "user_id": self.user_id,
            "title": self.title,
        }


# Bounds of the retention settings: past them a value is a typo (and an
# integer past 2**63 does not fit the database's column).
MAX_KEEP = 100000
MAX_KEEP_DAYS = 36500


def check_settings(registry, settings):
    """Raise InvalidPlan / InvalidParameter / PluginNotFound for a wrong
    setting, without the cloud: every type known, every parameter valid
    against its type's protect schema, ``1 <= keep <= MAX_KEEP``,
    ``0 < keep_days <= MAX_KEEP_DAYS``. (The schedule is checked by
    :func:`protection.plans.schedule.check`.)"""
    if not settings["resources"]:
        raise InvalidPlan("a plan protects at least one resource")
    for rtype, _rid in settings["resources"]:
        registry.get(rtype)
    for target, values in settings["parameters"].items():
        rtype, _sep, rid = target.partition("#")
        plugin = registry.get(rtype)
        params_mod.validate(plugin.schema_for("protect"), values,
                            Resource(rtype, rid or "*"))
    keep, days = settings["keep"], settings["keep_days"]
    if keep is not None and not 1 <= keep <= MAX_KEEP:
        raise InvalidPlan(f"--keep must be from 1 to {MAX_KEEP}, not {keep}")
    if days is not None and not 0 < days <= MAX_KEEP_DAYS:
        raise InvalidPlan(f"--keep-days must be more than 0 and at most "
                          f"{MAX_KEEP_DAYS}, not {days}")


class PlanStore:
    """The plans table on a SQLAlchemy engine."""

    def __init__(self, engine):
        self.engine = engine
        migrate.upgrade(engine)

    @staticmethod
    def _encoded(values):
        values = dict(values)
        for key in _JSON:
            if key in values:
                values[key] = json.dumps(values[key], sort_keys=True)
        return values

    def create(self, name, settings, next_run, now=None, owner=None,
               plan_id=None):
        """A new plan; ``owner``: its ``project_id``, ``user_id`` and
        ``title`` (a plan made through the API); ``plan_id``: its id (a
        new UUID when ``None``; the API gives its plans their name as id,
        so that the id it shows is the one their checkpoints record)."""
        now = time.time() if now is None else now
        values = self._encoded({k: settings[k] for k in SETTINGS})
        values.update({k: v for k, v in (owner or {}).items()
                       if k in OWNER})
        try:
            with self.engine.begin() as conn:
                conn.execute(TABLE.insert().values(
                    name=name, id=plan_id or str(uuid.uuid4()),
                    next_run=next_run,
                    created_at=now, updated_at=now, **values))
        except sa.exc.IntegrityError:
            raise PlanExists(name) from None
        return self.get(name)

    def get(self, name):
        with self.engine.connect() as conn:
            row = conn.execute(TABLE.select().where(
                TABLE.c.name == name)).mappings().first()
        if row is None:
            raise PlanNotFound(name)
        return Plan(row)

    def list(self, project_id=None):
        """Every plan, or only ``project_id``'s."""
        query = TABLE.select().order_by(TABLE.c.name)
        if project_id is not None:
            query = query.where(TABLE.c.project_id == project_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Plan(row) for row in rows]

    def update(self, name, **values):
        values = self._encoded(values)
        values["updated_at"] = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(TABLE.update().where(TABLE.c.name == name)
                                .values(**values)).rowcount
        if not done:
            raise PlanNotFound(name)
        return self.get(name)

    def delete(self, name):
        with self.engine.begin() as conn:
            done = conn.execute(TABLE.delete().where(
                TABLE.c.name == name)).rowcount
        if not done:
            raise PlanNotFound(name)

    def due(self, now):
        """Plans whose scheduled run is at or before ``now``."""
        with self.engine.connect() as conn:
            rows = conn.execute(TABLE.select().where(
                TABLE.c.next_run.is_not(None),
                TABLE.c.next_run <= int(now)).order_by(
                    TABLE.c.next_run, TABLE.c.name)).mappings().all()
        return [Plan(row) for row in rows]

    def claim(self, name, expected, new_next_run):
        """Move the plan's ``next_run`` from ``expected`` to
        ``new_next_run`` in one UPDATE; True only for the one caller whose
        UPDATE found ``expected`` still there (that caller runs it)."""
        with self.engine.begin() as conn:
            done = conn.execute(TABLE.update().where(
                TABLE.c.name == name, TABLE.c.next_run == expected).values(
                    next_run=new_next_run, updated_at=time.time())).rowcount
        return done == 1

    def record_run(self, name, started, status, checkpoint_id=None,
                   error=None):
        """How the plan's last run ended (a plan deleted meanwhile is
        left deleted)."""
        with self.engine.begin() as conn:
            conn.execute(TABLE.update().where(TABLE.c.name == name).values(
                last_run=started, last_status=status,
                last_checkpoint=checkpoint_id, last_error=error))
