"""Finding plugins (stevedore namespace ``stackvault.plugins``)."""

import stevedore

from protection import config
from protection import exceptions
from protection import parameters


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
        existing = self._plugins.get(plugin.resource_type)
        if existing is not None and type(existing) is not type(plugin):
            raise exceptions.PluginError(
                f"two plugins claim {plugin.resource_type}: "
                f"{type(existing).__name__} and {type(plugin).__name__}")
        self._plugins[plugin.resource_type] = plugin

    @classmethod
    def load(cls, conf, namespace=config.PLUGIN_NAMESPACE):
        """Load every plugin installed under the entry-point namespace."""
        def failed(manager, entrypoint, exc):
            raise exceptions.PluginError(
                f"cannot load plugin {entrypoint.name!r}: {exc}")

        manager = stevedore.ExtensionManager(
            namespace, invoke_on_load=False,
            on_load_failure_callback=failed)
        registry = cls()
        for ext in sorted(manager, key=lambda e: e.name):
            config.register_component_opts(conf, ext.plugin)
            registry.add(ext.plugin(conf))
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
