"""Old import paths of modules that moved into sub-packages (0.2).

Each old path is a one-line module that calls :func:`alias`: importing it
warns once (``DeprecationWarning``) and hands back the new module itself,
so the old name and the new one are the same object (a ``mock.patch`` of
either patches both). These aliases go in the release after next.
"""

import importlib
import sys
import warnings


def alias(old, new, warn=True):
    """Make ``old`` (the calling module's name) the module ``new``."""
    if warn:
        warnings.warn(f"{old} moved to {new}: import it from "
                      "protection.plugin (doc/plugin-guide.rst)",
                      DeprecationWarning, stacklevel=3)
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module
