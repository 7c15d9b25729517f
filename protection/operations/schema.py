"""Bring an existing stackvault table up to the columns this version
declares, by adding the ones it lacks.

The ``stackvault_operations`` and ``stackvault_plans`` tables are created
with ``create_all`` when a process opens the persistence database
(:class:`protection.operations.runner.Stores`, under
:func:`flows.persistence.schema_lock` on MariaDB/MySQL); they have no
migration history. A column added by a later version must therefore be
nullable (rows written before it have none), and is added here with
``ALTER TABLE ... ADD COLUMN`` to a table created by an older version.
Only additions: a change that needs more than that needs real
migrations (alembic), which the catalog work of issue #22 brings.
"""

import sqlalchemy as sa


def missing_columns(engine, table):
    """The columns of ``table`` (a ``sa.Table``) that the database's
    table of that name lacks (``[]`` when it does not exist yet)."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(table.name):
        return []
    present = {c["name"] for c in inspector.get_columns(table.name)}
    return [c for c in table.columns if c.name not in present]


def add_missing_columns(engine, table):
    """Add each column :func:`missing_columns` finds; return their names.

    Refuses (ValueError) a missing column that is not nullable: existing
    rows could not satisfy it."""
    added = []
    for column in missing_columns(engine, table):
        if not column.nullable:
            raise ValueError(f"{table.name}.{column.name} is NOT NULL: it "
                             "cannot be added to existing rows")
        column_type = column.type.compile(dialect=engine.dialect)
        with engine.begin() as conn:
            conn.execute(sa.text(
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                f"{column_type}"))
        added.append(column.name)
    return added


def start_generations(engine, table):
    """Give rows written before the ``generation`` column (the fencing
    token, :mod:`protection.operations.store`) generation 0, so that
    every compare-and-swap compares two numbers (``NULL = 0`` is never
    true). Run after :func:`add_missing_columns`; a no-op once done."""
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.generation.is_(None))
                     .values(generation=0))
