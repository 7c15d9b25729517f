"""Plugin registry: the plugin contract, lookups and stevedore loading."""

import mock
import pytest
from oslo_config import cfg
from stevedore import extension

from protection import loader
from protection import exceptions
from protection.plugin import base as plugin_mod
from protection.plugin.registry import PluginRegistry
from tests.fakes import fake_cloud


def registry_of(*classes):
    return PluginRegistry([cls() for cls in classes])


# -- lookups -----------------------------------------------------------------
def test_get_returns_the_plugin_for_its_type():
    registry = registry_of(*fake_cloud.ALL)
    assert isinstance(registry.get("Test::Volume"), fake_cloud.VolumePlugin)
    assert isinstance(registry.get("Test::Server"), fake_cloud.ServerPlugin)


def test_types_and_iteration_are_sorted():
    registry = registry_of(*fake_cloud.ALL)
    assert registry.types() == ["Test::Image", "Test::Network",
                                "Test::Server", "Test::Volume"]
    assert [p.resource_type for p in registry] == registry.types()


def test_type_with_no_plugin_is_a_clear_error():
    registry = registry_of(fake_cloud.VolumePlugin, fake_cloud.ImagePlugin)
    with pytest.raises(exceptions.PluginNotFound) as err:
        registry.get("OS::Nova::Server")
    message = str(err.value)
    assert "'OS::Nova::Server'" in message
    assert "Test::Image, Test::Volume" in message
    assert err.value.resource_type == "OS::Nova::Server"
    assert isinstance(err.value, exceptions.StackvaultError)


def test_empty_registry_says_none_loaded():
    with pytest.raises(exceptions.PluginNotFound, match="loaded: none"):
        PluginRegistry().get("OS::Cinder::Volume")


def test_same_class_twice_is_harmless():
    registry = registry_of(fake_cloud.VolumePlugin, fake_cloud.VolumePlugin)
    assert registry.types() == ["Test::Volume"]


def test_two_classes_claiming_one_type_is_an_error():
    class OtherVolumePlugin(fake_cloud.RecordPlugin):
        resource_type = "Test::Volume"

    with pytest.raises(exceptions.PluginError) as err:
        registry_of(fake_cloud.VolumePlugin, OtherVolumePlugin)
    assert "two plugins claim Test::Volume" in str(err.value)
    assert "VolumePlugin" in str(err.value)
    assert "OtherVolumePlugin" in str(err.value)


# -- the plugin contract -----------------------------------------------------
class NoType(fake_cloud.RecordPlugin):
    pass


class TypeWithoutNamespace(fake_cloud.RecordPlugin):
    resource_type = "Volume"


class NotAString(fake_cloud.RecordPlugin):
    resource_type = ("OS::Cinder::Volume",)


class NoRestore(plugin_mod.ProtectionPlugin):
    resource_type = "OS::Broken::Thing"

    def list_resources(self, conn):
        return []

    def show_resource(self, conn, resource_id):
        return None

    def protect_flow(self, ctx, resource):
        return None


class NoDiscovery(plugin_mod.ProtectionPlugin):
    resource_type = "OS::Broken::Thing"

    def protect_flow(self, ctx, resource):
        return None

    def restore_flow(self, ctx, resource):
        return None


