"""The read leases table: taken, renewed by the operation's heartbeat,
ended with it, expired when its reader stops renewing it."""

import sqlalchemy as sa

import pytest

from protection import exceptions
from protection.db import migrate
from protection.operations import leases as leases_mod
from protection.operations import store as ops

T0 = 1893456000.0


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)        # the leases table: migration 0004
    return engine


def test_a_lease_lives_for_its_ttl_and_a_renewal_extends_it(engine):
    leases = leases_mod.LeaseStore(engine, ttl=30)
    leases.take("cp-1", "op-1", "restore", now=T0)
    assert [lease.operation_id for lease in leases.live("cp-1", T0 + 29)] \
        == ["op-1"]
    assert leases.live("cp-1", T0 + 31) == []
    leases.renew("op-1", now=T0 + 40)       # a late heartbeat revives it
    assert leases.live("cp-1", T0 + 60)[0].kind == "restore"
    with pytest.raises(exceptions.CheckpointLeased,
                       match="restore operation op-1"):
        leases.refuse_if_leased("cp-1", T0 + 60)
    leases.release("op-1")
    leases.refuse_if_leased("cp-1", T0 + 60)


def test_the_operations_heartbeat_renews_and_its_end_releases(engine):
    store = ops.OperationStore(engine, owner_timeout=30)
    op = store.create("restore", "cp-1", {})
    store.leases.take("cp-1", op.id, "restore", now=T0)
    store.heartbeat(op.id, op.generation)
    assert store.leases.live("cp-1") != []
    store.finish(op.id, ops.SUCCEEDED, {})
    assert store.leases.live("cp-1") == []


def test_a_database_from_before_leases_gets_the_table(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE other (id INTEGER)"))
    assert not sa.inspect(engine).has_table(leases_mod.TABLE.name)
    ops.OperationStore(engine)
    assert sa.inspect(engine).has_table(leases_mod.TABLE.name)
