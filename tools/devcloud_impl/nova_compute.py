"""Start nova-compute with devcloud's virt driver.

Nova imports ``compute_driver`` only from inside the ``nova.virt`` package
(``nova.virt.<compute_driver>``), so this registers ``nova_driver`` as
``nova.virt.devcloud`` and then runs Nova's own nova-compute main; the config
says ``compute_driver = devcloud.SnapshotFakeDriver``.
"""

import sys

import nova.cmd.compute  # applies Nova's monkey patching first
import nova.virt

from devcloud_impl import nova_driver

sys.modules["nova.virt.devcloud"] = nova_driver
nova.virt.devcloud = nova_driver

if __name__ == "__main__":
    sys.argv[0] = "nova-compute"
    sys.exit(nova.cmd.compute.main())
