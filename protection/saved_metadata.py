"""Deprecated: moved to :mod:`protection.plugin.saved_metadata`
(doc/plugin-guide.rst)."""

from protection import _moved

_moved.alias(__name__, "protection.plugin.saved_metadata")
