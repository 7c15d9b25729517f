"""Deleting what a test made, or what a restore made, and waiting until
it is really gone. Every function treats "already gone" as done."""

from openstack import exceptions as sdk_exc

from stackvault_tempest_plugin import waits

SERVER = "OS::Nova::Server"
VOLUME = "OS::Cinder::Volume"
IMAGE = "OS::Glance::Image"
NETWORK = "OS::Neutron::Network"
SUBNET = "OS::Neutron::Subnet"
PORT = "OS::Neutron::Port"
GROUP = "OS::Neutron::SecurityGroup"
ROUTER = "OS::Neutron::Router"
FLOATING_IP = "OS::Neutron::FloatingIP"


class Teardown:
    def __init__(self, conn, timeout):
        self.conn = conn
        self.timeout = timeout

    def _gone(self, get, what):
        waits.wait_gone(get, self.timeout, what,
                        sdk_exc.NotFoundException)

    def server(self, server_id):
        self.conn.compute.delete_server(server_id, ignore_missing=True)
        self._gone(lambda: self.conn.compute.get_server(server_id),
                   f"server {server_id}")

    def volume(self, volume_id):
        block = self.conn.block_storage
        try:
            volume = block.get_volume(volume_id)
        except sdk_exc.NotFoundException:
            return
        for attachment in volume.attachments or []:
            self.conn.compute.delete_volume_attachment(
                attachment["server_id"], volume_id, ignore_missing=True)

        def settled():
            try:
                status = block.get_volume(volume_id).status
            except sdk_exc.NotFoundException:
                return "gone"
            return status if status in ("available", "deleting") or \
                status.startswith("error") else None
        if waits.wait_for(settled, self.timeout,
                          f"volume {volume_id} to be detached") not in (
                "gone", "deleting"):
            block.delete_volume(volume_id, ignore_missing=True)
        self._gone(lambda: block.get_volume(volume_id),
                   f"volume {volume_id}")

    def image(self, image_id):
        self.conn.image.delete_image(image_id, ignore_missing=True)
        self._gone(lambda: self.conn.image.get_image(image_id),
                   f"image {image_id}")

    def port(self, port_id):
        self.conn.network.delete_port(port_id, ignore_missing=True)

    def floating_ip(self, ip_id):
        self.conn.network.delete_ip(ip_id, ignore_missing=True)

    def subnet(self, subnet_id):
        self.conn.network.delete_subnet(subnet_id, ignore_missing=True)

    def network(self, network_id):
        for port in self.conn.network.ports(network_id=network_id):
            if port.device_owner != "network:dhcp":
                self.port(port.id)
        self.conn.network.delete_network(network_id, ignore_missing=True)

    def router(self, router_id):
        network = self.conn.network
        try:
            router = network.get_router(router_id)
        except sdk_exc.NotFoundException:
            return
        for port in network.ports(device_id=router_id,
                                  device_owner="network:router_interface"):
            for ip in port.fixed_ips:
                network.remove_interface_from_router(
                    router, subnet_id=ip["subnet_id"])
        network.delete_router(router_id, ignore_missing=True)

    def security_group(self, group_id):
        try:
            group = self.conn.network.get_security_group(group_id)
        except sdk_exc.NotFoundException:
            return
        if group.name != "default":     # restores map it, never make it
            self.conn.network.delete_security_group(group_id)

    # A safe order: what uses something is deleted before it.
    ORDER = [(SERVER, "server"), (VOLUME, "volume"),
             (FLOATING_IP, "floating_ip"), (PORT, "port"),
             (ROUTER, "router"), (SUBNET, "subnet"),
             (GROUP, "security_group"), (NETWORK, "network"),
             (IMAGE, "image")]

    def restored(self, restored):
        """Delete what a restore lists (``{"TYPE#old id": new id}``)."""
        by_type = {}
        for key, new_id in restored.items():
            by_type.setdefault(key.partition("#")[0], []).append(new_id)
        unknown = set(by_type) - {t for t, _ in self.ORDER}
        failures = [f"no teardown for {t}" for t in sorted(unknown)]
        for resource_type, method in self.ORDER:
            for new_id in by_type.get(resource_type, []):
                try:
                    getattr(self, method)(new_id)
                except Exception as exc:   # try every one, report at the end
                    failures.append(f"{resource_type} {new_id}: {exc}")
        if failures:
            raise AssertionError("could not delete what the restore made: "
                                 + "; ".join(failures))
