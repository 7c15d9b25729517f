"""The server plugin's restore tasks after the mappings are resolved: the
root-disk image, the server, its ports and floating IPs, its volume
attachments, and the bounded waits between them.

One class per side effect; each creating task's ``revert`` undoes exactly
what its ``execute`` created (see the package docstring for the order).
"""

from openstack import exceptions as sdk_exceptions
from taskflow import task

from plugins.server import common
from plugins.server import mappings
from protection.plugin import image_data
from protection.plugin import restored_child
from protection.plugin import tasks


# -- restore: the root disk ---------------------------------------------------
class CreateRootDiskImage(tasks.CreatingTask):
    """A new private image for the saved root disk (queued, no data yet).

    Recorded as the restore of the temporary snapshot it was taken as.
    """

    default_provides = "root_image_id"
    kind = "root-disk image"
    records = common.IMAGE_TYPE

    def original_id(self, ctx):
        return common.root_snapshot_id(ctx.metadata)

    def fetch(self, conn, new_id):
        return conn.image.get_image(new_id)

    def delete(self, conn, new_id):
        conn.image.delete_image(new_id, ignore_missing=True)

    def find_marked(self, ctx, conn, marks):
        return image_data.marked_image(conn, marks)

    def finish(self, ctx, conn, new_id):
        image_data.drop_marks(conn, new_id)

    def finish_found(self, ctx, conn, new_id, found):
        image_data.drop_marks(conn, new_id, found)     # no second read

    def execute(self, ctx, conn, metadata, server_attrs):
        root = common.root_disk(metadata)
        # marked until the restore's last stage, so that a re-run finds
        # it and an undo can prove it
        new_id = image_data.create_image(
            conn, root["image"], name=f"{server_attrs['name']}-root-disk",
            visibility="private", **self.marks(ctx))
        return self.created(ctx, new_id)


class UploadRootDisk(task.Task):
    """Stream the bank objects into the new image, each checked against its
    saved sha256 (as the image plugin uploads). Undone with the image."""

    def execute(self, ctx, conn, bank, metadata, root_image_id):
        image_data.upload_image_data(ctx, conn, bank,
                                     common.root_disk(metadata)["data"],
                                     root_image_id,
                                     common.root_snapshot_id(metadata))


class WaitRootDiskImage(task.Task):
    """Bounded wait for ``active``, then Glance's hash must be the saved
    one; the image is then what the server boots from."""

    default_provides = "boot_source"

    def execute(self, ctx, conn, metadata, root_image_id):
        data = common.root_disk(metadata)["data"]
        image_data.wait_image_active(ctx, conn, root_image_id, data)
        image_data.check_restored_image(conn, data, root_image_id,
                                        common.root_snapshot_id(metadata))
        return {"image_id": root_image_id}


# -- restore: the server -----------------------------------------------------
class CreateServer(tasks.CreatingTask):
    """Boot the server with no network; record its id at once."""

    default_provides = "new_server_id"
    kind = "server"
    records = True

    def fetch(self, conn, new_id):
        return conn.compute.get_server(new_id)

    def delete(self, conn, new_id):
        conn.compute.delete_server(new_id, ignore_missing=True)

    def find_marked(self, ctx, conn, marks):
        return tasks.marked_by_metadata(conn.compute.servers(details=True),
                                        marks)

    def finish(self, ctx, conn, new_id):
        tasks.drop_marks(lambda key: conn.compute.delete_server_metadata(
            new_id, keys=[key]), lambda: conn.compute.get_server(new_id))

    def execute(self, ctx, conn, flavor_id, server_attrs, boot_source):
        # marked until the restore's last stage, so that a re-run finds
        # this server instead of booting a second one, and an undo can
        # prove it
        attrs = dict(server_attrs, flavor_id=flavor_id, networks="none",
                     metadata=dict(server_attrs.get("metadata") or {},
                                   **self.marks(ctx)))
        if "volume_id" in boot_source:
            attrs["block_device_mapping"] = [{
                "boot_index": 0, "uuid": boot_source["volume_id"],
                "source_type": "volume", "destination_type": "volume",
                "delete_on_termination": False}]
        else:
            attrs["image_id"] = boot_source["image_id"]
        return self.created(ctx, conn.compute.create_server(**attrs).id)


class WaitServerActive(task.Task):
    """Bounded; ends at once on ERROR with Nova's fault message."""

    default_provides = "active_server_id"

    def execute(self, ctx, conn, new_server_id):
        ctx.progress.step("boot", f"waiting for {common.label(new_server_id)}")
        ctx.wait_for_status(lambda: conn.compute.get_server(new_server_id),
                            "ACTIVE", what=common.label(new_server_id),
                            failures=("ERROR",))
        return new_server_id


