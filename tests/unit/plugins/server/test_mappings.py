"""The server plugin's restore mappings: the resolving tasks (mocked
openstacksdk)."""

from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from flows import flatten
from plugins.server import mappings
from protection import exceptions
from tests.fakes.plugin_helpers import obj
from tests.fakes.server_helpers import (
    MAC, NOT_FOUND, RESTORED_NET, attachment, cloud, flavor, port, restore_ctx,
    run_task, saved, server, volume)


# -- restore: resolving ------------------------------------------------------
class TestResolveFlavor:
    def conn(self, flavors=None):
        conn = cloud()
        conn.compute.flavors.return_value = flavors or [
            flavor(id="f-nano", name="m1.nano", ram=128),
            flavor(id="f-tiny", name="m1.tiny",
                    extra_specs={"hw:cpu": "shared"})]
        conn.compute.find_flavor.side_effect = \
            sdk_exceptions.NotFoundException("no")
        conn.compute.get_flavor.side_effect = NOT_FOUND
        return conn

    def test_mapping_by_name(self):
        conn = self.conn()
        conn.compute.find_flavor.side_effect = None
        conn.compute.find_flavor.return_value = flavor(id="f-big")
        ctx = restore_ctx(conn, parameters={
            "flavor_mapping": {"m1.tiny": "m1.big"}})
        assert run_task(mappings.ResolveFlavor(), ctx) == "f-big"
        conn.compute.find_flavor.assert_called_once_with(
            "m1.big", ignore_missing=False)

    def test_unknown_mapping_target_lists_the_flavors(self):
        conn = self.conn()
        ctx = restore_ctx(conn, parameters={
            "flavor_mapping": {"m1.tiny": "no-such"}})
        with pytest.raises(exceptions.StackvaultError) as caught:
            run_task(mappings.ResolveFlavor(), ctx)
        message = str(caught.value)
        assert "'m1.tiny' to 'no-such'" in message
        assert "m1.nano (1 vCPU, 128 MiB RAM, 1 GiB disk)" in message

    def test_same_id_when_it_exists(self):
        conn = self.conn()
        conn.compute.get_flavor.side_effect = None
        conn.compute.get_flavor.return_value = flavor(id="fl-9")
        meta = saved()
        meta["flavor"]["id"] = "fl-9"
        assert run_task(mappings.ResolveFlavor(), restore_ctx(conn, meta)) == \
            "fl-9"

    def test_same_spec_otherwise_the_same_name_first(self):
        conn = self.conn([
            flavor(id="f-other", name="a-copy",
                    extra_specs={"hw:cpu": "shared"}),
            flavor(id="f-tiny", name="m1.tiny",
                    extra_specs={"hw:cpu": "shared"}),
            flavor(id="f-nospec", name="m1.tiny2")])
        events = []
        ctx = restore_ctx(conn, events=events)
        assert run_task(mappings.ResolveFlavor(), ctx) == "f-tiny"
        assert "by its spec" in events[0].message

    def test_no_match_is_a_clear_error_with_candidates(self):
        conn = self.conn([flavor(id="f-nano", name="m1.nano", ram=128)])
        with pytest.raises(exceptions.StackvaultError,
                           match=r"like 'm1.tiny' \(1 vCPU, 512 MiB RAM.*"
                                 r"flavor_mapping.*m1.nano"):
            run_task(mappings.ResolveFlavor(), restore_ctx(conn))


