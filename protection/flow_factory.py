"""The flow factory's path before 0.2, kept for operations saved then.

TaskFlow records each flow's factory by its import path; operations
created before the move recorded ``protection.flow_factory.operation_flow``.
:mod:`protection.operations.flow_factory` accepts both paths (and nothing
else), and this module makes the old one the new module itself. Not
deprecated: it stays while saved operations may name it.
"""

from protection import _moved

_moved.alias(__name__, "protection.operations.flow_factory", warn=False)
