"""The migrations on devcloud's MariaDB: the shared ``stackvault``
database, created by the releases before migrations (conductor tests and
every helper's runs), is upgraded in place under the schema lock, its
rows kept, and then has exactly the tables the code declares; the
catalog pages there as on SQLite. (The devcloud user may not create a
database, so the empty case runs on SQLite only:
tests/unit/protection/db.)"""

import os

import pytest
import sqlalchemy as sa
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


@pytest.fixture
def engine():
    url = os.environ.get("STACKVAULT_PERSISTENCE", "")
    if not url.startswith("mysql"):
        pytest.skip("needs devcloud's MariaDB: eval \"$(tools/devcloud "
                    "env)\"")
    return db_engine.make_engine(url)


def _differences(engine):
    meta = sa.MetaData()
    for table in (ops.TABLE, plans.TABLE, catalog.TABLE, catalog.STATE,
                  leases.TABLE, audit.TABLE):
        table.to_metadata(meta)

    def ours(_obj, name, kind, _reflected, _compare_to):
        return kind != "table" or name in OURS
    with engine.connect() as conn:
        context = migration.MigrationContext.configure(
            conn, opts={"include_object": ours, "compare_type": True})
        return autogenerate.compare_metadata(context, meta)


def _count(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()


def test_the_shared_database_is_upgraded_in_place(engine):
    before = _count(engine, "stackvault_operations")
    with db_engine.schema_lock(engine):
        migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
    assert _count(engine, "stackvault_operations") >= before
    assert _differences(engine) == []


def test_the_catalog_pages_on_mariadb(engine):
    with db_engine.schema_lock(engine):
        rows = catalog.Catalog(engine)
    project = f"fullstack-{os.urandom(4).hex()}"
    made = [{"id": f"{project}-{n}", "project_id": project, "user_id": "u",
             "plan_id": None, "name": "n", "status": "available",
             "created_at": 1_700_000_000.0 + n // 2,
             "updated_at": 1_700_000_000.0, "size": 1,
             "resource_count": 1, "owner": None, "recorded_at": 0.0}
            for n in range(5)]
    rows._upsert(made)
    try:
        seen, marker = [], None
        while True:
            found, more = rows.page(project_id=project, limit=2,
                                    marker=marker)
            seen += [row["id"] for row in found]
            if not more:
                break
            marker = found[-1]["id"]
        assert seen == [row["id"] for row in made]
    finally:
        for row in made:
            rows.forget(row["id"])
