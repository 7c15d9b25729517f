"""The data every layer shares: resources and their dependency graph,
parameters, progress, the report of a run and a restore's map of new ids.

Plain values and pure functions. Imports only :mod:`protection.exceptions`
and :mod:`flows` (nothing that talks to a cloud, a bank or a database).
"""
