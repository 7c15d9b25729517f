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
                     if c.name not in ("project_id", "user_id")])
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


def test_plans_made_before_plan_ids_get_one_each_on_upgrade(tmp_path):
    from protection.plans import store as plans
    engine = sa.create_engine(f"sqlite:///{tmp_path}/plans.db")
    meta = sa.MetaData()
    old = sa.Table("stackvault_plans", meta,
                   *[sa.Column(c.name, c.type, primary_key=c.primary_key,
                               nullable=c.nullable)
                     for c in plans.TABLE.columns if c.name != "id"])
    meta.create_all(engine)
    with engine.begin() as conn:
        for name in ("a", "b"):
            conn.execute(old.insert().values(
                name=name, resources="[]", parameters="{}", created_at=1.0,
                updated_at=1.0))
    store = plans.PlanStore(engine)
    ids = {plan.name: plan.id for plan in store.list()}
    assert len(set(ids.values())) == 2 and all(ids.values())
    # Opened again (another process, a restart): the ids stay.
    assert {p.name: p.id for p in plans.PlanStore(engine).list()} == ids
    made = store.create("c", {"resources": [], "parameters": {},
                              "schedule": None, "keep": None,
                              "keep_days": None, "cloud": None}, None)
    assert made.id not in ids.values() and len(made.id) == 36
