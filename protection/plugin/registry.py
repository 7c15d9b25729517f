"""Finding plugins (stevedore namespace ``stackvault.plugins``).

A plugin class is checked against the contract when it is added
(:func:`check_class`: resource type, flows, JSON Schemas, declared quota
names), so a broken plugin stops the service at start with its name and
the reason, not in the middle of a restore.
"""

from protection import config
from protection import exceptions
from protection import loader
from protection.model import parameters
from protection.plugin import checks


def plugin_name(cls):
    """``module.Class``: how messages name a plugin."""
    return f"{cls.__module__}.{cls.__name__}"


def check_class(cls):
    """Raise PluginError when the plugin class breaks the contract (it is
    not instantiated: ``stackvault plugin list`` checks offline)."""
    cls.check()
    parameters.check_schema(cls.options_schema,
                            f"{cls.resource_type} (protect)")
    parameters.check_schema(cls.restore_schema,
                            f"{cls.resource_type} (restore)")
    parameters.check_schema(cls.metadata_schema,
                            f"{cls.resource_type} (metadata)")
    problems = checks.quota_declaration_problems(
        getattr(cls, "quota_demands", {}))
    if problems:
        raise exceptions.PluginError(
            f"plugin {plugin_name(cls)} ({cls.resource_type}): "
            f"quota_demands: {'; '.join(problems)}")


def check_demand(plugin, quota):
    """Raise PluginError when ``plugin`` demands a quota it did not
    declare (a bug in the plugin, not the operator's mistake)."""
    if quota not in (getattr(plugin, "quota_demands", None) or {}):
        cls = type(plugin)
        raise exceptions.PluginError(
            f"plugin {plugin_name(cls)} ({plugin.resource_type}) demands "
            f"quota {quota!r}, which it does not declare in quota_demands")


def check_beside(cls, others):
    """Raise PluginError when the plugin class cannot be loaded beside
    the classes ``others``: another class claims its resource type, or
    calls one of its quota names otherwise (the pre-flight's report would
    then depend on which one was loaded first). The same class twice is
    harmless."""
    for other in others:
        if other is cls:
            continue
        if other.resource_type == cls.resource_type:
            raise exceptions.PluginError(
                f"two plugins claim {cls.resource_type}: "
                f"{other.__name__} and {cls.__name__}")
        for name, label in cls.quota_demands.items():
            theirs = other.quota_demands.get(name, label)
            if theirs != label:
                raise exceptions.PluginError(
                    f"plugins {plugin_name(other)} and {plugin_name(cls)} "
                    f"call quota {name!r} {theirs!r} and {label!r}: use "
                    "one label")


class PluginRegistry:
    """Resource type -> plugin instance."""

    def __init__(self, plugins=()):
        self._plugins = {}
        for plugin in plugins:
            self.add(plugin)

    def add(self, plugin):
        check_class(type(plugin))
        check_beside(type(plugin),
                     [type(other) for other in self._plugins.values()])
        self._plugins[plugin.resource_type] = plugin

    @classmethod
    def load(cls, conf, namespace=loader.PLUGINS):
        """Load every plugin installed under the entry-point namespace."""
        registry = cls()
        for plugin_cls in loader.load_all(namespace).values():
            config.register_component_opts(conf, plugin_cls)
            registry.add(plugin_cls(conf))
        return registry

    def get(self, resource_type):
        try:
            return self._plugins[resource_type]
        except KeyError:
            raise exceptions.PluginNotFound(resource_type,
                                            self._plugins) from None

    def types(self):
        return sorted(self._plugins)

    def quota_labels(self):
        """``{"SERVICE.FIELD": label}`` of every quota the loaded plugins
        declare (what the pre-flight may compare)."""
        labels = {}
        for plugin in self:
            labels.update(plugin.quota_demands)
        return labels

    def __iter__(self):
        return iter(self._plugins[t] for t in self.types())
