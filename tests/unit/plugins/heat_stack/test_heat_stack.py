"""Unit tests of the Heat stack protectable (mocked Heat reads)."""

from unittest import mock

import pytest
from oslo_config import cfg
from openstack import exceptions as sdk_exceptions

from plugins import heat_stack
from protection import config
from protection import exceptions
from protection.datasources.heat.stacks import PhysicalResource
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import make_ctx, obj

STACK = Resource(heat_stack.RESOURCE_TYPE, "st-1", "app")
BUILT = [
    PhysicalResource("OS::Neutron::Net", "net-1", "net", "",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Neutron::Subnet", "sub-1", "subnet", "",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Nova::Server", "srv-1", "web", "",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Cinder::VolumeAttachment", "att-1", "attach", "",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Heat::Stack", "st-2", "inner", "",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Cinder::Volume", "vol-1", "data", "inner",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Glance::WebImage", "img-1", "image", "inner",
                     "CREATE_COMPLETE"),
    PhysicalResource("OS::Nova::KeyPair", "ops-key", "key", "",
                     "CREATE_COMPLETE"),
]


@pytest.fixture
def conf():
    conf = config.load_config([], conf=cfg.ConfigOpts())
    config.register_component_opts(conf, heat_stack.HeatStackPlugin)
    return conf


@pytest.fixture
def plugin(conf):
    return heat_stack.HeatStackPlugin(conf)


def test_dependencies_are_what_the_stack_built_that_plugins_protect(plugin):
    with mock.patch.object(heat_stack.heat_stacks, "stack_physical_resources",
                           return_value=BUILT + BUILT[:1]) as read:
        children = plugin.dependencies(mock.Mock(), STACK)
    read.assert_called_once_with(mock.ANY, "st-1", 5, stack_name="app")
    assert [c.key for c in children] == [
        ("OS::Neutron::Network", "net-1"), ("OS::Nova::Server", "srv-1"),
        ("OS::Cinder::Volume", "vol-1"), ("OS::Glance::Image", "img-1"),
        ("OS::Nova::KeyPair", "ops-key")]
    assert children[2].extra == {"heat_stack": "st-1",
                                 "nested_path": "inner"}


def test_nested_depth_comes_from_config(plugin, conf):
    conf.set_override("nested_depth", 1, group="heat_stack_plugin")
    with mock.patch.object(heat_stack.heat_stacks, "stack_physical_resources",
                           return_value=[]) as read:
        assert plugin.dependencies(mock.Mock(), STACK) == []
    assert read.call_args.args[2] == 1


def test_show_of_a_missing_stack_is_resource_not_found(plugin):
    conn = mock.Mock()
    conn.orchestration.get_stack.side_effect = \
        sdk_exceptions.NotFoundException("gone")
    with pytest.raises(exceptions.ResourceNotFound, match="st-9"):
        plugin.show_resource(conn, "st-9")


def test_list_resources(plugin):
    conn = mock.Mock()
    conn.orchestration.stacks.return_value = [
        obj(id="st-1", name="app", status="CREATE_COMPLETE")]
    assert [r.key for r in plugin.list_resources(conn)] == [
        (heat_stack.RESOURCE_TYPE, "st-1")]


def test_protect_saves_template_parameters_and_resources(conf):
    bank = mock.Mock()
    ctx = make_ctx(STACK, bank=bank)
    ctx.conf = conf
    described = {"stack": {"stack_name": "app", "description": "d",
                           "parameters": {"flavor": "m1.tiny"},
                           "outputs": [{"output_key": "ip"}]},
                 "template": {"heat_template_version": "2021-04-16"}}
    with mock.patch.object(heat_stack.heat_stacks, "stack_description",
                           return_value=described), \
            mock.patch.object(heat_stack.heat_stacks,
                              "stack_physical_resources",
                              return_value=BUILT[:1]):
        heat_stack.SaveStackDescription().execute(ctx, ctx.conn, STACK,
                                                  bank)
    saved = bank.save_metadata.call_args.args[0]
    assert saved["template"] == described["template"]
    assert saved["parameters"] == {"flavor": "m1.tiny"}
    assert saved["resources"][0]["physical_resource_id"] == "net-1"
    heat_stack.SaveStackDescription().revert(bank)
    bank.delete_metadata.assert_called_once_with()


def test_restore_creates_nothing_and_reports_the_new_ids():
    events = []
    ctx = make_ctx(STACK, operation="restore", events=events)
    ctx.restored.record("OS::Nova::Server", "srv-1", "srv-new")
    ctx.restored.record("OS::Neutron::Network", "net-1", "net-new")
    conn = ctx.conn
    heat_stack.ReportRestoredStack().execute(
        ctx, {"stack_name": "app",
              "resources": [r._asdict() for r in BUILT]})
    assert "web=srv-new" in events[0].message
    assert "net=net-new" in events[0].message
    assert conn.mock_calls == []          # no call to any cloud API


SECRET = "s3cret-db-password"
HOT = {"heat_template_version": "2021-04-16",
       "parameters": {"flavor": {"type": "string", "default": "m1.tiny"},
                      "db_password": {"type": "string", "hidden": True,
                                      "default": SECRET}},
       "outputs": {"dsn": {"value": {"get_param": "db_password"}}}}
CFN = {"AWSTemplateFormatVersion": "2010-09-09",
       "Parameters": {"DBPassword": {"Type": "String", "NoEcho": "true",
                                     "Default": SECRET},
                      "Size": {"Type": "Number", "Default": 1}}}


def _saved(conf, template, parameters, options=None):
    bank = mock.Mock()
    ctx = make_ctx(STACK, bank=bank, parameters=options)
    ctx.conf = conf
    described = {"stack": {"stack_name": "app", "parameters": parameters,
                           "outputs": [{"output_key": "dsn",
                                        "output_value": f"db:{SECRET}"}]},
                 "template": template}
    with mock.patch.object(heat_stack.heat_stacks, "stack_description",
                           return_value=described), \
            mock.patch.object(heat_stack.heat_stacks,
                              "stack_physical_resources", return_value=[]):
        heat_stack.SaveStackDescription().execute(ctx, ctx.conn, STACK,
                                                  bank)
    return bank.save_metadata.call_args.args[0]


@pytest.mark.parametrize("template, hidden, shown", [
    (HOT, "db_password", "flavor"), (CFN, "DBPassword", "Size")])
def test_hidden_parameters_and_their_defaults_never_reach_the_bank(
        conf, template, hidden, shown):
    # Heat masks a hidden parameter's value, never the template's default
    # (issue #23, item 4): both are masked before anything is saved.
    saved = _saved(conf, template, {hidden: SECRET, shown: "x"})
    assert SECRET not in repr(saved)
    assert saved["parameters"] == {hidden: heat_stack.MASK, shown: "x"}
    section = saved["template"].get("parameters") or \
        saved["template"]["Parameters"]
    assert heat_stack.MASK in section[hidden].values()
    assert section[shown] == template.get(
        "parameters", template.get("Parameters"))[shown]
    assert template["parameters" if template is HOT else "Parameters"][
        hidden] != section[hidden], "the template given must not change"


def test_outputs_are_saved_only_when_asked(conf):
    assert "outputs" not in _saved(conf, HOT, {})
    asked = _saved(conf, HOT, {}, options={"save_outputs": True})
    assert asked["outputs"][0]["output_value"] == f"db:{SECRET}"


def test_save_outputs_is_a_boolean_protect_parameter():
    schema = heat_stack.HeatStackPlugin.options_schema
    assert schema["properties"]["save_outputs"]["type"] == "boolean"
    assert schema["additionalProperties"] is False
