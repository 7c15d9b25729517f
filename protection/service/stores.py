"""The tables stackvault keeps in its one persistence database.

The operations table (:mod:`protection.operations.store`), TaskFlow's
flow details (:mod:`flows.persistence`) and the plans table
(:mod:`protection.plans.store`) share ``[persistence] connection``. They
are opened together, under the schema lock, because creating or upgrading
their schemas must be done by one process at a time on a shared database.
This lives in the service, the layer above both operations and plans, so
that neither of those imports the other.
"""

import threading

from flows import persistence
from protection import config
from protection import exceptions
from protection.operations import store as ops
from protection.plans import store as plans


class Stores:
    """The operations table, TaskFlow's persistence and the plans table,
    opened on first use from ``[persistence] connection``."""

    def __init__(self, conf):
        self._conf = conf
        self._opened = None
        self._lock = threading.Lock()

    def _open(self):
        with self._lock:
            if self._opened is None:
                url = config.persistence_url(self._conf)
                try:
                    sql = persistence.make_engine(url)
                    with persistence.schema_lock(sql):
                        self._opened = (
                            ops.OperationStore(
                                sql, self._conf.persistence.owner_timeout,
                                self._conf.persistence.host),
                            persistence.FlowStore(sql),
                            plans.PlanStore(sql))
                except Exception as exc:  # noqa: BLE001 - one clear line
                    raise exceptions.ConfigError(
                        "cannot open the persistence database "
                        f"([persistence] connection): "
                        f"{type(exc).__name__}: {exc}") from None
        return self._opened

    @property
    def operations(self):
        return self._open()[0]

    @property
    def flows(self):
        return self._open()[1]

    @property
    def plans(self):
        """The plans table, on the same database."""
        return self._open()[2]
