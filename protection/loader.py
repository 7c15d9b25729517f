"""The one way stackvault finds its extensions: stevedore entry points.

Plugins (``stackvault.plugins``), banks (``stackvault.banks``) and
datasources (``stackvault.datasources``) are classes registered by any
installed package. An extension whose import fails is reported with its
name and the import error, never as "not installed".
"""

from importlib import metadata

import stevedore
from stevedore import exception as stevedore_exception

from protection import exceptions

PLUGINS = "stackvault.plugins"
BANKS = "stackvault.banks"
DATASOURCES = "stackvault.datasources"

_WHAT = {PLUGINS: "plugin", BANKS: "bank backend", DATASOURCES: "datasource"}


class ExtensionNotFound(exceptions.StackvaultError):
    def __init__(self, namespace, name, installed):
        super().__init__(
            f"no {_WHAT.get(namespace, namespace)} {name!r} (installed: "
            f"{', '.join(installed) or 'none'})")
        self.name = name
        self.installed = installed


def _on_failure(namespace):
    def failed(_manager, entrypoint, exc):
        raise exceptions.PluginError(
            f"cannot load {_WHAT.get(namespace, namespace)} "
            f"{entrypoint.name!r} ({entrypoint.value}): "
            f"{type(exc).__name__}: {exc}") from exc
    return failed


def load_all(namespace):
    """``{name: class}`` of every extension in ``namespace``, sorted by
    name; raises PluginError when one of them cannot be imported."""
    manager = stevedore.ExtensionManager(
        namespace, invoke_on_load=False,
        on_load_failure_callback=_on_failure(namespace))
    return {ext.name: ext.plugin
            for ext in sorted(manager, key=lambda e: e.name)}


def entry_points(namespace):
    """The entry points installed in ``namespace``, sorted by name (nothing
    is imported)."""
    return sorted(metadata.entry_points(group=namespace),
                  key=lambda ep: (ep.name, ep.value))


def names(namespace):
    """The names installed in ``namespace`` (nothing is imported)."""
    return sorted({ep.name for ep in metadata.entry_points(group=namespace)})


def load_one(namespace, name):
    """The class installed as ``name`` (only that one is imported);
    ExtensionNotFound lists the installed names."""
    try:
        manager = stevedore.DriverManager(
            namespace, name, invoke_on_load=False,
            on_load_failure_callback=_on_failure(namespace))
    except stevedore_exception.NoMatches:
        raise ExtensionNotFound(namespace, name, names(namespace)) from None
    return manager.driver
