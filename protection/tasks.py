"""Deprecated: moved to :mod:`protection.plugin.tasks`
(doc/plugin-guide.rst)."""

from protection import _moved

_moved.alias(__name__, "protection.plugin.tasks")
