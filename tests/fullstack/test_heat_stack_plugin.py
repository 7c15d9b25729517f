"""A Heat stack protected, deleted by Heat, and restored without Heat.

The stack builds a network with a subnet, a server on it, and (in a nested
template) a volume that the top stack attaches to the server. stackvault
protects ``OS::Heat::Stack=<id>``; the stack is then deleted through Heat,
which deletes everything it built; the restore must bring the server, its
volume (with its bytes) and its network back with no Heat call and no new
stack.
"""

import json
import secrets

import pytest

from protection.datasources.heat import stacks as heat_ds
from tools.cloudkit import volume_bytes as devcloud_volume
from tools.cloudkit import teardown
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit.waits import wait_status
from tests.fullstack.service_fixtures import make_service
from tests.fakes.heat_stacks import Heat

MiB = 1024 * 1024
STACK = "OS::Heat::Stack"
CIDR = "10.251.7.0/24"

INNER = {
    "heat_template_version": "2018-08-31",
    "resources": {"data": {"type": "OS::Cinder::Volume",
                           "properties": {"size": 1}}},
    "outputs": {"volume_id": {"value": {"get_resource": "data"}}},
}

TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "description": "stackvault fullstack: a stack restored without Heat",
    "parameters": {"image": {"type": "string"},
                   "flavor": {"type": "string"}},
    "resources": {
        "net": {"type": "OS::Neutron::Net"},
        "subnet": {"type": "OS::Neutron::Subnet",
                   "properties": {"network": {"get_resource": "net"},
                                  "cidr": CIDR}},
        "server": {"type": "OS::Nova::Server",
                   "depends_on": ["subnet"],
                   "properties": {
                       "image": {"get_param": "image"},
                       "flavor": {"get_param": "flavor"},
                       "networks": [{"network": {"get_resource": "net"}}]}},
        "inner": {"type": "inner.yaml"},
        "attach": {"type": "OS::Cinder::VolumeAttachment",
                   "properties": {
                       "instance_uuid": {"get_resource": "server"},
                       "volume_id": {"get_attr": ["inner", "volume_id"]}}},
    },
}


@pytest.fixture
def stack(conn, cleanup, waits, random_image):
    image, _ = random_image(size=MiB)
    flavor = min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus))
    name = f"fullstack-heat-{secrets.token_hex(3)}"
    heat = Heat(conn, cleanup, waits)
    stack_id = heat.stack(name, TEMPLATE,
                          files={"inner.yaml": json.dumps(INNER)},
                          parameters={"image": image.id,
                                      "flavor": flavor.name})
    built = {r.resource_type: r.physical_resource_id
             for r in heat_ds.stack_physical_resources(
                 conn, stack_id, stack_name=name)}
    return {"heat": heat, "name": name, "id": stack_id, "image": image,
            "path": f"/stacks/{name}/{stack_id}", "built": built}


def test_stack_is_restored_without_heat(conn, admin_conn, cleanup, stack,
                                        tmp_path):
    require_devcloud()
    built = stack["built"]
    volume_id = built["OS::Cinder::Volume"]
    server_id = built["OS::Nova::Server"]
    network_id = built["OS::Neutron::Net"]
    wait_status(lambda: conn.block_storage.get_volume(volume_id), "in-use",
                what=f"volume {volume_id}")
    data = secrets.token_bytes(4 * MiB)
    devcloud_volume.write_volume(volume_id, data, 0)

    service = make_service(tmp_path / "bank")
    result = service.protect(conn, "heat-app", [(STACK, stack["id"])])
    cleanup(service.delete, result.checkpoint_id, conn)
    checkpoint = service.show_checkpoint(result.checkpoint_id)
    keys = {r.key for r in checkpoint.graph}
    assert {("OS::Nova::Server", server_id),
            ("OS::Cinder::Volume", volume_id),      # from the nested stack
            ("OS::Neutron::Network", network_id),
            ("OS::Glance::Image", stack["image"].id)} <= keys
    saved = checkpoint.metadata_of(STACK, stack["id"])
    assert saved["template"]["description"] == TEMPLATE["description"]
    assert saved["parameters"]["image"] == stack["image"].id

    stack["heat"].delete_stack(stack["path"])     # Heat deletes it all
    stacks_before = {s.id for s in conn.orchestration.stacks()}

    restored = service.restore(result.checkpoint_id, conn).restored
    cleanup(teardown.delete_restored, conn, restored, admin_conn)

    # No stack was created (the deleted one may still be listed a while).
    assert not {s.id for s in conn.orchestration.stacks()} - stacks_before
    new_server = conn.compute.get_server(
        restored[f"OS::Nova::Server#{server_id}"])
    assert new_server.status == "ACTIVE"
    new_volume = restored[f"OS::Cinder::Volume#{volume_id}"]
    attached = {a.volume_id for a in
                conn.compute.volume_attachments(new_server)}
    assert new_volume in attached
    assert conn.block_storage.get_volume(new_volume).status == "in-use"
    assert devcloud_volume.read_volume(new_volume, len(data), 0) == data
    new_network = restored[f"OS::Neutron::Network#{network_id}"]
    cidrs = {s.cidr for s in conn.network.subnets(network_id=new_network)}
    assert cidrs == {CIDR}
    ports = list(conn.network.ports(device_id=new_server.id))
    assert [p.network_id for p in ports] == [new_network]


SECRET_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "parameters": {
        "db_password": {"type": "string", "hidden": True,
                        "default": "PLACEHOLDER-DEFAULT"},
        "api_key": {"type": "string", "hidden": True},
        "flavor": {"type": "string", "default": "m1.tiny"}},
    "resources": {"dsn": {"type": "OS::Heat::Value",
                          "properties": {"value": {"str_replace": {
                              "template": "db:PW key:KEY",
                              "params": {"PW": {"get_param": "db_password"},
                                         "KEY": {"get_param": "api_key"}}}}}}},
    "outputs": {"dsn": {"value": {"get_attr": ["dsn", "value"]}}},
}


def test_no_secret_of_a_stack_reaches_the_bank(conn, cleanup, waits,
                                               tmp_path):
    # Issue #23, item 4: every object of the checkpoint is scanned for the
    # stack's secrets: a hidden parameter's default (in the template), a
    # hidden parameter's value, and the output that resolves both.
    default, value = (f"default-{secrets.token_hex(8)}",
                      f"value-{secrets.token_hex(8)}")
    template = json.loads(json.dumps(SECRET_TEMPLATE).replace(
        "PLACEHOLDER-DEFAULT", default))
    name = f"fullstack-heat-secret-{secrets.token_hex(3)}"
    stack_id = Heat(conn, cleanup, waits).stack(
        name, template, parameters={"api_key": value})
    service = make_service(tmp_path / "bank")
    result = service.protect(conn, "heat-secrets", [(STACK, stack_id)])
    cleanup(service.delete, result.checkpoint_id, conn)
    saved = service.show_checkpoint(result.checkpoint_id).metadata_of(
        STACK, stack_id)
    assert saved["parameters"]["api_key"] == "******"
    assert saved["parameters"]["flavor"] == "m1.tiny"
    assert "outputs" not in saved
    objects = [p for p in (tmp_path / "bank").rglob("*") if p.is_file()]
    assert objects
    for path in objects:
        data = path.read_bytes()
        for secret in (default, value):
            assert secret.encode() not in data, (path, secret)
