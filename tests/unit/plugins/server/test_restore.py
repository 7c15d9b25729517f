"""The server plugin's creating restore tasks and their reverts (mocked
openstacksdk; the root disk through a fake Glance).
"""

import json
import threading
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from plugins.server import common
from plugins.server import restore
from protection import exceptions
from protection.plugin import tasks
from protection.plugin.context import Journal
from tests.fakes.plugin_helpers import make_ctx, obj, statuses
from tests.fakes.server_helpers import (
    MAC, NOT_FOUND, PROJECT, SRV, forbidden, restore_ctx, saved,
    saved_root_disk, server_section)


def _raise(error):
    raise error


@pytest.fixture
def section(tmp_path):
    return server_section(tmp_path)


# -- restore: creating --------------------------------------------------------
class TestCreateServer:
    ATTRS = {"name": "web", "metadata": {}}

    def test_from_an_image_with_no_network(self):
        conn = mock.Mock()
        conn.compute.create_server.return_value = obj(id="new-srv")
        ctx = restore_ctx(conn)
        assert restore.CreateServer().execute(
            ctx, conn, "fl-1", self.ATTRS, {"image_id": "img"}) == "new-srv"
        conn.compute.create_server.assert_called_once_with(
            name="web", metadata=restore.CreateServer().marks(ctx),
            flavor_id="fl-1", networks="none", image_id="img")
        assert ctx.restored.get(common.RESOURCE_TYPE, "srv-1") == "new-srv"

    def test_a_rerun_finds_the_server_an_earlier_run_booted(self):
        """Killed after Nova answered, before the id was journaled: the
        re-run finds the server by the marks in its metadata instead of
        booting a second one."""
        conn = mock.Mock()
        conn.compute.create_server.return_value = obj(id="new-srv")
        task = restore.CreateServer(name="OS::Nova::Server#srv-1/Create")
        first = restore_ctx(conn)
        first.journal = Journal("op-1")
        task.execute(first, conn, "fl-1", self.ATTRS, {"image_id": "img"})
        marks = conn.compute.create_server.call_args.kwargs["metadata"]
        assert marks == {"stackvault_operation": "op-1",
                         "stackvault_task": task.name}
        conn.compute.servers.return_value = [
            obj(id="other", metadata={"stackvault_operation": "op-1"}),
            obj(id="new-srv", metadata=dict(marks, kept="1"))]
        again = restore_ctx(conn)
        again.journal = Journal("op-1", resuming=True)
        conn.compute.create_server.reset_mock()
        assert task.execute(again, conn, "fl-1", self.ATTRS,
                            {"image_id": "img"}) == "new-srv"
        conn.compute.create_server.assert_not_called()
        assert again.journal.created_by(task.name) == "new-srv"

    def test_the_marks_stay_once_active(self):
        """Until the restore's last stage: an undo can prove the server."""
        conn = mock.Mock()
        conn.compute.get_server.return_value = obj(status="ACTIVE")
        assert restore.WaitServerActive().execute(
            restore_ctx(conn), conn, "new-srv") == "new-srv"
        conn.compute.delete_server_metadata.assert_not_called()

    def _unmarking(self, resuming=False):
        conn = mock.Mock()
        task = restore.CreateServer(name="OS::Nova::Server#srv-1/Create")
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=resuming,
                              initial={task.name: "new-srv"})
        conn.compute.get_server.return_value = obj(
            id="new-srv", metadata=task.marks(ctx))
        return conn, task, ctx

    def test_the_last_stage_takes_the_marks_off(self):
        conn, task, ctx = self._unmarking()
        conn.compute.delete_server_metadata.side_effect = \
            lambda server, keys: None if keys == ["stackvault_operation"] \
            else _raise(NOT_FOUND)          # a re-run: already gone
        task.unmark(ctx, conn)
        assert sorted(c.kwargs["keys"][0] for c in
                      conn.compute.delete_server_metadata.call_args_list) \
            == ["stackvault_operation", "stackvault_task"]
        assert {c.args[0] for c in
                conn.compute.delete_server_metadata.call_args_list} \
            == {"new-srv"}
        assert ctx.journal.created_by("unmarked:" + task.name) == "new-srv"

    def test_a_fresh_run_does_not_read_its_own_server_again(self):
        """The id is the one Nova answered to this run: ours by
        construction, no proving GET (issue 22 item 7)."""
        conn, task, ctx = self._unmarking()
        task.unmark(ctx, conn)
        conn.compute.get_server.assert_not_called()
        assert conn.compute.delete_server_metadata.call_count == 2

    def test_a_resumed_run_proves_the_server_once(self):
        conn, task, ctx = self._unmarking(resuming=True)
        task.unmark(ctx, conn)
        conn.compute.get_server.assert_called_once_with("new-srv")
        assert conn.compute.delete_server_metadata.call_count == 2

    def test_both_mark_keys_come_off_at_once(self):
        """Two DELETEs in flight together (a metadata PUT would replace a
        user's concurrent change): each waits for the other."""
        conn, task, ctx = self._unmarking()
        both = threading.Barrier(2, timeout=30)
        conn.compute.delete_server_metadata.side_effect = \
            lambda server, keys: both.wait()
        task.unmark(ctx, conn)
        assert ctx.journal.created_by("unmarked:" + task.name) == "new-srv"
        assert ctx.journal.still_marked() == {}

    def test_a_server_gone_before_the_last_stage_counts_as_gone(self):
        conn, task, ctx = self._unmarking()
        conn.compute.delete_server_metadata.side_effect = NOT_FOUND
        conn.compute.get_server.side_effect = NOT_FOUND
        task.unmark(ctx, conn)
        assert ctx.journal.created_by("unmarked:" + task.name) is None
        assert ctx.journal.still_marked() == {}

    def test_marks_already_gone_from_a_live_server_are_off(self):
        conn, task, ctx = self._unmarking()
        conn.compute.delete_server_metadata.side_effect = NOT_FOUND
        task.unmark(ctx, conn)
        conn.compute.get_server.assert_called_once_with("new-srv")
        assert ctx.journal.created_by("unmarked:" + task.name) == "new-srv"

    def test_the_last_stage_leaves_a_planted_server_alone(self):
        conn = mock.Mock()
        task = restore.CreateServer(name="OS::Nova::Server#srv-1/Create")
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=True)
        ctx.journal.record(task.name, "foreign")
        conn.compute.get_server.return_value = obj(id="foreign",
                                                   metadata={})
        task.unmark(ctx, conn)
        conn.compute.delete_server_metadata.assert_not_called()
        assert ctx.journal.left == {task.name: "foreign"}

    def test_from_a_volume(self):
        conn = mock.Mock()
        conn.compute.create_server.return_value = obj(id="new-srv")
        restore.CreateServer().execute(restore_ctx(conn), conn, "fl-1",
                                      self.ATTRS, {"volume_id": "vol"})
        kwargs = conn.compute.create_server.call_args.kwargs
        assert kwargs["block_device_mapping"] == [{
            "boot_index": 0, "uuid": "vol", "source_type": "volume",
            "destination_type": "volume", "delete_on_termination": False}]
        assert "image_id" not in kwargs

    def test_revert_deletes_waits_and_forgets(self):
        conn = mock.Mock()
        conn.compute.get_server.side_effect = [obj(status="ACTIVE"),
                                               NOT_FOUND]
        ctx = restore_ctx(conn)
        ctx.record_new_id("new-srv")
        restore.CreateServer().revert(ctx=ctx, conn=conn, result="new-srv")
        conn.compute.delete_server.assert_called_once_with(
            "new-srv", ignore_missing=True)
        assert ctx.restored.get(common.RESOURCE_TYPE, "srv-1") is None

    def test_wait_ends_at_once_with_novas_fault(self):
        conn = mock.Mock()
        conn.compute.get_server.side_effect = statuses(
            "BUILD", "ERROR", fault={"message": "No valid host was found."})
        with pytest.raises(exceptions.ResourceFailed,
                           match="No valid host was found"):
            restore.WaitServerActive().execute(restore_ctx(conn), conn,
                                              "new-srv")


