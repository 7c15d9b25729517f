"""A described server for the server plugin's unit tests: a mocked cloud
(``cloud``), what protect saves for it (``saved``), a restore context, a
bank section with a saved root disk."""

import inspect
import json
from unittest import mock

from openstack import exceptions as sdk_exceptions

from plugins.server import common
from plugins.server import description
from plugins.server import protect
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint.store import CheckpointStore
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds
from tests.fakes import fake_glance
from tests.fakes.plugin_helpers import make_ctx, obj

SRV = Resource(common.RESOURCE_TYPE, "srv-1", "web")
NOT_FOUND = sdk_exceptions.NotFoundException("not found")
PROJECT = "project-1"
MAC = "fa:16:3e:00:00:01"

# What a restore of the server's network maps its ids to.
RESTORED_NET = {("OS::Neutron::Network", "net-1"): "new-net",
                ("OS::Neutron::Subnet", "sub-1"): "new-sub",
                ("OS::Neutron::SecurityGroup", "sg-1"): "new-sg"}


def forbidden(message="policy does not allow it"):
    return sdk_exceptions.ForbiddenException(message, details=message)


# -- a described cloud -------------------------------------------------------
def flavor(**over):
    attrs = dict(id="fl-1", name="m1.tiny", vcpus=1, ram=512, disk=1,
                 ephemeral=0, swap=0, extra_specs={})
    attrs.update(over)
    return obj(**attrs)


def embedded_flavor(**over):
    """A flavor as compute API 2.47+ embeds it in a server (no id)."""
    attrs = dict(original_name="m1.tiny", vcpus=1, ram=512, disk=1,
                 ephemeral=0, swap=0, extra_specs={"hw:cpu": "shared"})
    attrs.update(over)
    return obj(**attrs)


def server(**over):
    attrs = dict(id="srv-1", name="web", description="front",
                 status="ACTIVE", availability_zone="nova", key_name="key",
                 metadata={"role": "web"}, tags=["b", "a"], config_drive="",
                 security_groups=[{"name": "web-sg"}],
                 image=obj(id="img-1"), flavor=embedded_flavor(),
                 root_device_name=None, fault=None, task_state=None)
    attrs.update(over)
    return obj(**attrs)


def port(**over):
    attrs = dict(id="port-1", name="eth0", description="", network_id="net-1",
                 fixed_ips=[{"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
                 mac_address=MAC, security_group_ids=["sg-1"],
                 allowed_address_pairs=[{"ip_address": "10.0.0.100",
                                         "mac_address": MAC}],
                 is_port_security_enabled=True, is_admin_state_up=True,
                 binding_vnic_type="normal")
    attrs.update(over)
    return obj(**attrs)


def network(network_id, project=PROJECT, external=False):
    return obj(id=network_id, name=f"name-{network_id}", project_id=project,
               is_router_external=external, is_shared=external,
               subnet_ids=["sub-1"])


def fip(**over):
    attrs = dict(id="fip-1", floating_ip_address="172.24.4.50",
                 floating_network_id="public", fixed_ip_address="10.0.0.5",
                 description="", port_id="port-1")
    attrs.update(over)
    return obj(**attrs)


def cloud(srv=None, ports=None, attachments=None, volumes=None,
          networks=None, fips=None, image_owner=PROJECT):
    """A mocked connection describing one server."""
    conn = mock.Mock()
    conn.current_project_id = PROJECT
    srv = srv or server()
    conn.compute.get_server.return_value = srv
    conn.compute.find_flavor.return_value = flavor()
    conn.compute.get_flavor.return_value = flavor()
    ports = [port()] if ports is None else ports
    conn.compute.server_interfaces.return_value = [
        obj(port_id=p.id) for p in reversed(ports)]
    conn.network.ports.return_value = ports
    attachments = [] if attachments is None else attachments
    conn.compute.volume_attachments.return_value = attachments
    volumes = volumes or {}
    conn.block_storage.get_volume.side_effect = lambda vid: volumes[vid]
    networks = networks or {"net-1": network("net-1"),
                            "public": network("public", "admin", True)}
    conn.network.get_network.side_effect = lambda nid: networks[nid]
    conn.network.get_security_group.side_effect = \
        lambda sg: obj(id=sg, name=f"name-{sg}")
    fips = [fip()] if fips is None else fips
    conn.network.ips.side_effect = lambda **q: [
        f for f in fips if f.port_id == q.get("port_id")]
    conn.image.get_image.return_value = obj(
        id="img-1", name="cirros", owner=image_owner, status="active",
        size=1024, disk_format="raw", kernel_id=None, ramdisk_id=None)
    return conn


def attachment(volume_id, device):
    return obj(volume_id=volume_id, device=device,
               delete_on_termination=False)


def volume(volume_id, bootable=False, name=None):
    return obj(id=volume_id, name=name or volume_id, size=1,
               is_bootable="true" if bootable else "false")


def saved(**cloud_kwargs):
    """What protect saves for the server of ``cloud(**cloud_kwargs)``."""
    conn = cloud(**cloud_kwargs)
    info = description.describe_server(conn, "srv-1")
    # JSON-safe, as the bank stores it.
    return json.loads(json.dumps({"format": common.METADATA_FORMAT, **info,
                                  "root_disk": None}))


def two_volume_metadata():
    return saved(attachments=[attachment("vol-b", "/dev/vdc"),
                              attachment("vol-a", "/dev/vdb")],
                 volumes={"vol-a": volume("vol-a"),
                          "vol-b": volume("vol-b")})


def server_section(tmp_path):
    """A bank section for SRV in a new checkpoint (wrap it in a fixture)."""
    store = CheckpointStore(FileSystemBank(str(tmp_path / "bank")))
    cp = store.create({"name": "t"},
                      ResourceGraph.build([SRV], lambda r: []))
    return cp.section(SRV)


def saved_root_disk(section, payload):
    glance = fake_glance.FakeGlance()
    conn = fake_glance.connection(glance)
    snap = glance.add(payload, name="stackvault-tmp-cp-1",
                      image_type="snapshot")
    ctx = make_ctx(SRV, conn, bank=section)
    root = protect.SaveRootDiskData(object_size=3).execute(
        ctx, conn, section, snap)
    return glance, conn, snap, root


def restore_ctx(conn, metadata=None, parameters=None, restored=None,
                events=None):
    ctx = make_ctx(SRV, conn, operation="restore", parameters=parameters,
                   metadata=metadata or saved(), events=events)
    ctx.restored = RestoredIds(restored or {})
    return ctx


def run_task(task_, ctx, **provided):
    """Call ``execute`` with what the framework would inject."""
    injected = {"ctx": ctx, "conn": ctx.conn, "resource": ctx.resource,
                "metadata": ctx.metadata, "parameters": ctx.parameters,
                "restored": ctx.restored, "bank": ctx.bank, **provided}
    args = inspect.signature(task_.execute).parameters
    # a child a task names (restored_child) is None unless given: the
    # task then reads the restored ids, as when the child is no child
    return task_.execute(**{k: injected.get(k) for k, arg in args.items()
                            if arg.kind != arg.VAR_KEYWORD})
