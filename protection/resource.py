"""Deprecated: moved to :mod:`protection.model.resource`
(doc/plugin-guide.rst)."""

from protection import _moved

_moved.alias(__name__, "protection.model.resource")
