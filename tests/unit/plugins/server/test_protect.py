"""The server plugin's description and protect tasks (mocked
openstacksdk; the root disk into a real bank section).
"""

from unittest import mock

import pytest

from plugins.server import description
from plugins.server import protect
from protection import exceptions
from tests.fakes.plugin_helpers import make_ctx, obj, statuses
from tests.fakes.server_helpers import (
    MAC, NOT_FOUND, SRV, attachment, cloud, flavor, port, saved,
    saved_root_disk, server, server_section, volume)


@pytest.fixture
def section(tmp_path):
    return server_section(tmp_path)


# -- protect ------------------------------------------------------------------
def test_describe_saves_what_restore_needs():
    meta = saved(attachments=[attachment("vol-1", "/dev/vdb")],
                 volumes={"vol-1": volume("vol-1")})
    assert meta["server"]["tags"] == ["a", "b"]
    assert meta["server"]["key_name"] == "key"
    assert meta["server"]["security_groups"] == ["web-sg"]
    assert meta["flavor"] == {"id": None, "name": "m1.tiny", "vcpus": 1,
                              "ram": 512, "disk": 1, "ephemeral": 0,
                              "swap": 0, "extra_specs": {"hw:cpu": "shared"}}
    assert meta["boot"] == {"source": "image", "image_id": "img-1",
                            "volume_id": None}
    (port,) = meta["ports"]
    assert port["fixed_ips"] == [{"subnet_id": "sub-1",
                                  "ip_address": "10.0.0.5"}]
    assert port["mac_address"] == MAC
    assert port["security_groups"] == {"sg-1": "name-sg-1"}
    assert port["floating_ips"] == [{
        "id": "fip-1", "address": "172.24.4.50",
        "floating_network_id": "public", "fixed_ip_address": "10.0.0.5",
        "description": ""}]
    assert meta["attachments"][0]["device"] == "/dev/vdb"
    assert meta["attachments"][0]["boot"] is False
    assert meta["networks"]["public"]["external"] is True


def test_flavor_id_is_found_by_name_when_the_spec_matches():
    conn = cloud()
    conn.compute.find_flavor.return_value = flavor(
        extra_specs={"hw:cpu": "shared"})
    assert description.describe_flavor(conn, server())["id"] == "fl-1"


def test_flavor_before_2_47_is_read_by_id():
    conn = cloud()
    conn.compute.get_flavor.return_value = flavor(ram=2048)
    found = description.describe_flavor(conn, server(flavor=obj(id="fl-1")))
    assert found["id"] == "fl-1" and found["ram"] == 2048
    conn.compute.get_flavor.assert_called_with("fl-1", get_extra_specs=True)


def test_ports_follow_the_order_of_the_servers_interfaces():
    conn = cloud(ports=[port(id="p-a"), port(id="p-b")], fips=[])
    conn.compute.server_interfaces.return_value = [obj(port_id="p-b"),
                                                   obj(port_id="p-a")]
    ports = description.describe_ports(conn, server())
    assert [p["id"] for p in ports] == ["p-b", "p-a"]


@pytest.mark.parametrize("status", ["ERROR", "BUILD", "DELETED"])
def test_describe_refuses_unstable_servers(status):
    conn = cloud(srv=server(status=status))
    with pytest.raises(exceptions.StackvaultError, match=f"'{status}'"):
        protect.DescribeServer().execute(conn, SRV)


