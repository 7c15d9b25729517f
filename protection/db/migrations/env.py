"""alembic's environment for stackvault's tables: always run on the
connection :mod:`protection.db.migrate` gives, with stackvault's own
version table (TaskFlow's ``alembic_version`` is TaskFlow's)."""

from alembic import context

from protection.db import migrate

context.configure(connection=context.config.attributes["connection"],
                  version_table=migrate.VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