def _our_server(ctx, conn, server_id):
    """Before a revert detaches from ``server_id`` (an id that may come
    from storage): the server must carry the marks of this resource's
    CreateServer (it does until the restore's last stage). Raises
    NotOurs; ``None`` when it is gone."""
    if ctx.journal is None:
        return True     # a bare run of the flow: the id is this run's
    label = f"{ctx.resource.type}#{ctx.resource.id}"
    return CreateServer(name=f"{label}/CreateServer").proven(
        ctx, conn, server_id)


def _resumed(ctx):
    """Whether this run continues an operation whose process died (then
    a step may find its work already done by the dead run)."""
    return ctx.journal is not None and ctx.journal.resuming


# -- restore: ports and floating IPs ------------------------------------------
class CreatePort(task.Task):
    """One port, created once per restore (a port some other plugin already
    restored is reused, and left to that plugin's revert)."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"CreatePort[{original_id}]",
                         provides=f"port:{original_id}", **kwargs)
        self.original_id = original_id

    def execute(self, ctx, conn, port_plans):
        plan = port_plans[self.original_id]

        def create(mark):
            try:
                return conn.network.create_port(
                    **dict(plan["attrs"], description=mark)).id
            except sdk_exceptions.ForbiddenException:
                if plan["fallback"] is None:
                    raise
            ctx.progress.step(
                "port", f"network {plan['attrs']['network_id']} refused the "
                f"original MAC and fixed IPs of port {self.original_id} "
                "(only its owner may choose them): new ones are allocated")
            return conn.network.create_port(
                **dict(plan["fallback"], description=mark)).id

        # marked (its description, until journaled) so that a re-run finds
        # it: a second port with the same fixed IP and MAC is refused
        new_id, created = tasks.create_shared(
            ctx, self.name, common.PORT_TYPE, self.original_id, create,
            lambda found: tasks.exists(conn.network.get_port, found),
            lambda mark: _marked_port(conn, mark),
            lambda found: conn.network.update_port(
                found, description=plan["attrs"].get("description", "")))
        return {"id": new_id, "created": created}

    def unmark(self, ctx, conn):
        """The restore's last stage: the saved description replaces the
        mark (on the port this atom created)."""
        saved = next((p for p in ctx.metadata.get("ports", [])
                      if p["id"] == self.original_id), {})
        tasks.unmark_shared(
            ctx, self.name, common.PORT_TYPE, self.original_id, "port",
            conn.network.get_port,
            lambda found: conn.network.update_port(
                found, description=saved.get("description") or ""))

    def revert(self, ctx, conn, result, **kwargs):
        port_id = tasks.shared_to_undo(
            ctx, self.name, common.PORT_TYPE, self.original_id, result,
            lambda mark: _marked_port(conn, mark))
        if port_id is None:
            return
        if tasks.shared_proven(ctx, conn.network.get_port, "port",
                               common.PORT_TYPE, self.original_id,
                               port_id) is not None:
            conn.network.delete_port(port_id, ignore_missing=True)
        tasks.forget_shared(ctx, self.name, common.PORT_TYPE,
                            self.original_id)


def _marked_port(conn, mark):
    return tasks.first_id(conn.network.ports(description=mark))


class AttachPort(task.Task):
    """Compute interface attach of the new port."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"AttachPort[{original_id}]",
                         provides=f"interface:{original_id}",
                         rebind={"port": f"port:{original_id}"}, **kwargs)

    def execute(self, ctx, conn, active_server_id, port):
        if _resumed(ctx) and conn.network.get_port(
                port["id"]).device_id == active_server_id:
            # attached by the run that died (Nova finishes a request
            # whose client is gone): a second attach is refused (409)
            return port["id"]
        conn.compute.create_server_interface(active_server_id,
                                             port_id=port["id"])
        return port["id"]

    def revert(self, ctx, conn, active_server_id, result, **kwargs):
        if not isinstance(result, str) or \
                _our_server(ctx, conn, active_server_id) is None:
            return
        conn.compute.delete_server_interface(result, server=active_server_id,
                                             ignore_missing=True)

        def fetch():
            try:
                port = conn.network.get_port(result)
            except sdk_exceptions.NotFoundException:
                return common.probe("detached")
            return common.probe("attached"
                                if port.device_id == active_server_id
                                else "detached")
        ctx.wait_for_status(fetch, "detached", what=f"port {result} detach",
                            failures=())


