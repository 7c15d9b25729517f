"""Deprecated: moved to :mod:`protection.plugin.wait`
(doc/plugin-guide.rst)."""

from protection import _moved

_moved.alias(__name__, "protection.plugin.wait")