class TestResolveServerAttributes:
    def run(self, conn, parameters=None, events=None, supports=True):
        ctx = restore_ctx(conn, parameters=parameters, events=events)
        with mock.patch.object(mappings.sdk_utils, "supports_microversion",
                               side_effect=lambda a, v: supports is True
                               or v in supports):
            return run_task(mappings.ResolveServerAttributes(), ctx)

    def conn(self):
        conn = cloud()
        conn.compute.availability_zones.return_value = [obj(name="nova"),
                                                        obj(name="az2")]
        conn.compute.find_keypair.return_value = obj(name="key")
        return conn

    def test_everything_of_the_original(self):
        attrs = self.run(self.conn())
        assert attrs == {"name": "web", "description": "front",
                         "metadata": {"role": "web"},
                         "availability_zone": "nova", "key_name": "key",
                         "tags": ["a", "b"]}

    def test_parameters(self):
        attrs = self.run(self.conn(), {
            "restore_name": "copy", "key_name": "",
            "availability_zone_mapping": {"nova": "az2"}})
        assert attrs["name"] == "copy"
        assert attrs["availability_zone"] == "az2"
        assert "key_name" not in attrs

    def test_an_empty_zone_mapping_lets_nova_choose(self):
        attrs = self.run(self.conn(), {
            "availability_zone_mapping": {"nova": ""}})
        assert "availability_zone" not in attrs

    def test_unknown_zone(self):
        with pytest.raises(exceptions.StackvaultError,
                           match="'az9' does not exist.*nova"):
            self.run(self.conn(), {"availability_zone_mapping":
                                   {"nova": "az9"}})

    def test_missing_key_pair(self):
        conn = self.conn()
        conn.compute.find_keypair.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="key pair 'key' does not exist"):
            self.run(conn)

    def test_nova_without_2_37_is_refused(self):
        with pytest.raises(exceptions.StackvaultError, match="2.37"):
            self.run(self.conn(), supports=())

    def test_tags_need_2_52(self):
        events = []
        attrs = self.run(self.conn(), events=events, supports=("2.37",))
        assert "tags" not in attrs
        assert "2.52" in events[0].message


def resolve_boot(ctx, **children):
    return run_task(mappings.ResolveBootSource(ctx.metadata["boot"]), ctx,
                    **children)


class TestResolveBootSource:
    def test_waits_for_the_boot_image_or_volume_child(self):
        image = mappings.ResolveBootSource(saved()["boot"])
        assert flatten.children_needed(image) == {"OS::Glance::Image#img-1"}
        volume = mappings.ResolveBootSource({"source": "volume",
                                             "volume_id": "root"})
        assert flatten.children_needed(volume) == {
            "OS::Cinder::Volume#root"}

    def test_the_image_child_given(self):
        assert resolve_boot(restore_ctx(cloud()), boot_child="new-img") == {
            "image_id": "new-img"}

    def test_the_restored_image(self):
        ctx = restore_ctx(cloud(), restored={
            ("OS::Glance::Image", "img-1"): "new-img"})
        assert resolve_boot(ctx) == {
            "image_id": "new-img"}

    def test_image_mapping_wins(self):
        conn = cloud()
        conn.image.get_image.return_value = obj(id="other", status="active")
        ctx = restore_ctx(conn, parameters={"image_mapping": {
            "img-1": "other"}}, restored={
            ("OS::Glance::Image", "img-1"): "new-img"})
        assert resolve_boot(ctx) == {
            "image_id": "other"}

    def test_a_referenced_image_is_used_when_it_exists(self):
        conn = cloud(image_owner="admin")
        assert resolve_boot(restore_ctx(
            conn, saved(image_owner="admin"))) == {"image_id": "img-1"}

    def test_a_missing_referenced_image_is_a_clear_error(self):
        conn = cloud()
        meta = saved(image_owner="admin")
        conn.image.get_image.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="does not own it.*image_mapping.*"
                                 "snapshot_root_disk"):
            resolve_boot(restore_ctx(conn, meta))

    def test_the_restored_boot_volume(self):
        meta = saved(srv=server(image=""),
                     attachments=[attachment("root", "/dev/vda")],
                     volumes={"root": volume("root", True)})
        ctx = restore_ctx(cloud(), meta, restored={
            ("OS::Cinder::Volume", "root"): "new-root"})
        assert resolve_boot(ctx) == {
            "volume_id": "new-root"}
        ctx.restored.forget("OS::Cinder::Volume", "root")
        with pytest.raises(exceptions.StackvaultError,
                           match="volume root is not restored.*"
                                 "volume_mapping"):
            resolve_boot(ctx)


