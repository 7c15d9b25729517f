"""The Heat datasource's tables: one translator per API answer, with the
documentation of every table and column (rendered in
doc/datasources/heat.rst)."""

from protection.datasources import translator as tr


def _v(name, doc, col=None):
    field = {"fieldname": name, "doc": doc}
    if col:
        field["col"] = col
    return field


def _rows(table, parent_key, doc, fields):
    """A table of the objects of one list: a row per object."""
    return {"translation-type": tr.LIST, "table-name": table,
            "parent-key": parent_key, "doc": doc,
            "translator": {"translation-type": tr.HDICT,
                           "field-translators": fields}}


def _links(table, parent_key, owner):
    return {"fieldname": "links", "translator": _rows(
        table, parent_key, f"The links Heat gives for each row of {owner}.",
        [_v("href", "URL of the linked object"),
         _v("rel", "relation: self, stack (the owning stack), nested (a "
                   "nested stack), resource, root_stack")])}


VALUE_DOC = "its value (JSON text when not a scalar)"


def _pairs(table, parent_key, key_col, doc, key_doc, value_doc=VALUE_DOC,
           parent_doc=None):
    """A table of the key/value pairs of one object: a row per pair."""
    docs = {key_col: key_doc, "value": value_doc}
    if parent_doc:
        docs[parent_key] = parent_doc
    return {"translation-type": tr.VDICT, "table-name": table,
            "parent-key": parent_key, "key-col": key_col,
            "val-col": "value", "doc": doc, "col-docs": docs}


STACK_ID_DOC = "id of the stack that was polled (a row of stacks)"

STACKS = {
    "translation-type": tr.HDICT, "table-name": "stacks", "id-col": "id",
    "doc": "One row per stack of the project (GET /stacks, then the "
           "stack's detail). Nested stacks are not listed: their resources "
           "are in resources.",
    "field-translators": [
        _v("id", "stack id"),
        _v("stack_name", "stack name"),
        _v("description", "the template's description"),
        _v("template_description", "the template's description as parsed"),
        _v("stack_status", "action and status, e.g. CREATE_COMPLETE"),
        _v("stack_status_reason", "why the stack has that status"),
        _v("creation_time", "when it was created (ISO 8601, UTC)"),
        _v("updated_time", "when it was last updated"),
        _v("stack_owner", "the user name that created it"),
        _v("stack_user_project_id", "the project of the stack's domain "
                                    "users"),
        _v("disable_rollback", "true when a failed create is not rolled "
                               "back"),
        _v("timeout_mins", "create/update timeout in minutes"),
        _v("tags", "tags (JSON list)"),
        _v("notification_topics", "notification topics (JSON list; Heat "
                                  "does not implement them and always "
                                  "gives [])"),
        _v("capabilities", "capabilities (JSON list; Heat does not "
                           "implement them and always gives [])"),
        {"fieldname": "parameters", "translator": _pairs(
            "stack_parameters", "stack_id", "name",
            "The stack's parameter values, Heat's own (OS::stack_id, "
            "OS::stack_name, OS::project_id) included.", "parameter name",
            "its value as Heat returns it (a string; JSON text for a list "
            "or map)")},
        {"fieldname": "outputs", "translator": _rows(
            "stack_outputs", "stack_id", "The stack's outputs, resolved.",
            [_v("output_key", "output name"),
             _v("output_value", "its value (JSON text when not a scalar)"),
             _v("description", "the output's description"),
             _v("output_error", "why it could not be resolved, if it "
                                "could not")])},
        _links("stacks_links", "stack_id", "stacks"),
    ],
}

SNAPSHOTS = {
    "translation-type": tr.HDICT, "table-name": "snapshots",
    "parent-key": "stack_id", "id-col": "id",
    "doc": "Heat snapshots of each stack (GET .../snapshots). The snapshot "
           "body (template, environment, resource data) is not kept.",
    "col-docs": {"stack_id": STACK_ID_DOC},
    "field-translators": [
        _v("id", "snapshot id"),
        _v("name", "snapshot name"),
        _v("action", "CREATE, or DELETE while Heat deletes it (Heat "
                     "records no other snapshot action)"),
        _v("status", "IN_PROGRESS, COMPLETE or FAILED"),
        _v("status_reason", "why it has that status"),
        _v("creation_time", "when it was taken"),
    ],
}

