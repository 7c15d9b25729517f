"""Nova servers (``OS::Nova::Server``): saved as a description of the VM.

Dependencies (children; restored before the tasks that name them)
    Its attached volumes (the boot volume of a volume-booted server has
    ``extra["boot"] = True``), its boot image when the project owns it, and
    the networks of its ports that the project owns (not external). An
    image or network the project does not own (a public image, the shared
    ``public`` network) is a *reference*: saved by id and name, never
    restored; at restore it is mapped with ``image_mapping`` /
    ``network_mapping``, else the same id is used if it exists.

What protect saves (``metadata.json``, no data unless asked)
    The flavor (id when known, name and full spec: vCPUs, RAM, disk,
    ephemeral, swap, extra specs if visible), availability zone, key pair
    name, metadata, tags, description, security group names, the boot
    source (image id or boot volume id), every port in the order Nova lists
    the server's interfaces (network, fixed IPs with subnet ids, MAC,
    security groups, allowed address pairs, port security, floating IPs
    with address and external network) and every volume attachment (volume,
    device, whether it is the boot volume), in device order.
    An image-booted server's root disk is also saved (``snapshot_root_disk``,
    true by default; ``false`` opts out and restore boots from the original
    image): Nova ``createImage`` makes a temporary Glance snapshot, its
    data is streamed into the bank exactly as the image plugin stores an
    image (``data/00000000`` ... with sha256 per object), and the temporary
    snapshot is deleted.

What restore creates (one TaskFlow graph, pipelined with the children)
    Each task waits only for the children it names (``restored_child``):
    the resolving tasks for the boot volume or image, the key pair and the
    ports' networks; each volume attachment for its own volume. The server
    therefore boots while its data volumes are still being restored.

    1. Nothing before every mapping is resolved: flavor (``flavor_mapping``,
       same id, else the one flavor with the same spec), availability zone,
       key pair, boot source, and for every port its network, subnets and
       security groups, and the external network of its floating IPs. A
       mapping that names nothing fails here, with the candidates listed,
       before anything exists.
    2. The root-disk image, when the checkpoint holds one.
    3. The server, from the restored (or mapped) image or the restored boot
       volume (block device mapping, boot index 0, delete_on_termination
       false), with no network at boot (compute API 2.37, ``networks:
       none``). Its id is recorded at once; then a bounded wait for ACTIVE
       that ends at once on ERROR with Nova's fault message. Its ports are
       created meanwhile, in parallel (original MAC and, with
       ``keep_fixed_ips``, fixed IPs).
    4. Once ACTIVE, two branches in parallel: ports and volumes. Ports are
       attached one after the other in the original order so the guest
       sees its NICs in the same order, each waited for until Neutron
       reports it bound to the server. Each non-boot volume is attached at
       its original device as soon as it is restored, its attach request
       after the previous volume's (Nova assigns devices in request order),
       and waited for ``in-use`` on its own. After its port is attached,
       each floating IP is re-associated: the same address if it is free
       in the project on the (mapped) external network, else a new address
       from that network; the outcome is a progress step, and the floating
       IP is recorded under ``OS::Neutron::FloatingIP``.

    New ids are recorded for the server, each port (``OS::Neutron::Port``),
    each floating IP and the root-disk image (``OS::Glance::Image`` keyed by
    the temporary snapshot's id); they appear in the restore result.

How each creation is undone (reverse order)
    Floating IPs created are released, reused ones disassociated; ports
    are detached (waited for) and deleted; volumes are detached and waited
    ``available``, never deleted (they belong to the volume plugin, whose
    own revert deletes them); the server is deleted and waited gone; the
    root-disk image is deleted. Protect: the temporary snapshot is deleted
    and the root-disk objects are removed from the bank.

Modules
    ``description``  what protect reads (``describe_*``);
    ``protect``      the protect tasks, and delete/verify of the root disk;
    ``mappings``     restore step 1, the resolving tasks (no side effects);
    ``restore``      the restore tasks that create, attach and wait;
    ``plugin``       :class:`ServerPlugin`: discovery and the flows;
    ``common``       names and helpers they share.
    The root disk's data goes through ``protection/image_data.py``.
"""

from plugins.server.plugin import ServerPlugin

__all__ = ["ServerPlugin"]
