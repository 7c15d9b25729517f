"""The ``stackvault`` command: a thin layer over ProtectionService."""