RESOURCES = {
    "translation-type": tr.HDICT, "table-name": "resources",
    "parent-key": "stack_id", "id-col": "id",
    "id-from": ["owner_stack_id", "resource_name"],
    "selector-type": "dot",
    "doc": "The resources of each stack and of its nested stacks down to "
           "nested_depth (one GET .../resources?nested_depth=N per stack).",
    "col-docs": {"stack_id": STACK_ID_DOC},
    "field-translators": [
        _v("resource_name", "the resource's name in its template"),
        _v("logical_resource_id", "same as resource_name (Heat's older "
                                  "name for it)"),
        _v("physical_resource_id", "id of what it built (a server id, a "
                                   "volume id...); empty when nothing was "
                                   "built"),
        _v("resource_type", "its type, e.g. OS::Nova::Server, or a "
                            "template URL for a template resource"),
        _v("resource_status", "action and status, e.g. CREATE_COMPLETE"),
        _v("resource_status_reason", "why it has that status"),
        _v("creation_time", "when it was created"),
        _v("updated_time", "when it was last updated"),
        _v("required_by", "names of the resources that depend on it (JSON "
                          "list)"),
        _v("parent_resource", "for a nested resource, the name of the "
                              "resource (in the parent stack) that is its "
                              "stack"),
        _v("stackvault.owner_stack_id", "id of the stack that directly "
                                        "contains it (stack_id, or a nested "
                                        "stack)", col="owner_stack_id"),
        _v("stackvault.owner_stack_name", "name of that stack",
           col="owner_stack_name"),
        _v("stackvault.nested_stack_id", "when it is itself a nested "
                                         "stack, that stack's id",
           col="nested_stack_id"),
        _v("stackvault.nested_path", "the names of the nested-stack "
                                     "resources from the polled stack down "
                                     "to its owner, joined by '/' (empty "
                                     "for the polled stack's own)",
           col="nested_path"),
        _links("resources_links", "resource_id", "resources"),
    ],
}

RESOURCE_ATTRIBUTES = _pairs(
    "resource_attributes", "resource_id", "name",
    "Resource data: the attributes of each resource as Heat resolves them "
    "(from the resources list with_detail; one GET .../resources/NAME "
    "only for a resource the list gives no attributes for).",
    "attribute name",
    parent_doc="id of the row of resources")

RESOURCE_METADATA = _pairs(
    "resource_metadata", "resource_id", "key",
    "The metadata of each resource (one GET .../resources/NAME/metadata "
    "per resource: Heat's API leaves metadata out of resource lists and "
    "shows).", "metadata key",
    parent_doc="id of the row of resources")

RESOURCE_TYPES = {
    "translation-type": tr.LIST, "table-name": "resource_types",
    "val-col": "resource_type",
    "doc": "The resource types this Heat offers (GET /resource_types).",
    "col-docs": {"resource_type": "a resource type name"},
}

EVENTS = {
    "translation-type": tr.HDICT, "table-name": "events",
    "parent-key": "stack_id", "id-col": "id", "selector-type": "dot",
    "doc": "The events of each stack and of its nested stacks down to "
           "nested_depth (one GET .../events?nested_depth=N per stack; "
           "after a datasource's first poll, only the events after the "
           "newest one it has read, by marker).",
    "col-docs": {"stack_id": STACK_ID_DOC},
    "field-translators": [
        _v("id", "event id"),
        _v("resource_name", "the resource (or the stack's own name, for "
                            "the stack's events)"),
        _v("logical_resource_id", "same as resource_name"),
        _v("physical_resource_id", "id of what the resource built, then"),
        _v("resource_status", "action and status it reached, e.g. "
                              "CREATE_COMPLETE"),
        _v("resource_status_reason", "why"),
        _v("event_time", "when"),
        _v("stackvault.owner_stack_id", "id of the stack that directly "
                                        "contains the resource",
           col="owner_stack_id"),
        _links("events_links", "event_id", "events"),
    ],
}

EVENT_DETAILS = {
    "translation-type": tr.HDICT, "table-name": "event_details",
    "parent-key": "event_id",
    "doc": "Event detail (one GET .../events/ID each) for the "
           "max_event_details newest events of each stack.",
    "col-docs": {"event_id": "id of the row of events"},
    "field-translators": [
        _v("resource_type", "the resource's type"),
        _v("resource_properties", "the resource's properties at that event "
                                  "(JSON object)"),
    ],
}

