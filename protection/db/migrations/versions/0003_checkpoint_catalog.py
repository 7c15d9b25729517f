"""The checkpoint catalog (issue #22 item 4): one row per checkpoint of
the bank, kept by the checkpoint store as checkpoints change and rebuilt
from the bank (:mod:`protection.checkpoint.catalog`), so that a list
costs its page, not the bank. ``stackvault_catalog_state`` records when
the catalog was last rebuilt (no row: never, so the first list rebuilds
it).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stackvault_checkpoints",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("project_id", sa.String(64)),
        sa.Column("user_id", sa.String(64)),
        sa.Column("plan_id", sa.String(255)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("resource_count", sa.Integer, nullable=False),
        sa.Column("owner", sa.Text),
        sa.Column("recorded_at", sa.Double(), nullable=False),
    )
    for columns in (("project_id", "created_at", "id"),
                    ("created_at", "id"),
                    ("project_id", "status"),
                    ("project_id", "plan_id")):
        op.create_index("ix_stackvault_checkpoints_" + "_".join(columns),
                        "stackvault_checkpoints", list(columns))
    op.create_table(
        "stackvault_catalog_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Double(), nullable=False),
    )
