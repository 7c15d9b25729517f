"""An operations table created by an older stackvault gets the columns
this one added (project_id, user_id); its rows are kept."""

import sqlalchemy as sa

from protection.operations import store as ops


def _old_table(engine):
    """The table as versions before project_id/user_id created it."""
    meta = sa.MetaData()
    old = sa.Table("stackvault_operations", meta,
                   *[sa.Column(c.name, c.type, primary_key=c.primary_key,
                               nullable=c.nullable)
                     for c in ops.TABLE.columns
                     if c.name not in ("project_id", "user_id",
                                       "generation")])
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.insert().values(
            id="old-op", kind="protect", status=ops.SUCCEEDED,
            created_at=1.0, updated_at=1.0, args="{}", journal="{}",
            restored="{}", left_behind="{}"))


def test_an_old_table_gets_the_tenancy_columns(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/ops.db")
    _old_table(engine)
    store = ops.OperationStore(engine)
    old = store.get("old-op")
    assert old.project_id is None and old.user_id is None
    new = store.create("protect", None, {}, project_id="p", user_id="u")
    assert (new.project_id, new.user_id) == ("p", "u")
    assert [op.id for op in store.list(project_id="p")] == [new.id]
    assert {op.id for op in store.list()} == {"old-op", new.id}


def test_old_rows_start_at_generation_zero(tmp_path):
    """A compare-and-swap on NULL never matches: old rows get 0."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/ops.db")
    _old_table(engine)
    ops.OperationStore(engine)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(ops.TABLE.c.generation)).scalar()
    assert stored == 0