class TestResolvePorts:
    def plans(self, conn=None, meta=None, parameters=None, restored=None):
        conn = conn or cloud()
        ctx = restore_ctx(conn, meta, parameters=parameters,
                          restored=RESTORED_NET if restored is None
                          else restored)
        return run_task(mappings.ResolvePorts(), ctx)

    def test_on_the_restored_network_with_the_same_ip_and_mac(self):
        plan = self.plans()["port-1"]
        assert plan["attrs"] == {
            "network_id": "new-net", "name": "eth0", "mac_address": MAC,
            "fixed_ips": [{"subnet_id": "new-sub",
                           "ip_address": "10.0.0.5"}],
            "security_group_ids": ["new-sg"],
            "allowed_address_pairs": [{"ip_address": "10.0.0.100",
                                       "mac_address": MAC}]}
        assert plan["fallback"] is None
        assert plan["floating_ips"] == [{
            "original_id": "fip-1", "address": "172.24.4.50",
            "network_id": "public", "fixed_ip_address": "10.0.0.5",
            "description": ""}]

    def test_keep_fixed_ips_false_keeps_the_subnet_only(self):
        plan = self.plans(parameters={"keep_fixed_ips": False})["port-1"]
        assert plan["attrs"]["fixed_ips"] == [{"subnet_id": "new-sub"}]

    def test_network_mapping_wins_and_keeps_the_address_only(self):
        conn = cloud()
        conn.network.find_network.return_value = obj(id="existing")
        plan = self.plans(conn, parameters={
            "network_mapping": {"net-1": "my-net"}})["port-1"]
        assert plan["attrs"]["network_id"] == "existing"
        assert plan["attrs"]["fixed_ips"] == [{"ip_address": "10.0.0.5"}]
        assert "mac_address" not in plan["fallback"]
        assert "fixed_ips" not in plan["fallback"]

    def test_unknown_network_mapping_target(self):
        conn = cloud()
        conn.network.find_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="maps network net-1.*'nowhere'"):
            self.plans(conn, parameters={"network_mapping":
                                         {"net-1": "nowhere"}})

    def test_a_referenced_network_keeps_its_id_and_subnets(self):
        meta = saved(ports=[port(network_id="public")])
        plan = self.plans(meta=meta)["port-1"]
        assert plan["attrs"]["network_id"] == "public"
        assert plan["attrs"]["fixed_ips"] == [{"subnet_id": "sub-1",
                                               "ip_address": "10.0.0.5"}]
        assert plan["fallback"]["fixed_ips"] == [{"subnet_id": "sub-1"}]

    def test_a_referenced_network_missing_here_is_a_clear_error(self):
        meta = saved(ports=[port(network_id="public")])
        conn = cloud()
        conn.network.get_network.side_effect = NOT_FOUND
        with pytest.raises(exceptions.StackvaultError,
                           match="external and was not restored.*"
                                 "network_mapping"):
            self.plans(conn, meta)

    def test_floating_network_is_mapped(self):
        conn = cloud()
        conn.network.find_network.return_value = obj(id="ext-2")
        plan = self.plans(conn, parameters={
            "network_mapping": {"public": "ext"}})["port-1"]
        assert plan["floating_ips"][0]["network_id"] == "ext-2"

    def test_security_group_same_id_mapping_and_default(self):
        restored = {k: v for k, v in RESTORED_NET.items()
                    if k[0] != "OS::Neutron::SecurityGroup"}
        # same id
        assert self.plans(restored=restored)["port-1"]["attrs"][
            "security_group_ids"] == ["sg-1"]
        # mapping
        conn = cloud()
        conn.network.find_security_group.return_value = obj(id="mine")
        assert self.plans(conn, parameters={
            "security_group_mapping": {"sg-1": "web"}}, restored=restored)[
            "port-1"]["attrs"]["security_group_ids"] == ["mine"]
        # gone: the project's own default group stands in for "default"
        conn = cloud()
        conn.network.get_security_group.side_effect = NOT_FOUND
        conn.network.security_groups.return_value = [obj(id="my-default")]
        meta = saved()
        meta["ports"][0]["security_groups"] = {"sg-1": "default"}
        assert self.plans(conn, meta, restored=restored)["port-1"]["attrs"][
            "security_group_ids"] == ["my-default"]
        # gone and not default: error
        meta["ports"][0]["security_groups"] = {"sg-1": "web"}
        with pytest.raises(exceptions.StackvaultError,
                           match="security_group_mapping"):
            self.plans(conn, meta, restored=restored)

    def test_port_security_disabled_has_no_groups(self):
        meta = saved(ports=[port(is_port_security_enabled=False,
                                  security_group_ids=[])])
        attrs = self.plans(meta=meta)["port-1"]["attrs"]
        assert attrs["is_port_security_enabled"] is False
        assert "security_group_ids" not in attrs
