"""The fencing token of an operation (issue #23, item 5):
``stackvault_operations.generation``, bumped by a compare-and-swap at
every change of owner (:mod:`protection.operations.store`). Rows written
before get generation 0, so that every compare-and-swap compares two
numbers (``NULL = 0`` is never true).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "stackvault_operations"


def upgrade():
    bind = op.get_bind()
    if "generation" not in {c["name"] for c in
                            sa.inspect(bind).get_columns(TABLE)}:
        op.add_column(TABLE, sa.Column("generation", sa.Integer,
                                       nullable=True))
    operations = sa.table(TABLE, sa.column("generation"))
    bind.execute(operations.update().where(
        operations.c.generation.is_(None)).values(generation=0))
