"""Plans: protection on a schedule with retention.

:mod:`.store` is the plans table; :mod:`.schedule` finds and claims what
is due; :mod:`.run` runs one plan; :mod:`.retention` chooses what to prune;
:mod:`.periodic` is the hook a conductor runs every so often.

Imports :mod:`protection.operations`, :mod:`protection.checkpoint`,
:mod:`protection.model` and :mod:`protection.exceptions`; the CLI and the
conductor's command import it, never the other way round.
"""
