"""Plans get a stable id, and checkpoints get read leases (issue #23,
items 8 and 7).

``stackvault_plans.id``: a UUID each plan keeps for life, recorded as
``plan_id`` in the checkpoints its runs make, so that retention finds a
plan's checkpoints by id and never by a name another deployment sharing
the bank may also use. Plans made before get one here; each row is
updated only while its id is still NULL, so two processes upgrading at
once agree on one id.

``stackvault_checkpoint_leases``: one row per checkpoint a restore or
verify is reading (:mod:`protection.operations.leases`).

A release between migrations and this revision added both itself when it
opened the database: what is already there is kept.

Revision ID: 0004
Revises: 0003
"""

import uuid

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PLANS = "stackvault_plans"
LEASES = "stackvault_checkpoint_leases"


def _give_plans_ids(bind):
    plans = sa.table(PLANS, sa.column("name"), sa.column("id"))
    names = [row.name for row in bind.execute(
        sa.select(plans.c.name).where(plans.c.id.is_(None)))]
    for name in names:
        bind.execute(plans.update().where(
            plans.c.name == name, plans.c.id.is_(None)).values(
                id=str(uuid.uuid4())))


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "id" not in {c["name"] for c in inspector.get_columns(PLANS)}:
        op.add_column(PLANS, sa.Column("id", sa.String(36), nullable=True))
    _give_plans_ids(bind)
    if not inspector.has_table(LEASES):
        op.create_table(
            LEASES,
            sa.Column("checkpoint_id", sa.String(64), primary_key=True),
            sa.Column("operation_id", sa.String(36), primary_key=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("holder", sa.String(255), nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
        )
