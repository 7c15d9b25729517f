"""The tables stackvault keeps in its one persistence database.

The operations table (:mod:`protection.operations.store`), the plans
table (:mod:`protection.plans.store`), the checkpoint catalog
(:mod:`protection.checkpoint.catalog`), the audit trail
(:mod:`protection.operations.audit`) and TaskFlow's flow details
(:mod:`flows.persistence`) share ``[persistence] connection``. The
database is migrated when first opened (stackvault's tables by
:mod:`protection.db.migrate`, TaskFlow's by TaskFlow), under the schema
lock, because that must be done by one process at a time on a shared
database. TaskFlow's part is opened only when an operation needs it:
listing checkpoints from the catalog does not load TaskFlow. This lives
in the service, the layer above operations, plans and checkpoints, so
that none of those imports another.
"""

import threading

from protection import config
from protection import exceptions
from protection.checkpoint import catalog as catalog_mod
from protection.db import engine as db_engine
from protection.db import migrate
from protection.operations import audit
from protection.operations import store as ops
from protection.plans import store as plans


class Stores:
    """The operations and plans tables, the checkpoint catalog and
    TaskFlow's persistence, opened on first use from ``[persistence]
    connection``."""

    def __init__(self, conf):
        self._conf = conf
        self._opened = {}
        self._engine = None
        self._lock = threading.RLock()

    def _open(self, name, make):
        """The store ``name``, made by ``make(engine)`` under the schema
        lock the first time; a database that cannot be opened or migrated
        is one ConfigError line."""
        with self._lock:
            if name not in self._opened:
                try:
                    if self._engine is None:
                        self._engine = db_engine.make_engine(
                            config.persistence_url(self._conf),
                            self._conf.persistence.timeout)
                    with db_engine.schema_lock(self._engine):
                        migrate.upgrade(self._engine)
                        self._opened[name] = make(self._engine)
                except Exception as exc:  # noqa: BLE001 - one clear line
                    raise exceptions.ConfigError(
                        "cannot open the persistence database "
                        f"([persistence] connection): "
                        f"{type(exc).__name__}: {exc}") from None
            return self._opened[name]

    @property
    def operations(self):
        return self._open("operations", lambda sql: ops.OperationStore(
            sql, self._conf.persistence.owner_timeout,
            self._conf.persistence.host))

    @property
    def flows(self):
        """TaskFlow's persistence (imported only now: it is heavy)."""
        def make(sql):
            from flows import persistence

            return persistence.FlowStore(sql)
        return self._open("flows", make)

    @property
    def plans(self):
        """The plans table, on the same database."""
        return self._open("plans", plans.PlanStore)

    @property
    def catalog(self):
        """The checkpoint catalog, on the same database."""
        return self._open("catalog", lambda sql: catalog_mod.Catalog(
            sql, self._conf.bank.owner_timeout))

    @property
    def audit(self):
        """The audit trail (:mod:`protection.operations.audit`)."""
        return self._open("audit", audit.AuditLog)

    def catalog_updates(self):
        """What the checkpoint store tells of each change: the catalog,
        opened when the first change comes (not when the service is
        made: a command that writes no checkpoint never opens it)."""
        return _LazyCatalog(self)


class _LazyCatalog:
    def __init__(self, stores):
        self._stores = stores

    def record(self, checkpoint):
        self._stores.catalog.record(checkpoint)

    def forget(self, checkpoint_id):
        self._stores.catalog.forget(checkpoint_id)

    def mark_damaged(self, checkpoint_id, read_at):
        self._stores.catalog.mark_damaged(checkpoint_id, read_at)
