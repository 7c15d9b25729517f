"""Baseline: the operations and plans tables as the releases before
migrations created them (``create_all`` when a process opened the
database). A table such a release created is kept as it is.

Revision ID: 0001
Revises: none
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _operations():
    op.create_table(
        "stackvault_operations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("checkpoint", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner_host", sa.String(255)),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("heartbeat", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("journal", sa.Text, nullable=False),
        sa.Column("restored", sa.Text, nullable=False),
        sa.Column("left_behind", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
    )


def _plans():
    op.create_table(
        "stackvault_plans",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("resources", sa.Text, nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("schedule", sa.String(255)),
        sa.Column("keep", sa.Integer),
        sa.Column("keep_days", sa.Float),
        sa.Column("cloud", sa.String(255)),
        sa.Column("next_run", sa.BigInteger),
        sa.Column("last_run", sa.Float),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_checkpoint", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def upgrade():
    present = sa.inspect(op.get_bind())
    if not present.has_table("stackvault_operations"):
        _operations()
    if not present.has_table("stackvault_plans"):
        _plans()
