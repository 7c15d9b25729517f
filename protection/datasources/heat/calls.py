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


#: Every call a poll can make, in the order of the cost formula.
CALLS = {c.name: c for c in [
    Call("stack_list", "GET /stacks", None, None, "1"),
    Call("resource_types", "GET /resource_types", None, "resource_types",
         "1"),
    Call("config_list", "GET /software_configs", None, None, "1"),
    Call("deployment_list", "GET /software_deployments", None, None, "1"),
    Call("config_show", "GET /software_configs/ID", "config_list",
         "software_configs", "C"),
    Call("deployment_show", "GET /software_deployments/ID",
         "deployment_list", "software_deployments", "D"),
    Call("stack_show", "GET /stacks/NAME/ID", "stack_list", "stacks", "S"),
    Call("snapshot_list", "GET /stacks/NAME/ID/snapshots", "stack_list",
         "snapshots", "S"),
    Call("resource_list", "GET /stacks/NAME/ID/resources?nested_depth=N",
         "stack_list", "resources", "S"),
    Call("event_list", "GET /stacks/NAME/ID/events?nested_depth=N",
         "stack_list", "events", "S"),
    Call("resource_show", "GET /stacks/OWNER/ID/resources/RES",
         "resource_list", "resource_attributes", "sum R_s"),
    Call("resource_metadata", "GET /stacks/OWNER/ID/resources/RES/metadata",
         "resource_list", "resource_metadata", "sum R_s"),
    Call("event_show", "GET /stacks/OWNER/ID/resources/RES/events/ID",
         "event_list", "event_details", "sum min(E_s, K)"),
]}

_TABLE_CALL = {t: c.name for c in CALLS.values() for t in c.tables}


def calls_for(tables):
    """The names of the calls that the given tables need."""
    needed = set()
    for table in tables:
        call = _TABLE_CALL.get(table)
        while call is not None:
            needed.add(call)
            call = CALLS[call].needs
    return needed


def tables_after(kind):
    """The tables a call fills, and those of the calls that start from its
    answer (they are lost with it)."""
    tables = list(CALLS[kind].tables)
    for call in CALLS.values():
        if call.needs == kind:
            tables += tables_after(call.name)
    return tables

