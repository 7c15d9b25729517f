"""The project and user an operation runs for (issue #22): nullable,
``NULL`` for the embedded CLI and for rows written before. The release
that brought them added them itself (``ALTER TABLE ... ADD COLUMN`` when
it opened the database): a column already there is kept.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "stackvault_operations"
COLUMNS = (("project_id", sa.String(64)), ("user_id", sa.String(64)))


def upgrade():
    present = {c["name"] for c in
               sa.inspect(op.get_bind()).get_columns(TABLE)}
    for name, column_type in COLUMNS:
        if name not in present:
            op.add_column(TABLE, sa.Column(name, column_type,
                                           nullable=True))
