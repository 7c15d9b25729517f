"""Cloud content made once services answer: flavors, the public network,
the volume type, and quotas large enough that tests never hit them."""

from .identity import admin_connection
from .services.cinder import BACKEND

FLAVORS = [  # name, vcpus, ram MB, disk GB
    ("m1.nano", 1, 128, 1),
    ("m1.tiny", 1, 512, 1),
    ("m1.small", 1, 2048, 20),
    ("m1.medium", 2, 4096, 40),
    ("m1.large", 4, 8192, 80),
]
PUBLIC_CIDR = "172.24.4.0/24"

COMPUTE_QUOTAS = dict(
    instances=200,
    cores=400,
    ram=1024000,
    key_pairs=200,
    server_groups=100,
    server_group_members=100,
    metadata_items=256,
)
VOLUME_QUOTAS = dict(
    volumes=500,
    snapshots=500,
    backups=500,
    gigabytes=5000,
    backup_gigabytes=5000,
)
NETWORK_QUOTAS = dict(
    network=200,
    subnet=200,
    port=1000,
    router=100,
    floatingip=100,
    security_group=200,
    security_group_rule=2000,
)


def setup():
    conn = admin_connection()
    for name, vcpus, ram, disk in FLAVORS:
        if not conn.compute.find_flavor(name):
            conn.compute.create_flavor(
                name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True
            )
    net = conn.network.find_network("public")
    if net is None:
        net = conn.network.create_network(
            name="public",
            is_router_external=True,
            is_shared=True,
            provider_network_type="flat",
            provider_physical_network="public",
        )
    if not conn.network.find_subnet("public-subnet"):
        conn.network.create_subnet(
            name="public-subnet",
            network_id=net.id,
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip="172.24.4.1",
            is_dhcp_enabled=False,
            allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}],
        )
    if not conn.block_storage.find_type(BACKEND):
        conn.block_storage.create_type(
            name=BACKEND, extra_specs={"volume_backend_name": BACKEND}
        )
    for pname in ("demo", "alt", "admin"):
        project = conn.identity.find_project(pname, domain_id="default")
        conn.set_compute_quotas(project.id, **COMPUTE_QUOTAS)
        conn.set_volume_quotas(project.id, **VOLUME_QUOTAS)
        conn.set_network_quotas(project.id, **NETWORK_QUOTAS)
    conn.close()
