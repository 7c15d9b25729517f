"""Heat stacks (``OS::Heat::Stack``): protected and restored without Heat.

A stack is a parent whose children are the resources Heat built that
stackvault protects (servers, volumes, images, networks, key pairs),
found through the Heat datasource's ``resources`` table with nested
stacks followed.
Protecting the stack protects them with their own plugins; restoring it
restores them with those plugins, in dependency order, and makes **no**
Heat call: no stack is created, the resources exist on their own.

What protect saves
    The stack's template, parameters (Heat masks hidden ones), outputs and
    the list of the resources Heat had built, for reference: enough to see
    what the stack was, or to adopt the restored resources into a new stack
    by hand.

What restore creates
    Nothing of its own (its children create everything), so there is
    nothing to revert. It reports which restored resources stood for which
    of the stack's resources.
"""

from oslo_config import cfg
from openstack import exceptions as sdk_exceptions
from taskflow import task

from protection import exceptions
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import heat_stacks
from protection.plugin import tasks

RESOURCE_TYPE = "OS::Heat::Stack"
# Heat resource type -> the stackvault type that protects it. Subnets,
# routers, ports and security groups belong to their network or server;
# volume attachments to the server.
PROTECTED_TYPES = {
    "OS::Nova::Server": "OS::Nova::Server",
    "OS::Cinder::Volume": "OS::Cinder::Volume",
    "OS::Glance::Image": "OS::Glance::Image",
    "OS::Glance::WebImage": "OS::Glance::Image",
    "OS::Neutron::Net": "OS::Neutron::Network",
    "OS::Neutron::ProviderNet": "OS::Neutron::Network",
    "OS::Nova::KeyPair": "OS::Nova::KeyPair",
}
METADATA_FORMAT = 1


class SaveStackDescription(tasks.SaveMetadata):
    """Template, parameters, outputs and built resources, for reference."""

    def execute(self, ctx, conn, resource, bank):
        described = heat_stacks.stack_description(conn, resource.id,
                                           resource.name)
        stack = described["stack"]
        built = heat_stacks.stack_physical_resources(
            conn, resource.id, ctx.conf.heat_stack_plugin.nested_depth,
            stack_name=resource.name)
        bank.save_metadata({
            "format": METADATA_FORMAT,
            "stack_name": stack.get("stack_name"),
            "description": stack.get("description"),
            "parameters": stack.get("parameters", {}),
            "outputs": stack.get("outputs", []),
            "template": described["template"],
            "resources": [r._asdict() for r in built],
        })


class ReportRestoredStack(task.Task):
    """Say what stands for the stack now; nothing is created here."""

    def execute(self, ctx, metadata):
        restored = []
        for row in metadata.get("resources", []):
            rtype = PROTECTED_TYPES.get(row["resource_type"])
            new_id = ctx.restored.get(rtype, row["physical_resource_id"]) \
                if rtype else None
            if new_id:
                restored.append(f"{row['name']}={new_id}")
        ctx.progress.step(
            "restored-without-heat",
            f"stack {metadata.get('stack_name')}: "
            + (", ".join(restored) or "no protected resources"))


class HeatStackPlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE
    config_group = "heat_stack_plugin"
    config_opts = [
        cfg.IntOpt("nested_depth", default=5, min=0, max=50,
                   help="How deep nested stacks are followed when looking "
                        "for a stack's resources."),
    ]

    @staticmethod
    def _resource(stack):
        return Resource(RESOURCE_TYPE, stack.id, stack.name or "",
                        {"status": stack.status})

    def list_resources(self, conn):
        return [self._resource(s) for s in conn.orchestration.stacks()]

    def show_resource(self, conn, resource_id):
        try:
            stack = conn.orchestration.get_stack(resource_id)
        except sdk_exceptions.NotFoundException:
            stack = None
        if stack is None:
            raise exceptions.ResourceNotFound(
                f"Heat stack {resource_id} not found")
        return self._resource(stack)

    def dependencies(self, conn, resource):
        built = heat_stacks.stack_physical_resources(
            conn, resource.id, self.config.nested_depth,
            stack_name=resource.name)
        children, seen = [], set()
        for row in built:
            rtype = PROTECTED_TYPES.get(row.resource_type)
            if rtype and (rtype, row.physical_resource_id) not in seen:
                seen.add((rtype, row.physical_resource_id))
                children.append(Resource(rtype, row.physical_resource_id,
                                         row.name, {"heat_stack": resource.id,
                                                    "nested_path":
                                                    row.nested_path}))
        return children

    def protect_flow(self, ctx, resource):
        return SaveStackDescription()

    def restore_flow(self, ctx, resource):
        return ReportRestoredStack()