PLANS = {"port-1": {
    "original": "port-1",
    "attrs": {"network_id": "net", "mac_address": MAC},
    "fallback": {"network_id": "net"},
    "floating_ips": [{"original_id": "fip-1", "address": "172.24.4.50",
                      "network_id": "public", "fixed_ip_address": "10.0.0.5",
                      "description": ""}]}}


class TestPorts:
    def test_created_with_the_plan_and_recorded(self):
        conn = mock.Mock()
        conn.network.create_port.return_value = obj(id="new-port")
        ctx = restore_ctx(conn)
        result = restore.CreatePort("port-1").execute(ctx, conn, PLANS)
        assert result == {"id": "new-port", "created": True}
        conn.network.create_port.assert_called_once_with(
            network_id="net", mac_address=MAC, description=mock.ANY)
        assert ctx.restored.get("OS::Neutron::Port", "port-1") == "new-port"

    def test_refused_mac_on_a_foreign_network_falls_back_and_says_so(self):
        conn, events = mock.Mock(), []
        conn.network.create_port.side_effect = [forbidden(),
                                                obj(id="new-port")]
        ctx = restore_ctx(conn, events=events)
        assert restore.CreatePort("port-1").execute(ctx, conn, PLANS)[
            "id"] == "new-port"
        assert conn.network.create_port.call_args.kwargs == {
            "network_id": "net", "description": mock.ANY}
        assert "refused the original MAC" in events[0].message

    def test_refused_on_a_restored_network_is_an_error(self):
        conn = mock.Mock()
        conn.network.create_port.side_effect = forbidden()
        plans = {"port-1": dict(PLANS["port-1"], fallback=None)}
        with pytest.raises(sdk_exceptions.ForbiddenException):
            restore.CreatePort("port-1").execute(restore_ctx(conn), conn,
                                                plans)

    def test_a_port_another_plugin_restored_is_reused_not_deleted(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn, restored={
            ("OS::Neutron::Port", "port-1"): "theirs"})
        task = restore.CreatePort("port-1")
        result = task.execute(ctx, conn, PLANS)
        assert result == {"id": "theirs", "created": False}
        task.revert(ctx, conn, result)
        conn.network.create_port.assert_not_called()
        conn.network.delete_port.assert_not_called()

    def test_revert_deletes_the_port(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn, restored={
            ("OS::Neutron::Port", "port-1"): "new-port"})
        restore.CreatePort("port-1").revert(
            ctx, conn, {"id": "new-port", "created": True})
        conn.network.delete_port.assert_called_once_with(
            "new-port", ignore_missing=True)
        assert ctx.restored.get("OS::Neutron::Port", "port-1") is None

    def test_attach_and_its_revert_waits_for_the_detach(self):
        conn = mock.Mock()
        task = restore.AttachPort("port-1")
        assert task.execute(restore_ctx(conn), conn, "new-srv",
                            {"id": "new-port"}) == "new-port"
        conn.compute.create_server_interface.assert_called_once_with(
            "new-srv", port_id="new-port")
        conn.network.get_port.side_effect = [obj(device_id="new-srv"),
                                             obj(device_id="")]
        task.revert(restore_ctx(conn), conn, "new-srv", "new-port")
        conn.compute.delete_server_interface.assert_called_once_with(
            "new-port", server="new-srv", ignore_missing=True)
        assert conn.network.get_port.call_count == 2

    def test_a_resumed_attach_of_an_attached_port_is_not_sent_again(self):
        """The dead run's attach went through (Nova finishes it): a second
        one would be refused as 'port in use'."""
        conn = mock.Mock()
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=True)
        conn.network.get_port.return_value = obj(device_id="new-srv")
        assert restore.AttachPort("port-1").execute(
            ctx, conn, "new-srv", {"id": "new-port"}) == "new-port"
        conn.compute.create_server_interface.assert_not_called()
        conn.network.get_port.return_value = obj(device_id="")
        restore.AttachPort("port-1").execute(ctx, conn, "new-srv",
                                             {"id": "new-port"})
        conn.compute.create_server_interface.assert_called_once()

    def test_wait_attached_until_bound_on_the_server(self):
        conn = mock.Mock()
        conn.network.get_port.side_effect = [
            obj(device_id="", status="DOWN", binding_vif_type="unbound",
                binding_host_id=""),
            obj(device_id="new-srv", status="DOWN", binding_vif_type="ovs",
                binding_host_id="h")]
        assert restore.WaitPortAttached("port-1").execute(
            restore_ctx(conn), conn, "new-srv", "new-port") == "new-port"

    def test_wait_attached_fails_at_once_on_a_failed_binding(self):
        conn = mock.Mock()
        conn.network.get_port.return_value = obj(
            device_id="new-srv", status="DOWN",
            binding_vif_type="binding_failed", binding_host_id="h1")
        with pytest.raises(exceptions.ResourceFailed,
                           match="could not bind it"):
            restore.WaitPortAttached("port-1").execute(
                restore_ctx(conn), conn, "new-srv", "new-port")
        assert conn.network.get_port.call_count == 1


