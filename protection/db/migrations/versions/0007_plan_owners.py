"""Who a plan belongs to (issue #22): ``project_id`` and ``user_id`` of a
plan made through the API (``NULL``: a plan of the embedded CLI), and
``title``, the name its caller gave (such a plan's ``name`` is a
generated id, so that two projects may each have a ``nightly``). The
release that brought them added them itself when it opened the database:
a column already there is kept.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "stackvault_plans"
COLUMNS = (("project_id", sa.String(64)), ("user_id", sa.String(64)),
           ("title", sa.String(255)))


def upgrade():
    present = {c["name"] for c in
               sa.inspect(op.get_bind()).get_columns(TABLE)}
    for name, column_type in COLUMNS:
        if name not in present:
            op.add_column(TABLE, sa.Column(name, column_type,
                                           nullable=True))
