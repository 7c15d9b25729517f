"""The migrations of stackvault's tables (protection.db.migrate): an empty
database and one created by an earlier release end with the tables the
code declares, earlier rows kept; TaskFlow's version table is not ours."""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from alembic import autogenerate
from alembic import migration

from protection.checkpoint import catalog
from protection.db import engine as db_engine
from protection.db import migrate
from protection.operations import audit
from protection.operations import leases
from protection.operations import store as ops
from protection.plans import store as plans

OURS = {"stackvault_operations", "stackvault_plans",
        "stackvault_checkpoints", "stackvault_catalog_state",
        "stackvault_checkpoint_leases", "stackvault_audit"}


def _engine(tmp_path):
    return db_engine.make_engine(f"sqlite:///{tmp_path / 'sv.db'}")


def _declared():
    meta = sa.MetaData()
    for table in (ops.TABLE, plans.TABLE, catalog.TABLE, catalog.STATE,
                  leases.TABLE, audit.TABLE):
        table.to_metadata(meta)
    return meta


def _differences(engine):
    """What alembic's autogenerate finds between the database and the
    tables as the code declares them (``[]``: none)."""
    def ours(_obj, name, kind, _reflected, _compare_to):
        return kind != "table" or name in OURS

    def compare_type(_context, _inspected, _column, reflected, declared):
        # SQLite stores every float in 8 bytes, whatever the declared
        # name: FLOAT and DOUBLE are the same there (0008 changes them on
        # MySQL only, where FLOAT is 4 bytes).
        if isinstance(reflected, sa.Float) and \
                isinstance(declared, sa.Float):
            return False
        return None                     # alembic's own comparison
    with engine.connect() as conn:
        context = migration.MigrationContext.configure(
            conn, opts={"include_object": ours,
                        "compare_type": compare_type})
        return autogenerate.compare_metadata(context, _declared())


def _old_release_tables(engine, tenancy_columns=False):
    """The tables as the release before migrations made them
    (``create_all``); with ``tenancy_columns``, as the API release left
    them (project_id and user_id added by ALTER TABLE)."""
    meta = sa.MetaData()
    skipped = ("generation",) if tenancy_columns else (
        "project_id", "user_id", "generation")
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key,
                         nullable=c.nullable)
               for c in ops.TABLE.columns if c.name not in skipped]
    old_ops = sa.Table("stackvault_operations", meta, *columns)
    old_plans = sa.Table("stackvault_plans", meta, *[
        sa.Column(c.name, c.type, primary_key=c.primary_key,
                  nullable=c.nullable) for c in plans.TABLE.columns
        if c.name not in ("id", "project_id", "user_id", "title")])
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old_ops.insert().values(
            id="old-op", kind="protect", status=ops.SUCCEEDED,
            created_at=1.0, updated_at=1.0, args="{}", journal="{}",
            restored="{}", left_behind="{}"))
        conn.execute(old_plans.insert().values(
            name="nightly", resources="[]", parameters="{}", created_at=1.0,
            updated_at=1.0))


def test_head_is_the_newest_script():
    assert migrate.head() == migrate.HEAD


def test_an_empty_database_gets_the_tables_the_code_declares(tmp_path):
    engine = _engine(tmp_path)
    assert migrate.current(engine) is None
    assert migrate.upgrade(engine) is None
    assert migrate.current(engine) == migrate.HEAD
    assert _differences(engine) == []
    # TaskFlow's alembic_version is TaskFlow's: never created by us.
    assert not sa.inspect(engine).has_table("alembic_version")


def test_the_release_before_migrations_is_upgraded_rows_kept(tmp_path):
    engine = _engine(tmp_path)
    _old_release_tables(engine)
    store = ops.OperationStore(engine)
    assert migrate.current(engine) == migrate.HEAD
    assert _differences(engine) == []
    old = store.get("old-op")
    assert (old.status, old.project_id, old.user_id, old.generation) == (
        ops.SUCCEEDED, None, None, 0)     # every old row starts at 0
    new = store.create("protect", None, {}, project_id="p", user_id="u")
    assert [op.id for op in store.list(project_id="p")] == [new.id]
    assert {op.id for op in store.list()} == {"old-op", new.id}
    assert plans.PlanStore(engine).get("nightly").name == "nightly"


def test_the_api_release_with_its_added_columns_is_upgraded(tmp_path):
    engine = _engine(tmp_path)
    _old_release_tables(engine, tenancy_columns=True)
    migrate.upgrade(engine)
    assert _differences(engine) == []
    assert ops.OperationStore(engine).get("old-op").project_id is None


def test_a_second_process_finds_the_database_up_to_date(tmp_path):
    migrate.upgrade(_engine(tmp_path))
    assert migrate.upgrade(_engine(tmp_path)) == migrate.HEAD


def test_plans_made_before_plan_ids_get_one_each_on_upgrade(tmp_path):
    engine = _engine(tmp_path)
    _old_release_tables(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO stackvault_plans (name, resources, parameters, "
            "created_at, updated_at) VALUES ('b', '[]', '{}', 1.0, 1.0)"))
    store = plans.PlanStore(engine)
    ids = {plan.name: plan.id for plan in store.list()}
    assert len(ids) >= 2
    assert len(set(ids.values())) == len(ids) and all(ids.values())
    # Opened again (another process, a restart): the ids stay.
    assert {p.name: p.id for p in plans.PlanStore(
        _engine(tmp_path)).list()} == ids
    assert _differences(engine) == []


def test_every_time_is_double_precision_on_mysql():
    # MySQL and MariaDB store sa.Float as a 4-byte FLOAT: an epoch time of
    # 2026 rounds to 128 s, and a dead owner's heartbeat looked a minute
    # younger than it was (found on MariaDB by the fencing outage test).
    singles = [f"{table.name}.{column.name}"
               for table in _declared().sorted_tables
               for column in table.columns
               if isinstance(column.type, sa.Float) and
               column.type.compile(dialect=mysql.dialect()) != "DOUBLE"]
    assert singles == []



def test_the_migration_to_double_names_every_such_column():
    """0008 alters on MySQL every column a Float was declared with there
    before: the two lists must not drift."""
    import importlib
    versions = importlib.import_module(
        "protection.db.migrations.versions.0008_double_precision_times")
    altered = {f"{table}.{column}" for table, column, _n in versions.COLUMNS}
    doubles = {f"{table.name}.{column.name}"
               for table in _declared().sorted_tables
               for column in table.columns
               if isinstance(column.type, sa.Double)
               and table.name not in ("stackvault_checkpoints",
                                      "stackvault_catalog_state")}
    assert altered == doubles
