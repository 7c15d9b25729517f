"""Times in double precision: every epoch-seconds column of stackvault's
tables becomes ``DOUBLE``.

They were declared ``sa.Float``, which MySQL and MariaDB store as a
4-byte ``FLOAT``: 24 bits of mantissa, so a time around 2026 (1.8e9 s)
is rounded to a multiple of 128 s. A heartbeat written "now" could read
back up to a minute in the future, and an owner that died looked alive
for that long past ``owner_timeout`` (the fencing outage test on
MariaDB found it: a resume was refused as busy). SQLite stores every
float as 8 bytes already: nothing to do there. The checkpoint catalog
(0003) was declared ``Double`` from the start.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, column, nullable): frozen here, as every migration's columns.
COLUMNS = (
    ("stackvault_operations", "heartbeat", True),
    ("stackvault_operations", "created_at", False),
    ("stackvault_operations", "updated_at", False),
    ("stackvault_plans", "keep_days", True),
    ("stackvault_plans", "last_run", True),
    ("stackvault_plans", "created_at", False),
    ("stackvault_plans", "updated_at", False),
    ("stackvault_checkpoint_leases", "expires_at", False),
    ("stackvault_audit", "at", False),
)


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(table, column, type_=sa.Double(),
                        existing_type=sa.Float(),
                        existing_nullable=nullable)
