"""Operations: the durable runs of protect, restore, delete and verify.

:mod:`.store` is the operations table (status, owner, journal);
:mod:`.flow_factory` the one TaskFlow factory every operation's flow is
rebuilt by; :mod:`.runner` runs a flow with persistence, signals and
heartbeats; :mod:`.jobboard` posts operations as jobs; :mod:`.conductor`
runs posted jobs; :mod:`.metrics` counts a run's API calls and timings.

Imports :mod:`protection.plugin` (the registry and contexts it builds flows
with), :mod:`protection.checkpoint`, :mod:`protection.model` and
:mod:`flows`; never :mod:`protection.plans` (the conductor runs due plans
through a periodic hook its command hands it, :mod:`protection.plans.
periodic`), :mod:`protection.service` or the CLI (the service is handed to
the conductor, not imported by it).
"""
