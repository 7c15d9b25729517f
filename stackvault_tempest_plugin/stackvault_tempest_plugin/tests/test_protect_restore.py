"""A server with a volume and a port: protect, delete, restore; verify.

Everything is driven through ``stackvault ... -f json`` and checked in the
cloud's real state: after the restore the server is ACTIVE, the volume is
``in-use`` on it, and its port has the fixed IP the original had. Every
resource, original or restored, and the checkpoint are deleted at the end.
"""

import ipaddress
import os
import secrets

from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib import decorators

from stackvault_tempest_plugin import teardown as td
from stackvault_tempest_plugin.tests import base
from stackvault_tempest_plugin import waits

CONF = config.CONF
MiB = 1024 * 1024


class CloudResourcesTest(base.StackvaultTest):
    """Building, protecting and restoring; no tests of its own."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        for service in ("nova", "cinder", "neutron", "glance"):
            if not getattr(CONF.service_available, service):
                raise cls.skipException(f"{service} is not available")

    # -- building ------------------------------------------------------------
    def _name(self, kind):
        return data_utils.rand_name(f"stackvault-{kind}")

    def _image(self):
        """A small image of the test's own, so the checkpoint holds data
        it made and can delete."""
        image = self.conn.image.create_image(
            name=self._name("image"), disk_format="raw",
            container_format="bare", data=secrets.token_bytes(MiB))
        self.addCleanup(self.teardown.image, image.id)
        return waits.wait_status(lambda: self.conn.image.get_image(image.id),
                                 "active", self.timeout, f"image {image.id}",
                                 failures=("killed", "deleted"))

    def _network(self):
        """A network, a subnet and a port with a chosen fixed IP."""
        network = self.conn.network
        net = network.create_network(name=self._name("net"))
        self.addCleanup(self.teardown.network, net.id)
        cidr = (f"10.{secrets.randbelow(200) + 20}."
                f"{secrets.randbelow(250)}.0/24")
        subnet = network.create_subnet(network_id=net.id, ip_version=4,
                                       cidr=cidr, name=self._name("subnet"))
        self.addCleanup(self.teardown.subnet, subnet.id)
        address = str(ipaddress.ip_network(cidr)[42])
        port = network.create_port(
            network_id=net.id, name=self._name("port"),
            fixed_ips=[{"subnet_id": subnet.id, "ip_address": address}])
        self.addCleanup(self.teardown.port, port.id)
        return net, subnet, port

    def _server(self, image, port):
        server = self.conn.compute.create_server(
            name=self._name("server"), flavor_id=CONF.compute.flavor_ref,
            image_id=image.id, networks=[{"port": port.id}])
        self.addCleanup(self.teardown.server, server.id)
        return waits.wait_status(
            lambda: self.conn.compute.get_server(server.id), "ACTIVE",
            self.timeout, f"server {server.id}")

    def _new_volume(self):
        """A 1 GiB volume, asked for; not waited for (see _attach)."""
        volume = self.conn.block_storage.create_volume(
            size=1, name=self._name("volume"))
        self.addCleanup(self.teardown.volume, volume.id)
        return volume

    def _attach(self, server, volume):
        def get():
            return self.conn.block_storage.get_volume(volume.id)
        waits.wait_status(get, "available", self.timeout,
                          f"volume {volume.id}")
        self.conn.compute.create_volume_attachment(server, volume=volume)
        return waits.wait_status(get, "in-use", self.timeout,
                                 f"volume {volume.id}")

    def _protect(self, name, *refs):
        code, result, err = self.stackvault.report("protect", "--name", name,
                                                   *refs)
        if result and result.get("checkpoint_id"):
            # also a failed protect's checkpoint: it holds what it stored
            self.addCleanup(self.stackvault.json, "checkpoint", "delete",
                            result["checkpoint_id"])
        self.assertEqual(0, code, f"protect exited {code}: {err}")
        self.assertEqual("success", result["status"], result)
        return result["checkpoint_id"]

    def _restore(self, checkpoint_id):
        code, result, err = self.stackvault.report("restore", checkpoint_id)
        # what it made goes, even when the restore failed half way
        self.addCleanup(self.teardown.restored,
                        (result or {}).get("restored", {}))
        self.assertEqual(0, code, f"restore exited {code}: {err}")
        return result

    def _verify(self, checkpoint_id, *extra):
        verified = self.stackvault.json("checkpoint", "verify",
                                        checkpoint_id, *extra)
        self.assertEqual("success", verified["status"], verified)
        self.assertEqual(([], []), (verified["problems"],
                                    verified["failures"]))


class ProtectRestoreTest(CloudResourcesTest):
    """A server with a volume and a port, deleted and restored."""

    @decorators.idempotent_id("b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d01")
    def test_server_with_volume_and_port_round_trip(self):
        image = self._image()
        net, subnet, port = self._network()
        volume = self._new_volume()      # made while the server boots
        server = self._server(image, port)
        volume = self._attach(server, volume)
        address = port.fixed_ips[0]["ip_address"]

        checkpoint_id = self._protect(self._name("checkpoint"),
                                      f"{td.SERVER}={server.id}")
        shown = self.stackvault.json("checkpoint", "show", checkpoint_id)
        self.assertEqual("available", shown["status"])
        # the server's dependency tree; ports and subnets are the network's
        self.assertEqual(
            {(td.SERVER, server.id), (td.VOLUME, volume.id),
             (td.NETWORK, net.id), (td.IMAGE, image.id)},
            {(n["resource"]["type"], n["resource"]["id"])
             for n in shown["graph"]["nodes"]})
        self._verify(checkpoint_id)   # the backup and image are there too

        # delete it all; each call waits until the thing is gone
        self.teardown.server(server.id)
        self.teardown.volume(volume.id)
        self.teardown.port(port.id)
        self.teardown.subnet(subnet.id)
        self.teardown.network(net.id)
        self.teardown.image(image.id)

        restored = self._restore(checkpoint_id)["restored"]
        new_server = self.conn.compute.get_server(
            restored[f"{td.SERVER}#{server.id}"])
        self.assertEqual("ACTIVE", new_server.status)
        self.assertEqual(server.name, new_server.name)
        new_volume = self.conn.block_storage.get_volume(
            restored[f"{td.VOLUME}#{volume.id}"])
        self.assertEqual("in-use", new_volume.status)
        self.assertEqual([new_server.id],
                         [a["server_id"] for a in new_volume.attachments])
        attached = {a.volume_id for a in
                    self.conn.compute.volume_attachments(new_server.id)}
        self.assertEqual({new_volume.id}, attached)
        (new_port,) = list(self.conn.network.ports(device_id=new_server.id))
        self.assertEqual(restored[f"{td.PORT}#{port.id}"], new_port.id)
        self.assertEqual(restored[f"{td.NETWORK}#{net.id}"],
                         new_port.network_id)
        self.assertEqual([address],
                         [ip["ip_address"] for ip in new_port.fixed_ips])


class CheckpointVerifyTest(CloudResourcesTest):
    """``checkpoint verify`` passes on a fresh checkpoint and finds a
    changed object. A network is protected: quick (nothing to back up),
    in a class of its own, so it runs beside the round trip."""

    @decorators.idempotent_id("b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d02")
    def test_checkpoint_verify_finds_a_changed_object(self):
        net, _subnet, _port = self._network()
        checkpoint_id = self._protect(self._name("checkpoint"),
                                      f"{td.NETWORK}={net.id}")
        self._verify(checkpoint_id)
        self._verify(checkpoint_id, "--offline")

        if self.bank_dir is None:
            self.skipTest("[stackvault] config_file names a bank this test "
                          "does not own: not changing it")
        # A changed object (still valid JSON, one byte longer) must be
        # found, from the bank alone and with the cloud.
        changed = self._change_metadata(checkpoint_id, td.NETWORK, net.id)
        for extra in (["--offline"], []):
            failed = self.stackvault.json("checkpoint", "verify",
                                          checkpoint_id, *extra, expect=1)
            self.assertEqual("failed", failed["status"])
            self.assertTrue(any(changed in p for p in failed["problems"]),
                            failed["problems"])

    def _change_metadata(self, checkpoint_id, resource_type, resource_id):
        """Append a space to a resource's metadata.json in the filesystem
        bank; return its key relative to the checkpoint."""
        relative = f"resources/{resource_type}/{resource_id}/metadata.json"
        path = os.path.join(self.bank_dir, "checkpoints", checkpoint_id,
                            *relative.split("/"))
        self.assertTrue(os.path.isfile(path), f"no {path} in the bank")
        with open(path, "ab") as f:
            f.write(b" ")
        return relative
