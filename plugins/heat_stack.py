"""Heat stacks (``OS::Heat::Stack``): protected and restored without Heat.

A stack is a parent whose children are the resources Heat built that
stackvault protects (servers, volumes, images, networks, key pairs),
found through the Heat datasource's ``resources`` table with nested
stacks followed.
Protecting the stack protects them with their own plugins; restoring it
restores them with those plugins, in dependency order, and makes **no**
Heat call: no stack is created, the resources exist on their own.

What protect saves
    The stack's template and parameters, and the list of the resources Heat
    had built, for reference: enough to see what the stack was, or to adopt
    the restored resources into a new stack by hand. Secrets stay out of the
    bank: hidden parameters (HOT ``hidden: true``, CFN ``NoEcho``) are masked
    both in the parameters and as defaults in the template, and the stack's
    resolved outputs (which often carry passwords or keys) are saved only
    when the ``save_outputs`` parameter asks for them.

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
MASK = "******"       # what Heat itself shows for a hidden parameter's value


def hidden_parameters(template):
    """Names of the parameters ``template`` declares hidden: HOT's
    ``hidden: true``, or CloudFormation's ``NoEcho``."""
    declared = {}
    for section in ("parameters", "Parameters"):
        if isinstance(template.get(section), dict):
            declared.update(template[section])
    return {name for name, spec in declared.items()
            if isinstance(spec, dict)
            and (spec.get("hidden") is True
                 or str(spec.get("NoEcho", "")).lower() == "true")}


def masked_template(template, hidden):
    """``template`` with the defaults of the ``hidden`` parameters masked
    (Heat masks their values, never the template's defaults)."""
    masked = dict(template)
    for section in ("parameters", "Parameters"):
        if not isinstance(template.get(section), dict):
            continue
        masked[section] = {
            name: ({key: (MASK if key in ("default", "Default") else value)
                    for key, value in spec.items()}
                   if name in hidden and isinstance(spec, dict) else spec)
            for name, spec in template[section].items()}
    return masked


class SaveStackDescription(tasks.SaveMetadata):
    """Template and parameters with hidden values masked, outputs only
    when asked, and the built resources: for reference."""

    def execute(self, ctx, conn, resource, bank):
        described = heat_stacks.stack_description(conn, resource.id,
                                           resource.name)
        stack = described["stack"]
        built = heat_stacks.stack_physical_resources(
            conn, resource.id, ctx.conf.heat_stack_plugin.nested_depth,
            stack_name=resource.name)
        template = described["template"]
        hidden = hidden_parameters(template)
        saved = {
            "format": METADATA_FORMAT,
            "stack_name": stack.get("stack_name"),
            "description": stack.get("description"),
            "parameters": {name: MASK if name in hidden else value
                           for name, value in
                           (stack.get("parameters") or {}).items()},
            "template": masked_template(template, hidden),
            "resources": [r._asdict() for r in built],
        }
        if ctx.parameters.get("save_outputs"):
            saved["outputs"] = stack.get("outputs", [])
        bank.save_metadata(saved)


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

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "save_outputs": {
                "type": "boolean", "default": False,
                "description": "Also keep the stack's resolved outputs in "
                               "the checkpoint. Off by default: outputs "
                               "often carry passwords or keys, and the bank "
                               "is no place for secrets."},
        },
    }

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
