"""Opening a shared database: one process at a time creates or upgrades
its schema (protection.db.engine.schema_lock, used by
protection.service.stores.Stores)."""

import os
from unittest import mock

import pytest

from flows import persistence as flows_persistence
from protection.db import engine as persistence
from protection.service import stores as stores_mod


def _mysql(got=1):
    engine = mock.MagicMock()
    engine.dialect.name = "mysql"
    conn = engine.connect.return_value.__enter__.return_value
    conn.execute.return_value.scalar.return_value = got
    return engine, conn


def _statements(conn):
    return [str(call.args[0]) for call in conn.execute.call_args_list]


def test_mysql_upgrades_run_under_a_named_lock():
    engine, conn = _mysql()
    with persistence.schema_lock(engine):
        assert _statements(conn) == ["SELECT GET_LOCK(:name, :wait)"]
    assert _statements(conn)[1:] == ["SELECT RELEASE_LOCK(:name)"]
    assert conn.execute.call_args_list[0].args[1] == {
        "name": persistence.SCHEMA_LOCK,
        "wait": persistence.SCHEMA_LOCK_TRY}


def test_the_lock_is_released_when_the_upgrade_fails():
    engine, conn = _mysql()
    with pytest.raises(RuntimeError):
        with persistence.schema_lock(engine):
            raise RuntimeError("migration failed")
    assert _statements(conn)[-1] == "SELECT RELEASE_LOCK(:name)"


def test_a_lock_not_had_in_time_is_an_error_not_a_race():
    engine, conn = _mysql(got=0)
    entered = []
    with pytest.raises(TimeoutError, match="schema lock"):
        with persistence.schema_lock(engine):
            entered.append(True)
    assert entered == []
    # Asked a second at a time (within the read timeout) until the wait
    # is over.
    assert _statements(conn) == ["SELECT GET_LOCK(:name, :wait)"] * int(
        persistence.SCHEMA_LOCK_WAIT / persistence.SCHEMA_LOCK_TRY)


def test_sqlite_takes_no_lock():
    engine = mock.Mock()
    engine.dialect.name = "sqlite"
    with persistence.schema_lock(engine):
        pass
    engine.connect.assert_not_called()


def test_stores_migrate_and_open_each_table_inside_the_lock(tmp_path):
    conf = mock.Mock()
    conf.persistence.connection = f"sqlite:///{tmp_path / 'ops.db'}"
    conf.persistence.owner_timeout = 30.0
    order = []

    class Lock:
        def __enter__(self):
            order.append("lock")

        def __exit__(self, *exc):
            order.append("unlock")

    def store(name):
        return lambda *args: order.append(name) or name
    with mock.patch.object(persistence, "schema_lock",
                           lambda _engine: Lock()), \
            mock.patch.object(stores_mod.migrate, "upgrade",
                              store("migrate")), \
            mock.patch.object(stores_mod.ops, "OperationStore",
                              store("operations")), \
            mock.patch.object(flows_persistence, "FlowStore",
                              store("flows")), \
            mock.patch.object(stores_mod.plans, "PlanStore", store("plans")), \
            mock.patch.object(stores_mod.config, "persistence_url",
                              lambda c: c.persistence.connection):
        stores = stores_mod.Stores(conf)
        assert (stores.plans, stores.operations, stores.flows) == (
            "plans", "operations", "flows")
        assert stores.plans == "plans"          # opened once
    assert order == ["lock", "migrate", "plans", "unlock",
                     "lock", "migrate", "operations", "unlock",
                     "lock", "migrate", "flows", "unlock"]


def test_a_sqlite_database_is_created_private(tmp_path):
    # It was 0644 in a 0755 folder (issue #23, item 10, reproduced).
    path = tmp_path / "data" / "stackvault.db"
    old = os.umask(0o022)
    try:
        engine = persistence.make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
    finally:
        os.umask(old)
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_existing_readable_sqlite_database_is_tightened(tmp_path):
    path = tmp_path / "stackvault.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    persistence.make_engine(f"sqlite:///{path}")
    assert path.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700


def test_atom_states_are_the_flow_details_names_and_states(tmp_path):
    """What an operation's progress reads (one query of names and
    states) is what the whole flow detail holds; an operation without a
    flow has none."""
    from taskflow import states
    from taskflow.persistence import models

    store = flows_persistence.FlowStore(
        persistence.make_engine(f"sqlite:///{tmp_path}/flows.db"))
    _book, detail = store.create("op-1", {})
    store.create("op-2", {})
    for name, state in (("T#a/started", states.SUCCESS),
                        ("T#a/Save", states.RUNNING),
                        ("prepared", states.PENDING)):
        atom = models.TaskDetail(name, f"uuid-{name}")
        atom.state = state
        atom.results = {"big": "x" * 100}
        detail.add(atom)
    store.backend.get_connection().update_flow_details(detail)
    _book, loaded = store.load("op-1")
    assert store.atom_states("op-1") == {a.name: a.state for a in loaded}
    assert store.atom_states("op-1") == {
        "T#a/started": states.SUCCESS, "T#a/Save": states.RUNNING,
        "prepared": states.PENDING}
    assert store.atom_states("op-2") == {}
    assert store.atom_states("no-such-operation") == {}
