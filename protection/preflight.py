"""Deprecated: a plugin's pre-flight answers moved to
:mod:`protection.plugin.checks`, the framework's side to
:mod:`protection.restore.preflight` (doc/plugin-guide.rst)."""

import warnings

from protection.plugin.checks import *  # noqa: F401,F403
from protection.plugin.checks import FAIL, PASS, UNKNOWN  # noqa: F401
from protection.restore.preflight import Report  # noqa: F401
from protection.restore.preflight import integrity_check  # noqa: F401
from protection.restore.preflight import run_hooks  # noqa: F401

warnings.warn("protection.preflight moved to protection.plugin.checks "
              "(and protection.restore.preflight)", DeprecationWarning,
              stacklevel=2)
