"""The CLI's one way of importing a module on first use, so that a quick
command (``checkpoint list``) does not pay for importing openstacksdk,
TaskFlow or SQLAlchemy (see doc/operations.rst, "Performance").

Write ``name = LazyModule("protection.x.y")`` at module level, with the
module's full name as a string literal: ``tests/unit/test_structure.py``
reads that argument and holds it to the import layers like any import.
"""

import importlib


class LazyModule:
    """Stands for the module ``name``; imports it at the first attribute
    read."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)