class TestFloatingIP:
    def run(self, conn, events=None):
        conn.current_project_id = PROJECT
        conn.network.get_port.return_value = obj(
            fixed_ips=[{"ip_address": "10.0.0.5"}])
        ctx = restore_ctx(conn, events=events)
        task = restore.AssociateFloatingIP("port-1", "fip-1")
        return ctx, task, task.execute(ctx, conn, PLANS, "new-port")

    def test_the_same_free_address_is_reassociated(self):
        conn, events = mock.Mock(), []
        conn.network.ips.return_value = [obj(id="fip-1", port_id=None)]
        ctx, task, result = self.run(conn, events)
        assert result == {"id": "fip-1", "address": "172.24.4.50",
                          "created": False}
        conn.network.ips.assert_called_once_with(
            floating_ip_address="172.24.4.50", floating_network_id="public",
            project_id=PROJECT)
        (fip,), kwargs = conn.network.update_ip.call_args
        assert kwargs == {"port_id": "new-port",
                          "fixed_ip_address": "10.0.0.5"}
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") == \
            "fip-1"
        assert "re-associated" in events[0].message
        task.revert(ctx, conn, result)
        conn.network.update_ip.assert_called_with("fip-1", port_id=None)
        conn.network.delete_ip.assert_not_called()

    def test_the_same_address_is_allocated_again_when_allowed(self):
        conn = mock.Mock()
        conn.network.ips.return_value = []
        conn.network.create_ip.return_value = obj(id="fip-9")
        _, _, result = self.run(conn)
        assert result["created"] and result["address"] == "172.24.4.50"
        assert conn.network.create_ip.call_args.kwargs[
            "floating_ip_address"] == "172.24.4.50"

    def test_falls_back_to_a_new_address_and_reports_it(self):
        conn, events = mock.Mock(), []
        conn.network.ips.return_value = [obj(id="x", port_id="someone")]
        conn.network.create_ip.side_effect = [
            forbidden("create_floatingip:floating_ip_address is disallowed"),
            obj(id="fip-9", floating_ip_address="172.24.4.77")]
        ctx, task, result = self.run(conn, events)
        assert result == {"id": "fip-9", "address": "172.24.4.77",
                          "created": True}
        assert conn.network.create_ip.call_args.kwargs == {
            "floating_network_id": "public",
            "description": tasks.tag_for(None, task.name),
            "port_id": "new-port", "fixed_ip_address": "10.0.0.5"}
        # the saved description replaces the mark once journaled
        conn.network.update_ip.assert_called_once_with("fip-9",
                                                       description="")
        assert "172.24.4.50 could not be taken again" in events[0].message
        assert "new address 172.24.4.77" in events[0].message
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") == \
            "fip-9"
        task.revert(ctx, conn, result)
        conn.network.delete_ip.assert_called_once_with(
            "fip-9", ignore_missing=True)
        assert ctx.restored.get("OS::Neutron::FloatingIP", "fip-1") is None


    def _killed_after_allocating(self):
        """Neutron allocated and associated the floating IP; the process
        died before the journal write."""
        conn = mock.Mock()
        conn.network.ips.return_value = []
        conn.network.create_ip.return_value = obj(id="fip-9")
        ctx, task = restore_ctx(conn), restore.AssociateFloatingIP(
            "port-1", "fip-1")
        ctx.journal = Journal("op-1")
        conn.current_project_id = PROJECT
        conn.network.get_port.return_value = obj(
            fixed_ips=[{"ip_address": "10.0.0.5"}])
        with mock.patch.object(ctx.journal, "record",
                               side_effect=KeyboardInterrupt):
            with pytest.raises(KeyboardInterrupt):
                task.execute(ctx, conn, PLANS, "new-port")
        mark = conn.network.create_ip.call_args.kwargs["description"]
        again = restore_ctx(conn)
        again.journal = Journal("op-1", resuming=True)
        return conn, task, again, mark

    def test_a_rerun_finds_the_allocation_by_its_mark(self):
        conn, task, again, mark = self._killed_after_allocating()
        conn.network.ips.side_effect = lambda **query: [obj(
            id="fip-9", description=mark,
            floating_ip_address="172.24.4.50")] \
            if query == {"port_id": "new-port"} else []
        conn.network.create_ip.reset_mock()
        assert task.execute(again, conn, PLANS, "new-port") == {
            "id": "fip-9", "address": "172.24.4.50", "created": True}
        conn.network.create_ip.assert_not_called()
        assert again.journal.created_by(task.name) == "fip-9"

    def test_abort_finds_the_allocation_by_its_mark(self):
        conn, task, again, mark = self._killed_after_allocating()
        conn.network.ips.side_effect = lambda **query: [obj(id="fip-9")] \
            if query == {"description": mark} else []
        conn.network.get_ip.return_value = obj(id="fip-9", description=mark)
        task.revert(again, conn, None)
        conn.network.delete_ip.assert_called_once_with(
            "fip-9", ignore_missing=True)

    def test_abort_leaves_a_planted_floating_ip(self):
        """The journal names a floating IP of the project that does not
        carry the step's mark: not deleted, NotOurs (reported)."""
        conn, task, again, _mark = self._killed_after_allocating()
        again.journal.record(task.name, "foreign-fip")
        conn.network.get_ip.return_value = obj(id="foreign-fip",
                                               description="mine")
        with pytest.raises(tasks.NotOurs, match="foreign-fip"):
            task.revert(again, conn, None)
        conn.network.delete_ip.assert_not_called()
        assert again.journal.created_by(task.name) == "foreign-fip"