SOFTWARE_CONFIGS = {
    "translation-type": tr.HDICT, "table-name": "software_configs",
    "id-col": "id",
    "doc": "Software configs of the project (GET /software_configs, then "
           "each config's detail).",
    "field-translators": [
        _v("id", "config id"),
        _v("name", "config name"),
        _v("group", "the tool that applies it (script, puppet, ...)"),
        _v("creation_time", "when it was created"),
        _v("config", "the configuration script or data"),
        _v("options", "tool options (JSON object)"),
        {"fieldname": "inputs", "translator": _rows(
            "software_config_inputs", "config_id",
            "The inputs a software config declares.",
            [_v("name", "input name"),
             _v("type", "String, Number, CommaDelimitedList, Json or "
                        "Boolean"),
             _v("description", "its description"),
             _v("default", "its default value"),
             _v("replace_on_change", "true when a change replaces the "
                                     "deployment")])},
        {"fieldname": "outputs", "translator": _rows(
            "software_config_outputs", "config_id",
            "The outputs a software config declares.",
            [_v("name", "output name"),
             _v("type", "its type"),
             _v("description", "its description"),
             _v("error_output", "true when a value means the deployment "
                                "failed")])},
    ],
}

SOFTWARE_DEPLOYMENTS = {
    "translation-type": tr.HDICT, "table-name": "software_deployments",
    "id-col": "id",
    "doc": "Software deployments of the project (GET "
           "/software_deployments, which carries them whole; a deployment's "
           "own GET only when the list leaves its values out).",
    "field-translators": [
        _v("id", "deployment id"),
        _v("config_id", "the software config deployed (a row of "
                        "software_configs)"),
        _v("server_id", "the server it is deployed to"),
        _v("action", "CREATE, UPDATE, DELETE, SUSPEND or RESUME"),
        _v("status", "IN_PROGRESS, COMPLETE or FAILED"),
        _v("status_reason", "why it has that status"),
        _v("creation_time", "when it was created"),
        _v("updated_time", "when it was last updated"),
        {"fieldname": "input_values", "translator": _pairs(
            "deployment_input_values", "deployment_id", "name",
            "The input values given to each deployment.", "input name")},
        {"fieldname": "output_values", "translator": _pairs(
            "deployment_output_values", "deployment_id", "name",
            "The output values a deployment signalled back (deploy_stdout, "
            "deploy_status_code, declared outputs).", "output name")},
    ],
}

TEMPLATES = {
    "translation-type": tr.HDICT, "table-name": "templates",
    "parent-key": "stack_id",
    "doc": "Opt-in (polled only when asked for by name): the template of "
           "each stack (one GET .../template per stack).",
    "col-docs": {"stack_id": STACK_ID_DOC},
    "field-translators": [
        _v("template_version", "heat_template_version (or the CFN "
                               "format's version)"),
        _v("description", "the template's description"),
        _v("template", "the whole template (JSON object)"),
    ],
}

POLL_ERRORS = {
    "translation-type": tr.HDICT, "table-name": "poll_errors",
    "doc": "The calls of this poll that failed: their rows are missing "
           "from the tables named, or are those of the previous poll "
           "(kept_rows); nothing else is.",
    "field-translators": [
        _v("stack_id", "the stack whose rows are missing (empty for a "
                       "project-wide call)"),
        _v("stack_name", "its name"),
        _v("call", "the call that failed, e.g. GET /stacks/NAME/ID"),
        _v("tables", "the tables it would have given rows to (comma "
                     "separated)"),
        _v("reason", "why it failed"),
        _v("kept_rows", "how many rows of the previous poll of the same "
                        "datasource were kept in their place (the tables "
                        "are then stale; 0: the rows are missing)"),
    ],
}

TRANSLATORS = [STACKS, SNAPSHOTS, RESOURCES, RESOURCE_ATTRIBUTES,
               RESOURCE_METADATA, RESOURCE_TYPES, EVENTS, EVENT_DETAILS,
               SOFTWARE_CONFIGS, SOFTWARE_DEPLOYMENTS, TEMPLATES,
               POLL_ERRORS]

CATALOG = tr.Catalog(TRANSLATORS)

#: Tables a poll reads only when they are asked for by name.
OPT_IN = ("templates",)

#: The columns that identify a row of each table (for a diff of two
#: polls); None: the whole row is its identity.
KEYS = {
    "stacks": ("id",), "stack_parameters": ("stack_id", "name"),
    "stack_outputs": ("stack_id", "output_key"), "stacks_links": None,
    "snapshots": ("id",), "resources": ("id",), "resources_links": None,
    "resource_attributes": ("resource_id", "name"),
    "resource_metadata": ("resource_id", "key"),
    "resource_types": ("resource_type",), "events": ("id",),
    "events_links": None, "event_details": ("event_id",),
    "software_configs": ("id",),
    "software_config_inputs": ("config_id", "name"),
    "software_config_outputs": ("config_id", "name"),
    "software_deployments": ("id",),
    "deployment_input_values": ("deployment_id", "name"),
    "deployment_output_values": ("deployment_id", "name"),
    "templates": ("stack_id",), "poll_errors": None,
}
