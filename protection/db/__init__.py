"""stackvault's persistence database: its engine (:mod:`.engine`) and the
alembic migrations of stackvault's own tables (:mod:`.migrate`,
``migrations/``). The tables' code (operations, plans, the checkpoint
catalog) lives with what uses them; their schema history lives here."""
