"""Modules imported on first use, so that a quick command (``checkpoint
list``) does not pay for importing openstacksdk, TaskFlow or SQLAlchemy
(see doc/operations.rst, "Performance")."""

import importlib


class LazyModule:
    """Stands for the module ``name``; imports it at the first attribute
    read."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)
