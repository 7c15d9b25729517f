"""The Heat datasource: Heat's read API as tables (read-only).

``datasource`` holds :class:`~.datasource.HeatDatasource` (the entry point
``heat`` of ``stackvault.datasources``) and its options; ``tables`` the
translators (tables, columns and their documentation); ``calls`` every kind
of call a poll makes; ``poller`` one poll; ``rest`` one GET and the helpers
that read Heat's answers; ``resources`` the resources table's derived
columns; ``stacks`` the small stack API of the Heat stack protectable.
"""
