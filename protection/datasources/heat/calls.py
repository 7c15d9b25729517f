"""Every kind of call a Heat poll makes: what it starts from, the tables it
fills, how many a poll makes (the cost formula's terms)."""

from protection.datasources.heat.tables import CATALOG


class Call:
    """A kind of API call: what it needs first and the tables it fills."""

    def __init__(self, name, path, needs, translator, per):
        self.name = name
        self.path = path            # documentation only
        self.needs = needs          # the call whose answer it starts from
        self.translator = translator
        self.per = per              # how many per poll (documentation)

    @property
    def tables(self):
        if self.translator is None:
            return ()
        return tuple(CATALOG[self.translator].tables)


#: Every call a poll can make, in the order of the cost formula. ``per``:
#: how many a full poll makes (S stacks, C software configs, K =
#: max_event_details, E_s events and R_s resources of stack s; calls
#: marked "fallback" are made only for what a list answer leaves out:
#: never on Heat 27, whose API leaves only resource metadata out).
CALLS = {c.name: c for c in [
    Call("stack_list", "GET /stacks", None, None, "1"),
    Call("resource_types", "GET /resource_types", None, "resource_types",
         "1"),
    Call("config_list", "GET /software_configs", None, None, "1"),
    Call("deployment_list", "GET /software_deployments", None,
         "software_deployments", "1"),
    Call("config_show", "GET /software_configs/ID", "config_list",
         "software_configs", "C"),
    Call("deployment_show", "GET /software_deployments/ID",
         "deployment_list", "software_deployments", "fallback"),
    Call("stack_show", "GET /stacks/NAME/ID[?resolve_outputs=false]",
         "stack_list", "stacks", "S"),
    Call("snapshot_list", "GET /stacks/NAME/ID/snapshots", "stack_list",
         "snapshots", "S"),
    Call("resource_list", "GET /stacks/NAME/ID/resources?nested_depth=N"
         "[&with_detail=true]", "stack_list", "resources", "S"),
    Call("event_list", "GET /stacks/NAME/ID/events?nested_depth=N"
         "&sort_dir=asc[&marker=ID]", "stack_list", "events", "S"),
    Call("template_show", "GET /stacks/NAME/ID/template", "stack_list",
         "templates", "S (opt-in)"),
    Call("resource_show", "GET /stacks/OWNER/ID/resources/RES",
         "resource_list", "resource_attributes", "fallback"),
    Call("resource_metadata", "GET /stacks/OWNER/ID/resources/RES/metadata",
         "resource_list", "resource_metadata", "sum R_s"),
    Call("event_show", "GET /stacks/OWNER/ID/resources/RES/events/ID",
         "event_list", "event_details", "sum min(E_s, K)"),
]}

_TABLE_CALL = {}
for _call in CALLS.values():
    for _table in _call.tables:
        _TABLE_CALL.setdefault(_table, _call.name)


def calls_for(tables):
    """The names of the calls that the given tables need."""
    needed = set()
    for table in tables:
        call = _TABLE_CALL.get(table)
        while call is not None:
            needed.add(call)
            call = CALLS[call].needs
    if "deployment_list" in needed:
        needed.add("deployment_show")       # its fallback
    return needed


def tables_after(kind):
    """The tables a call fills, and those of the calls that start from its
    answer (they are lost with it)."""
    tables = list(CALLS[kind].tables)
    for call in CALLS.values():
        if call.needs == kind:
            tables += [t for t in tables_after(call.name) if t not in tables]
    return tables