class WaitPortAttached(task.Task):
    """Until Neutron shows the port on the server, bound (ACTIVE, or a VIF
    type other than unbound); a failed binding ends the wait at once."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"WaitPortAttached[{original_id}]",
                         provides=f"attached_port:{original_id}",
                         rebind={"port_id": f"interface:{original_id}"},
                         **kwargs)

    def execute(self, ctx, conn, active_server_id, port_id):
        def fetch():
            port = conn.network.get_port(port_id)
            vif = port.binding_vif_type or "unbound"
            if vif == "binding_failed":
                return common.probe("failed", "Neutron could not bind it "
                                    f"(host {port.binding_host_id})")
            if port.device_id == active_server_id and (
                    port.status == "ACTIVE" or vif != "unbound"):
                return common.probe("attached")
            return common.probe("waiting")
        what = f"port {port_id} on {common.label(active_server_id)}"
        ctx.wait_for_status(fetch, "attached", what=what,
                            failures=("failed",))
        return port_id


class AssociateFloatingIP(task.Task):
    """The same address if it is free in the project, else (trying to
    allocate the same address first) a new one from the same network."""

    def __init__(self, original_port_id, original_id, **kwargs):
        super().__init__(
            name=f"AssociateFloatingIP[{original_id}]",
            rebind={"port_id": f"attached_port:{original_port_id}"},
            **kwargs)
        self.original_id = original_id

    def execute(self, ctx, conn, port_plans, port_id):
        plan = next(f for p in port_plans.values()
                    for f in p["floating_ips"]
                    if f["original_id"] == self.original_id)
        if _resumed(ctx):
            earlier = self._earlier(ctx, conn, plan, port_id)
            if earlier is not None:
                return earlier
        address, network_id = plan["address"], plan["network_id"]
        fixed = self._fixed_address(conn, port_id, plan)
        # an allocation carries the mark as its description until it is
        # journaled (_allocated), so a re-run or an abort finds it
        target = {"port_id": port_id, "description": self._mark(ctx)}
        if fixed:
            target["fixed_ip_address"] = fixed
        fip = common.free_floating_ip(conn, address, network_id)
        if fip is not None:
            target.pop("description")
            conn.network.update_ip(fip, **target)
            return self._done(ctx, fip.id, address, False,
                              f"floating IP {address} re-associated")
        try:
            fip = conn.network.create_ip(
                floating_network_id=network_id, floating_ip_address=address,
                **target)
            return self._allocated(ctx, conn, plan, fip.id, address,
                                   f"floating IP {address} allocated again")
        except (sdk_exceptions.ForbiddenException,
                sdk_exceptions.ConflictException,
                sdk_exceptions.BadRequestException) as exc:
            reason = exc.details or str(exc)
        fip = conn.network.create_ip(floating_network_id=network_id,
                                     **target)
        return self._allocated(
            ctx, conn, plan, fip.id, fip.floating_ip_address,
            f"floating IP {address} could not be taken again ({reason}): "
            f"new address {fip.floating_ip_address}")

    def _mark(self, ctx):
        return tasks.tag_for(ctx.operation_id, self.name)

    def _allocated(self, ctx, conn, plan, fip_id, address, message):
        """Journal a floating IP this step allocated; the saved
        description replaces the mark in the restore's last stage
        (:meth:`unmark`), at once when there is no journal."""
        if ctx.journal is not None:
            ctx.journal.record(self.name, fip_id)
        else:
            conn.network.update_ip(fip_id, description=plan["description"])
        return self._done(ctx, fip_id, address, True, message)

    def _saved_description(self, ctx):
        for port in ctx.metadata.get("ports", []):
            for fip in port.get("floating_ips", []):
                if fip["id"] == self.original_id:
                    return fip.get("description") or ""
        return ""

    def _proven(self, ctx, conn, fip_id):
        return tasks.proven_by_tag(ctx, conn.network.get_ip, "floating IP",
                                   fip_id, self.name)

    def unmark(self, ctx, conn):
        """The restore's last stage: the saved description replaces the
        mark of a floating IP this step allocated."""
        if ctx.journal is None:
            return
        fip_id = ctx.journal.created_by(self.name)
        if fip_id is None:
            return
        tasks.take_marks_off(
            ctx, self.name, fip_id, lambda: self._proven(ctx, conn, fip_id),
            lambda _found: conn.network.update_ip(
                fip_id, description=self._saved_description(ctx)))

    def _earlier(self, ctx, conn, plan, port_id):
        """What the interrupted run associated with the port: allocated
        (journaled, or still marked) or the original address re-used."""
        journaled = ctx.journal.created_by(self.name)
        for fip in conn.network.ips(port_id=port_id):
            if fip.id == journaled or fip.description == self._mark(ctx):
                return self._allocated(
                    ctx, conn, plan, fip.id, fip.floating_ip_address,
                    "floating IP allocated by the interrupted run")
            if fip.floating_ip_address == plan["address"]:
                return self._done(ctx, fip.id, plan["address"], False,
                                  "floating IP re-associated by the "
                                  "interrupted run")
        return None

    @staticmethod
    def _fixed_address(conn, port_id, plan):
        """The original fixed address when the new port has it."""
        wanted = plan.get("fixed_ip_address")
        if not wanted:
            return None
        port = conn.network.get_port(port_id)
        addresses = {ip.get("ip_address") for ip in port.fixed_ips or []}
        return wanted if wanted in addresses else None

    def _done(self, ctx, fip_id, address, created, message):
        ctx.record_new_id(fip_id, common.FLOATING_IP_TYPE, self.original_id)
        ctx.progress.step("floating-ip", message)
        return {"id": fip_id, "address": address, "created": created}

    def revert(self, ctx, conn, result, **kwargs):
        if not isinstance(result, dict):
            # died before its result: what it journaled, or still marked
            allocated = ctx.journal.created_by(self.name) \
                if ctx.journal is not None else None
            if allocated is None and ctx.operation_id:
                allocated = tasks.first_id(conn.network.ips(
                    description=self._mark(ctx)))
            result = {"id": allocated, "created": True}
            if allocated is None:
                return
        if result["created"]:
            if self._proven(ctx, conn, result["id"]) is not None:
                conn.network.delete_ip(result["id"], ignore_missing=True)
            if ctx.journal is not None:
                ctx.journal.forget(self.name)
        else:
            try:
                conn.network.update_ip(result["id"], port_id=None)
            except sdk_exceptions.NotFoundException:
                pass
        ctx.forget_new_id(common.FLOATING_IP_TYPE, self.original_id)


# -- restore: volumes ---------------------------------------------------------
class AttachVolume(task.Task):
    """Attach one restored non-boot volume at its original device, as soon
    as that volume (a child) is restored."""

    def __init__(self, original_id, **kwargs):
        super().__init__(name=f"AttachVolume[{original_id}]",
                         provides=f"attached_volume:{original_id}",
                         rebind={"volume_id": restored_child(
                             common.VOLUME_TYPE, original_id)}, **kwargs)
        self.original_id = original_id

    def execute(self, ctx, conn, metadata, parameters, restored,
                active_server_id, volume_id):
        new_id = volume_id or mappings.restored_volume(
            conn, parameters, restored, self.original_id)
        device = next(a["device"] for a in metadata["attachments"]
                      if a["volume_id"] == self.original_id)
        server = common.server_ref(active_server_id)
        if _resumed(ctx) and any(
                a.volume_id == new_id
                for a in conn.compute.volume_attachments(server)):
            # requested by the run that died (Nova records it at once): a
            # second request is refused, or waits on the first
            return new_id
        attrs = {"device": device} if device else {}
        conn.compute.create_volume_attachment(server, volume=new_id, **attrs)
        return new_id

    def revert(self, ctx, conn, active_server_id, result, **kwargs):
        """Detach and wait ``available``; the volume plugin's own revert
        deletes the volume."""
        if not isinstance(result, str) or \
                _our_server(ctx, conn, active_server_id) is None:
            return
        try:
            conn.compute.delete_volume_attachment(
                common.server_ref(active_server_id), result,
                ignore_missing=False)
        except sdk_exceptions.NotFoundException:
            pass
        ctx.wait_for_status(lambda: conn.block_storage.get_volume(result),
                            "available", what=f"volume {result} detach",
                            failures=common.VOLUME_FAILURES)


class WaitVolumeInUse(task.Task):
    """Bounded wait for ``in-use``; a volume back to ``available`` after
    the attach began means Nova gave up (its fault is reported)."""

    def __init__(self, original_id, **kwargs):
        super().__init__(
            name=f"WaitVolumeInUse[{original_id}]",
            rebind={"volume_id": f"attached_volume:{original_id}"}, **kwargs)

    def execute(self, ctx, conn, active_server_id, volume_id):
        began = [False]

        def fetch():
            volume = conn.block_storage.get_volume(volume_id)
            if volume.status != "available":
                began[0] = True
                return volume
            if began[0]:
                fault = common.server_fault(conn, active_server_id)
                return common.probe("failed", "the attach was rolled back: "
                                    f"{fault}")
            return volume
        ctx.wait_for_status(fetch, "in-use", what=f"volume {volume_id}",
                            failures=("failed",) + common.VOLUME_FAILURES)
