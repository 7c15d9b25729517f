"""Alembic migrations of stackvault's own tables.

``stackvault_operations``, ``stackvault_plans`` and the checkpoint catalog
(``stackvault_checkpoints``) are created and changed only by the revisions
in ``protection/db/migrations/versions``. Their history is kept in its own
version table, :data:`VERSION_TABLE`: TaskFlow's tables, in the same
database, are migrated by TaskFlow with alembic's default
``alembic_version``, which stackvault never touches.

Every process upgrades the database when it opens it
(:func:`upgrade`, under :func:`protection.db.engine.schema_lock` on a
shared database), as stackvault did before it had migrations;
``stackvault-manage db sync`` does the same at a chosen moment (an
upgrade of a deployment). A database created by a release without
migrations has the tables and no version table: the first revisions
create only what is missing, so it is upgraded like an empty one.
"""

import os
import threading
import weakref

import sqlalchemy as sa

VERSION_TABLE = "stackvault_alembic_version"
# The newest revision; tests/unit/protection/db checks it is the scripts'
# head. Knowing it without loading alembic keeps opening an up-to-date
# database to one query.
HEAD = "0008"
SCRIPTS = os.path.join(os.path.dirname(__file__), "migrations")

_upgraded = weakref.WeakSet()
_lock = threading.Lock()


def current(engine):
    """The database's revision (``None``: never migrated)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(
            f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _alembic_config(connection):
    from alembic import config

    cfg = config.Config()
    cfg.set_main_option("script_location", SCRIPTS)
    cfg.attributes["connection"] = connection
    return cfg


def head():
    """The newest revision of the scripts (loads them: for tests)."""
    from alembic import script

    return script.ScriptDirectory.from_config(
        _alembic_config(None)).get_current_head()


def upgrade(engine):
    """Bring the database to :data:`HEAD`; return the revision it was at.

    Once per engine in a process (the stores that share it each ask);
    the caller holds the schema lock on a shared database."""
    with _lock:
        if engine in _upgraded:
            return HEAD
        was = current(engine)
        if was != HEAD:
            from alembic import command

            with engine.begin() as conn:
                command.upgrade(_alembic_config(conn), "head")
        _upgraded.add(engine)
        return was
