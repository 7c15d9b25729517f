"""stackvault's framework: resources, graph, plugins, checkpoints, banks.

Nothing in this package imports ``plugins``: plugins, banks and datasources are
found through stevedore entry points.
"""