class BadRestoreSchema(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Schema"
    restore_schema = {"type": "object",
                      "properties": {"copies": {"type": "integr"}}}


class BadOptionsSchema(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Schema"
    options_schema = {"type": 3}


class BadMetadataSchema(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Schema"
    metadata_schema = {"required": "backup_id"}


class UnknownQuotaService(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Quota"
    quota_demands = {"dns.zones": "zones"}


class QuotaWithoutField(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Quota"
    quota_demands = {"compute": "everything"}


class QuotaWithoutLabel(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Quota"
    quota_demands = {"compute.server_groups": ""}


class QuotasAsAList(fake_cloud.RecordPlugin):
    resource_type = "OS::Broken::Quota"
    quota_demands = ["compute.server_groups"]


@pytest.mark.parametrize("cls, words", [
    (NoType, ["NoType", "no valid resource_type", "None"]),
    (TypeWithoutNamespace, ["no valid resource_type", "'Volume'"]),
    (NotAString, ["no valid resource_type"]),
    (NoRestore, ["NoRestore", "restore_flow()"]),
    (NoDiscovery, ["NoDiscovery", "list_resources()"]),
    (BadRestoreSchema, ["OS::Broken::Schema (restore)",
                        "invalid JSON Schema"]),
    (BadOptionsSchema, ["OS::Broken::Schema (protect)",
                        "invalid JSON Schema"]),
    (BadMetadataSchema, ["OS::Broken::Schema (metadata)",
                         "invalid JSON Schema"]),
    (UnknownQuotaService, ["UnknownQuotaService (OS::Broken::Quota)",
                           "quota_demands", "no quota service 'dns'",
                           "compute, volume, network, image"]),
    (QuotaWithoutField, ["QuotaWithoutField", "'compute' is not "
                         "SERVICE.FIELD"]),
    (QuotaWithoutLabel, ["QuotaWithoutLabel", "'compute.server_groups': "
                         "its label"]),
    (QuotasAsAList, ["QuotasAsAList", "must be a dict"]),
])
def test_broken_plugins_are_refused_with_the_reason(cls, words):
    with pytest.raises(exceptions.PluginError) as err:
        PluginRegistry([cls()])
    for word in words:
        assert word in str(err.value)


class ServerGroupPlugin(fake_cloud.RecordPlugin):
    resource_type = "Test::ServerGroup"
    quota_demands = {"compute.server_groups": "server groups",
                     "compute.instances": "instances"}


def test_declared_quota_names_load_and_are_merged():
    class Servers(fake_cloud.RecordPlugin):
        resource_type = "Test::Server"
        quota_demands = {"compute.instances": "instances"}

    registry = registry_of(Servers, ServerGroupPlugin)
    assert registry.quota_labels() == {
        "compute.instances": "instances",
        "compute.server_groups": "server groups"}


def test_one_quota_name_with_two_labels_is_refused():
    class Servers(fake_cloud.RecordPlugin):
        resource_type = "Test::Server"
        quota_demands = {"compute.instances": "servers"}

    with pytest.raises(exceptions.PluginError) as err:
        registry_of(ServerGroupPlugin, Servers)
    assert "call quota 'compute.instances' 'instances' and 'servers'" in \
        str(err.value)


def test_load_refuses_a_plugin_with_a_bad_quota_declaration():
    with pytest.raises(exceptions.PluginError,
                       match="UnknownQuotaService.*no quota service 'dns'"):
        _load([_ext("volume", fake_cloud.VolumePlugin),
               _ext("broken", UnknownQuotaService)])


def test_base_class_defaults():
    plugin = fake_cloud.VolumePlugin()
    assert plugin_mod.ProtectionPlugin.dependencies(plugin, None, None) == []
    base = plugin_mod.ProtectionPlugin
    assert base.delete_flow(plugin, None, None) is None
    assert base.verify_flow(plugin, None, None) is None
    assert plugin.schema_for(plugin_mod.PROTECT) is plugin.options_schema
    assert plugin.schema_for(plugin_mod.RESTORE) is plugin.restore_schema
    assert plugin.schema_for(plugin_mod.DELETE) == {}
    assert plugin.schema_for(plugin_mod.VERIFY) == {}
    assert plugin.quota_demands == {}


# -- loading with stevedore ---------------------------------------------------
class ConfiguredPlugin(fake_cloud.NetworkPlugin):
    config_group = "test_network"
    config_opts = [cfg.IntOpt("mtu", default=1450)]


def _ext(name, cls):
    return extension.Extension(name, None, cls, None)


def _load(extensions, conf=None):
    conf = conf if conf is not None else cfg.ConfigOpts()
    manager = extension.ExtensionManager.make_test_instance(extensions)
    with mock.patch.object(loader.stevedore, "ExtensionManager",
                           return_value=manager) as em:
        registry = PluginRegistry.load(conf)
    return registry, em, conf


def test_load_instantiates_every_installed_plugin_with_the_conf():
    registry, em, conf = _load([_ext("volume", fake_cloud.VolumePlugin),
                                _ext("server", fake_cloud.ServerPlugin)])
    assert registry.types() == ["Test::Server", "Test::Volume"]
    assert registry.get("Test::Volume").conf is conf
    (namespace,), kwargs = em.call_args
    assert namespace == loader.PLUGINS == "stackvault.plugins"
    assert kwargs["invoke_on_load"] is False
    assert callable(kwargs["on_load_failure_callback"])


def test_load_registers_each_plugins_own_options():
    registry, _em, conf = _load([_ext("network", ConfiguredPlugin)])
    assert conf.test_network.mtu == 1450
    assert registry.get("Test::Network").config.mtu == 1450


def test_load_refuses_a_broken_plugin():
    with pytest.raises(exceptions.PluginError, match="restore_flow"):
        _load([_ext("volume", fake_cloud.VolumePlugin),
               _ext("broken", NoRestore)])


def test_load_refuses_two_entry_points_for_one_type():
    class Clash(fake_cloud.RecordPlugin):
        resource_type = "Test::Volume"

    with pytest.raises(exceptions.PluginError, match="two plugins claim"):
        _load([_ext("a", fake_cloud.VolumePlugin), _ext("b", Clash)])


def test_load_with_nothing_installed_gives_an_empty_registry():
    registry, _em, _conf = _load([])
    assert registry.types() == []
    with pytest.raises(exceptions.PluginNotFound):
        registry.get("OS::Cinder::Volume")


def test_an_entry_point_that_cannot_be_imported_is_a_plugin_error():
    entrypoint = mock.Mock()
    entrypoint.name = "server"

    def manager(namespace, invoke_on_load, on_load_failure_callback):
        # What stevedore does when importing the entry point fails.
        on_load_failure_callback(
            mock.sentinel.manager, entrypoint,
            ImportError("No module named 'stackvault_server'"))
        return extension.ExtensionManager.make_test_instance([])

    with mock.patch.object(loader.stevedore, "ExtensionManager",
                           side_effect=manager):
        with pytest.raises(exceptions.PluginError) as err:
            PluginRegistry.load(cfg.ConfigOpts())
    assert "cannot load plugin 'server'" in str(err.value)
    assert "No module named 'stackvault_server'" in str(err.value)


def test_load_with_the_real_namespace():
    # Whatever is installed in this environment loads (or nothing does);
    # every plugin found obeys the contract.
    registry = PluginRegistry.load(cfg.ConfigOpts())
    for plugin in registry:
        assert "::" in plugin.resource_type
