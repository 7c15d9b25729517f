"""What plugins are installed, and whether each one loads: the answer of
``stackvault plugin list`` and ``plugin show``.

Works offline: it imports each plugin's entry point and checks its class
against the contract (:func:`protection.plugin.registry.check_class` and
:func:`~protection.plugin.registry.check_beside`, as loading the service
does), without instantiating it, reading a configuration, a
``clouds.yaml`` or a database. A plugin that fails to import or to pass
the checks is reported with its error, beside the others, instead of
stopping the listing.
"""

import dataclasses
import inspect
import typing

from protection import exceptions
from protection import loader
from protection.plugin import base
from protection.plugin import registry


@dataclasses.dataclass
class InstalledPlugin:
    """One entry point of ``stackvault.plugins``, loaded or not."""

    entry_point: str                 # its name (``keypair``)
    target: str                      # ``module:Class`` as registered
    distribution: typing.Optional[str] = None     # ``stackvault 0.1.0``
    cls: typing.Any = None           # the class, when it imported
    error: typing.Optional[str] = None

    @property
    def resource_type(self):
        return getattr(self.cls, "resource_type", None)

    @property
    def class_name(self):
        return registry.plugin_name(self.cls) if self.cls else None

    @property
    def source(self):
        """The file that defines the class (``None`` when unknown)."""
        try:
            return inspect.getsourcefile(self.cls) if self.cls else None
        except TypeError:       # a built-in or a class made at run time
            return None

    @property
    def status(self):
        return f"error: {self.error}" if self.error else "loaded"

    def summary(self):
        """What ``plugin list`` shows of it."""
        return {"type": self.resource_type, "entry_point": self.entry_point,
                "class": self.class_name or self.target,
                "source": self.source, "distribution": self.distribution,
                "status": self.status}

    def details(self):
        """What ``plugin show`` shows: the summary, the schemas, the
        declared quota names and the plugin's own config group."""
        data = self.summary()
        if self.error:
            data["error"] = self.error
        for attr in ("options_schema", "restore_schema", "metadata_schema",
                     "quota_demands", "config_group",
                     "protect_after_children"):
            data[attr] = getattr(self.cls, attr, None)
        return data


def _distribution(entry_point):
    dist = getattr(entry_point, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else None


def _import(entry_point):
    """``(class, None)`` or ``(None, error)``: any exception of the
    plugin's own import is its error, never the listing's."""
    try:
        cls = entry_point.load()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return None, f"cannot import {entry_point.value}: " \
                     f"{type(exc).__name__}: {exc}"
    if not (inspect.isclass(cls) and issubclass(cls, base.ProtectionPlugin)):
        return None, f"{entry_point.value} is not a ProtectionPlugin " \
                     "subclass"
    return cls, None


def _check(cls, loaded):
    try:
        registry.check_class(cls)
        registry.check_beside(cls, loaded)
    except exceptions.StackvaultError as exc:
        return str(exc)
    return None


def installed(namespace=loader.PLUGINS):
    """Every plugin entry point of ``namespace``, sorted by name, each
    checked as loading the service would check it (in the same order, so
    of two plugins claiming one type the second is the one in error)."""
    found, loaded = [], []
    for entry_point in loader.entry_points(namespace):
        cls, error = _import(entry_point)
        if cls is not None:
            error = _check(cls, loaded)
            if error is None:
                loaded.append(cls)
        found.append(InstalledPlugin(entry_point.name, entry_point.value,
                                     _distribution(entry_point), cls, error))
    return found


def find(plugins, wanted):
    """The plugin whose resource type or entry point name is ``wanted``;
    a clear error listing both kinds of names otherwise."""
    for plugin in plugins:
        if wanted in (plugin.resource_type, plugin.entry_point):
            return plugin
    known = sorted({p.resource_type for p in plugins if p.resource_type} |
                   {p.entry_point for p in plugins})
    raise exceptions.StackvaultError(
        f"no plugin {wanted!r} installed (types and entry points: "
        f"{', '.join(known) or 'none'})")