class TestRootDiskSnapshot:
    def info(self, **boot):
        return {"boot": {"source": "image", **boot},
                "server": {"status": "ACTIVE"}, "flavor": {"disk": 1}}

    def test_opted_out(self):
        conn = mock.Mock()
        assert protect.CreateRootDiskSnapshot().execute(
            make_ctx(SRV, conn), conn, SRV, {"snapshot_root_disk": False},
            self.info()) is None
        conn.compute.create_server_image.assert_not_called()

    def test_taken_by_default(self):
        conn = mock.Mock()
        conn.compute.create_server_image.return_value = obj(id="snap-1")
        assert protect.CreateRootDiskSnapshot().execute(
            make_ctx(SRV, conn), conn, SRV, {}, self.info()) == "snap-1"

    def test_a_volume_booted_server_has_no_root_disk_to_snapshot(self):
        conn, events = mock.Mock(), []
        info = {"boot": {"source": "volume"}}
        assert protect.CreateRootDiskSnapshot().execute(
            make_ctx(SRV, conn, events=events), conn, SRV,
            {"snapshot_root_disk": True}, info) is None
        assert "boots from a volume" in events[0].message

    def test_created_and_reverted(self):
        conn = mock.Mock()
        conn.compute.create_server_image.return_value = obj(id="snap-1")
        task = protect.CreateRootDiskSnapshot()
        ctx = make_ctx(SRV, conn)
        assert task.execute(ctx, conn, SRV, {"snapshot_root_disk": True},
                            self.info()) == "snap-1"
        conn.compute.create_server_image.assert_called_once_with(
            "srv-1", name="stackvault-tmp-cp-1", metadata=task.marks(ctx),
            wait=False)
        conn.image.get_image.side_effect = [obj(status="active"), NOT_FOUND]
        conn.compute.get_server.side_effect = [
            obj(task_state="image_uploading"), obj(task_state=None)]
        task.revert(ctx=ctx, conn=conn, result="snap-1")
        conn.image.delete_image.assert_called_once_with(
            "snap-1", ignore_missing=True)
        # the volumes' snapshots are deleted after: Nova must be done
        assert conn.compute.get_server.call_count == 2

    def test_revert_of_a_server_gone_does_not_wait(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = NOT_FOUND
        conn.compute.get_server.side_effect = NOT_FOUND
        protect.CreateRootDiskSnapshot().revert(
            ctx=make_ctx(SRV, conn), conn=conn, result="snap-1")
        conn.compute.get_server.assert_called_once_with("srv-1")

    def test_refused_for_a_shelved_server(self):
        conn = mock.Mock()
        info = self.info()
        info["server"]["status"] = "SHELVED_OFFLOADED"
        with pytest.raises(exceptions.StackvaultError, match="snapshots"):
            protect.CreateRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV,
                {"snapshot_root_disk": True}, info)

    def test_wait_until_active(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = statuses("queued", "saving",
                                                    "active")
        busy = obj(task_state="image_uploading")
        conn.compute.get_server.side_effect = [busy, busy,
                                               obj(task_state=None)]
        protect.WaitRootDiskSnapshot().execute(
            make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())
        # active, then Nova done with the server (its volumes' snapshots
        # are deleted after the server's protect)
        assert conn.compute.get_server.call_count == 3

    def test_fails_at_once_when_nova_is_done_and_glance_got_nothing(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = statuses("queued")
        conn.compute.get_server.return_value = obj(task_state=None)
        with pytest.raises(exceptions.ResourceFailed,
                           match="received no data"):
            protect.WaitRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())
        assert conn.image.get_image.call_count == 2

    def test_snapshot_deleted_by_nova_reports_the_servers_fault(self):
        conn = mock.Mock()
        conn.image.get_image.side_effect = NOT_FOUND
        conn.compute.get_server.return_value = obj(
            fault={"message": "disk full"})
        with pytest.raises(exceptions.ResourceFailed, match="disk full"):
            protect.WaitRootDiskSnapshot().execute(
                make_ctx(SRV, conn), conn, SRV, "snap-1", self.info())

    def test_deleted_after_the_data_is_saved(self):
        conn = mock.Mock()
        ctx = make_ctx(SRV, conn)
        protect.DeleteRootDiskSnapshot().execute(ctx, conn, "snap-1")
        conn.image.delete_image.assert_called_once_with(
            "snap-1", ignore_missing=True)
        protect.DeleteRootDiskSnapshot().execute(ctx, conn, None)
        assert conn.image.delete_image.call_count == 1


def test_root_disk_data_is_streamed_into_the_bank(section):
    payload = b"0123456789"
    _, _, snap, root = saved_root_disk(section, payload)
    assert section.list() == ["data/00000000", "data/00000001",
                              "data/00000002", "data/00000003"]
    assert root["snapshot_id"] == snap
    assert root["data"]["size"] == len(payload)
    assert b"".join(b"".join(section.get(o["name"]))
                    for o in root["data"]["objects"]) == payload
    assert root["image"]["properties"]["image_type"] == "snapshot"
    protect.SaveRootDiskData(object_size=3).revert(section)
    assert section.list() == []


def test_root_disk_not_asked_for_saves_nothing(section):
    conn = mock.Mock()
    assert protect.SaveRootDiskData(3).execute(
        make_ctx(SRV, conn), conn, section, None) is None
    assert section.list() == []


def test_metadata_saved_and_reverted(section):
    protect.SaveServerMetadata().execute(section, {"server": {}}, None)
    assert section.load_metadata() == {"format": 1, "server": {},
                                       "root_disk": None}
    protect.SaveServerMetadata().revert(section)
    assert section.load_metadata() == {}