class TestVolumes:
    META = {"attachments": [
        {"volume_id": "vol-0", "device": "/dev/vda", "boot": True},
        {"volume_id": "vol-1", "device": "/dev/vdb", "boot": False}]}

    def test_attached_at_the_original_device(self):
        conn = mock.Mock()
        restored = restore_ctx(conn).restored
        assert restore.AttachVolume("vol-1").execute(
            restore_ctx(conn), conn, self.META, {}, restored, "new-srv",
            "new-vol") == "new-vol"
        (srv,), kwargs = conn.compute.create_volume_attachment.call_args
        assert srv.id == "new-srv"
        assert kwargs == {"volume": "new-vol", "device": "/dev/vdb"}

    def test_a_resumed_attach_already_requested_is_not_sent_again(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn)
        ctx.journal = Journal("op-1", resuming=True)
        conn.compute.volume_attachments.return_value = [
            obj(volume_id="other"), obj(volume_id="new-vol")]
        attach = restore.AttachVolume("vol-1")
        assert attach.execute(ctx, conn, self.META, {}, ctx.restored,
                              "new-srv", "new-vol") == "new-vol"
        conn.compute.create_volume_attachment.assert_not_called()
        conn.compute.volume_attachments.return_value = []
        attach.execute(ctx, conn, self.META, {}, ctx.restored, "new-srv",
                       "new-vol")
        conn.compute.create_volume_attachment.assert_called_once()

    def test_waits_for_its_own_volume_only(self):
        task = restore.AttachVolume("vol-1")
        assert task.rebind["volume_id"] == "restored:OS::Cinder::Volume#vol-1"

    def test_the_restored_id_when_the_volume_is_no_child(self):
        conn = mock.Mock()
        ctx = restore_ctx(conn, restored={
            ("OS::Cinder::Volume", "vol-1"): "new-vol"})
        restore.AttachVolume("vol-1").execute(
            ctx, conn, self.META, {}, ctx.restored, "new-srv", None)
        assert conn.compute.create_volume_attachment.call_args.kwargs[
            "volume"] == "new-vol"

    def test_revert_detaches_and_waits_available_without_deleting(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "detaching", "available")
        restore.AttachVolume("vol-1").revert(restore_ctx(conn), conn,
                                            "new-srv", "new-vol")
        (srv, volume), kwargs = \
            conn.compute.delete_volume_attachment.call_args
        assert (srv.id, volume) == ("new-srv", "new-vol")
        assert conn.block_storage.get_volume.call_count == 2
        conn.block_storage.delete_volume.assert_not_called()

    def test_wait_in_use(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "reserved", "attaching", "in-use")
        restore.WaitVolumeInUse("vol-1").execute(restore_ctx(conn), conn,
                                                "new-srv", "new-vol")

    def test_an_attach_nova_rolled_back_fails_at_once(self):
        conn = mock.Mock()
        conn.block_storage.get_volume.side_effect = statuses(
            "attaching", "available")
        conn.compute.get_server.return_value = obj(
            fault={"message": "device /dev/vdb is busy"})
        with pytest.raises(exceptions.ResourceFailed,
                           match="rolled back.*vdb is busy"):
            restore.WaitVolumeInUse("vol-1").execute(
                restore_ctx(conn), conn, "new-srv", "new-vol")


# -- restore: the root disk ---------------------------------------------------
def test_root_disk_restore_uploads_a_new_image_and_boots_from_it(section):
    payload = b"0123456789"
    glance, conn, snap, root = saved_root_disk(section, payload)
    glance.records.pop(snap)            # the temporary snapshot was deleted
    meta = saved()
    meta["root_disk"] = json.loads(json.dumps(root))
    ctx = make_ctx(SRV, conn, operation="restore", metadata=meta,
                   bank=section)
    new_id = restore.CreateRootDiskImage().execute(ctx, conn, meta,
                                                  {"name": "web"})
    assert ctx.restored.get("OS::Glance::Image", snap) == new_id
    restore.UploadRootDisk().execute(ctx, conn, section, meta, new_id)
    assert restore.WaitRootDiskImage().execute(ctx, conn, meta, new_id) == \
        {"image_id": new_id}
    image = glance.records[new_id]
    assert image["name"] == "web-root-disk"
    assert image["visibility"] == "private"
    assert glance.data[new_id] == payload
    restore.CreateRootDiskImage().revert(ctx=ctx, conn=conn, result=new_id)
    assert new_id not in glance.records
    assert ctx.restored.get("OS::Glance::Image", snap) is None
