"""Finding plugins (stevedore namespace ``stackvault.plugins``)."""

from protection import config
from protection import exceptions
from protection import loader
from protection.model import parameters


class PluginRegistry:
    """Resource type -> plugin instance."""

    def __init__(self, plugins=()):
        self._plugins = {}
        for plugin in plugins:
            self.add(plugin)

    def add(self, plugin):
        plugin.check()
        parameters.check_schema(plugin.options_schema,
                                f"{plugin.resource_type} (protect)")
        parameters.check_schema(plugin.restore_schema,
                                f"{plugin.resource_type} (restore)")
        parameters.check_schema(plugin.metadata_schema,
                                f"{plugin.resource_type} (metadata)")
        existing = self._plugins.get(plugin.resource_type)
        if existing is not None and type(existing) is not type(plugin):
            raise exceptions.PluginError(
                f"two plugins claim {plugin.resource_type}: "
                f"{type(existing).__name__} and {type(plugin).__name__}")
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

    def __iter__(self):
        return iter(self._plugins[t] for t in self.types())
