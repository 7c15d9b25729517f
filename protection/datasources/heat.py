"""The Heat datasource: Heat's read API as tables (read-only).

Every call is an HTTP GET through openstacksdk's orchestration proxy
(``conn.orchestration.get(path)``), with the connection's authentication,
endpoint discovery and retries. The proxy's typed calls are not used
because, checked against openstacksdk 4.22: there is no call for resource
show, resource metadata, resource types, stack snapshots or event show;
``resources()`` silently drops ``nested_depth``; its typed objects drop the
fields they do not declare (a resource's ``creation_time`` and
``parent_resource``, an event's ``resource_type``); and ``resources(name)``
and ``stack_events(name)`` make a hidden lookup call each, which would
break the call bound below. Raw GETs keep Heat's own field names, the ones
of Heat's API reference and of ``openstack stack show``, which the tables
use as column names.

Cost of one poll (see :data:`CALLS`). With S stacks (``GET /stacks``, which
does not list nested stacks), R_s resources of stack s up to
``nested_depth`` (nested stacks' resources included), E_s its events up to
the same depth, K = ``max_event_details``, C software configs and D software
deployments, a full poll makes::

    4 + C + D + sum over s of (4 + 2 * R_s + min(E_s, K))

calls: ``GET /stacks``, ``/resource_types``, ``/software_configs``,
``/software_deployments``, one show per config and per deployment; per
stack its show, snapshots, resources and events, a show and a metadata
call per resource, and a show for each of its K newest events. ``only``
drops every call that no asked-for table needs (``resource_types`` alone
is one call; ``stacks`` is ``1 + S``). At most ``max_workers`` calls run
at the same time.

A call that fails (HTTP error, connection error, a body of the wrong
shape) does not fail the poll: the rows it would have given are missing,
and a row of ``poll_errors`` says which stack, which call, which tables and
why. Rows are only ever added per whole response, never half of one.

:func:`stack_physical_resources` is the one-call-per-stack view of the
``resources`` table that the Heat stack protectable uses to find what a
stack built.
"""

import collections
import collections.abc
import concurrent.futures
import queue
import threading
import time
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from oslo_config import cfg

from protection import exceptions
from protection.datasources import Datasource
from protection.datasources import PollResult
from protection.datasources import translator as tr

NAME = "heat"

heat_opts = [
    cfg.IntOpt("max_workers", default=4, min=1, max=64,
               help="How many Heat API calls one poll makes at the same "
                    "time."),
    cfg.IntOpt("nested_depth", default=5, min=0, max=100,
               help="How deep into nested stacks resources and events are "
                    "read (Heat's nested_depth; 0: only each stack's own)."),
    cfg.IntOpt("max_event_details", default=10, min=0,
               help="Per stack, how many of the newest events are read in "
                    "detail (one call each) for the event_details table."),
]


def _v(name, doc, col=None):
    field = {"fieldname": name, "doc": doc}
    if col:
        field["col"] = col
    return field


def _links(table, parent_key, owner):
    return {"fieldname": "links", "translator": {
        "translation-type": tr.LIST, "table-name": table,
        "parent-key": parent_key,
        "doc": f"The links Heat gives for each row of {owner}.",
        "translator": {"translation-type": tr.HDICT, "field-translators": [
            _v("href", "URL of the linked object"),
            _v("rel", "relation: self, stack (the owning stack), nested "
                      "(a nested stack), resource, root_stack"),
        ]}}}


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
        _v("deletion_time", "when it was deleted"),
        _v("stack_owner", "the user name that created it"),
        _v("parent", "id of the parent stack, for a nested stack"),
        _v("stack_user_project_id", "the project of the stack's domain "
                                    "users"),
        _v("disable_rollback", "true when a failed create is not rolled "
                               "back"),
        _v("timeout_mins", "create/update timeout in minutes"),
        _v("tags", "tags (JSON list)"),
        _v("notification_topics", "notification topics (JSON list)"),
        _v("capabilities", "capabilities (JSON list)"),
        {"fieldname": "parameters", "translator": {
            "translation-type": tr.VDICT, "table-name": "stack_parameters",
            "parent-key": "stack_id", "key-col": "name",
            "val-col": "value",
            "doc": "The stack's parameter values, Heat's own "
                   "(OS::stack_id, OS::stack_name, OS::project_id) included.",
            "col-docs": {"name": "parameter name",
                         "value": "its value as Heat returns it (a string; "
                                  "JSON text for a list or map)"}}},
        {"fieldname": "outputs", "translator": {
            "translation-type": tr.LIST, "table-name": "stack_outputs",
            "parent-key": "stack_id",
            "doc": "The stack's outputs, resolved.",
            "translator": {"translation-type": tr.HDICT,
                           "field-translators": [
                               _v("output_key", "output name"),
                               _v("output_value", "its value (JSON text when "
                                                  "not a scalar)"),
                               _v("description", "the output's "
                                                 "description"),
                               _v("output_error", "why it could not be "
                                                  "resolved, if it could "
                                                  "not"),
                           ]}}},
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
        _v("action", "the action Heat ran (SNAPSHOT, CREATE)"),
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

RESOURCE_ATTRIBUTES = {
    "translation-type": tr.VDICT, "table-name": "resource_attributes",
    "parent-key": "resource_id", "key-col": "name", "val-col": "value",
    "doc": "Resource data: the attributes of each resource as Heat "
           "resolves them (one GET .../resources/NAME per resource).",
    "col-docs": {"resource_id": "id of the row of resources",
                 "name": "attribute name",
                 "value": "its value (JSON text when not a scalar)"},
}

RESOURCE_METADATA = {
    "translation-type": tr.VDICT, "table-name": "resource_metadata",
    "parent-key": "resource_id", "key-col": "key", "val-col": "value",
    "doc": "The metadata of each resource (one GET "
           ".../resources/NAME/metadata per resource).",
    "col-docs": {"resource_id": "id of the row of resources",
                 "key": "metadata key",
                 "value": "its value (JSON text when not a scalar)"},
}

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
           "nested_depth (one GET .../events?nested_depth=N per stack).",
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
        {"fieldname": "inputs", "translator": {
            "translation-type": tr.LIST,
            "table-name": "software_config_inputs", "parent-key": "config_id",
            "doc": "The inputs a software config declares.",
            "translator": {"translation-type": tr.HDICT,
                           "field-translators": [
                               _v("name", "input name"),
                               _v("type", "String, Number, CommaDelimitedList,"
                                          " Json or Boolean"),
                               _v("description", "its description"),
                               _v("default", "its default value"),
                               _v("replace_on_change", "true when a change "
                                                       "replaces the "
                                                       "deployment"),
                           ]}}},
        {"fieldname": "outputs", "translator": {
            "translation-type": tr.LIST,
            "table-name": "software_config_outputs",
            "parent-key": "config_id",
            "doc": "The outputs a software config declares.",
            "translator": {"translation-type": tr.HDICT,
                           "field-translators": [
                               _v("name", "output name"),
                               _v("type", "its type"),
                               _v("description", "its description"),
                               _v("error_output", "true when a value means "
                                                  "the deployment failed"),
                           ]}}},
    ],
}

SOFTWARE_DEPLOYMENTS = {
    "translation-type": tr.HDICT, "table-name": "software_deployments",
    "id-col": "id",
    "doc": "Software deployments of the project (GET "
           "/software_deployments, then each deployment's detail).",
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
        _v("stack_user_project_id", "project of the signalling user"),
        {"fieldname": "input_values", "translator": {
            "translation-type": tr.VDICT,
            "table-name": "deployment_input_values",
            "parent-key": "deployment_id", "key-col": "name",
            "val-col": "value",
            "doc": "The input values given to each deployment.",
            "col-docs": {"name": "input name",
                         "value": "its value (JSON text when not a "
                                  "scalar)"}}},
        {"fieldname": "output_values", "translator": {
            "translation-type": tr.VDICT,
            "table-name": "deployment_output_values",
            "parent-key": "deployment_id", "key-col": "name",
            "val-col": "value",
            "doc": "The output values a deployment signalled back "
                   "(deploy_stdout, deploy_status_code, declared "
                   "outputs).",
            "col-docs": {"name": "output name",
                         "value": "its value (JSON text when not a "
                                  "scalar)"}}},
    ],
}

POLL_ERRORS = {
    "translation-type": tr.HDICT, "table-name": "poll_errors",
    "doc": "The calls of this poll that failed: their rows are missing "
           "from the tables named, nothing else is.",
    "field-translators": [
        _v("stack_id", "the stack whose rows are missing (empty for a "
                       "project-wide call)"),
        _v("stack_name", "its name"),
        _v("call", "the call that failed, e.g. GET /stacks/NAME/ID"),
        _v("tables", "the tables it would have given rows to (comma "
                     "separated)"),
        _v("reason", "why it failed"),
    ],
}

TRANSLATORS = [STACKS, SNAPSHOTS, RESOURCES, RESOURCE_ATTRIBUTES,
               RESOURCE_METADATA, RESOURCE_TYPES, EVENTS, EVENT_DETAILS,
               SOFTWARE_CONFIGS, SOFTWARE_DEPLOYMENTS, POLL_ERRORS]

CATALOG = tr.Catalog(TRANSLATORS)


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

CALL_ERRORS = (sdk_exceptions.SDKException, ks_exceptions.ClientException,
               tr.MalformedData, ValueError)


def calls_for(tables):
    """The names of the calls that the given tables need."""
    needed = set()
    for table in tables:
        call = _TABLE_CALL.get(table)
        while call is not None:
            needed.add(call)
            call = CALLS[call].needs
    return needed


def _tables_after(kind):
    """The tables a call fills, and those of the calls that start from its
    answer (they are lost with it)."""
    tables = list(CALLS[kind].tables)
    for call in CALLS.values():
        if call.needs == kind:
            tables += _tables_after(call.name)
    return tables


def _reason(exc):
    if isinstance(exc, sdk_exceptions.HttpException) and \
            exc.status_code is not None:
        text = f"HTTP {exc.status_code}: {exc.details or exc.message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


def _get(proxy, path, params=None):
    """One GET through the orchestration proxy; the decoded JSON body."""
    response = proxy.get(path, params=params or None, raise_exc=False)
    sdk_exceptions.raise_from_response(response)
    return response.json()


def _unwrap(body, key, path):
    if not isinstance(body, collections.abc.Mapping) or key not in body:
        raise tr.MalformedData(f"GET {path}: the answer has no {key!r}")
    return body[key]


def _link_path(links, rel):
    """The API path (from ``/stacks/``) of the link ``rel``, or None.

    Heat's links are absolute URLs built from the request's host; keeping
    only the path lets the proxy send it to its own endpoint.
    """
    for link in links or ():
        if isinstance(link, collections.abc.Mapping) and \
                link.get("rel") == rel:
            path = urllib.parse.urlsplit(str(link.get("href", ""))).path
            at = path.find("/stacks/")
            if at >= 0:
                return path[at:]
    return None


def _stack_of(path):
    """``(name, id)`` of a ``/stacks/NAME/ID[...]`` path."""
    parts = path.split("/")
    if len(parts) >= 4:
        return urllib.parse.unquote(parts[2]), parts[3]
    return None, None


def _stack_path(name, stack_id):
    return (f"/stacks/{urllib.parse.quote(str(name), safe='')}/"
            f"{urllib.parse.quote(str(stack_id), safe='')}")


def _annotate_resources(resources, stack_id, stack_name):
    """Add what the resources table derives (under ``stackvault``).

    Returns new dicts; the owner stack comes from the ``stack`` link, the
    nested stack from the ``nested`` link, and the path from following
    owners up to the polled stack.
    """
    if not isinstance(resources, (list, tuple)):
        raise tr.MalformedData(
            f"resources of stack {stack_name}: expected a list")
    nested_owner = {}       # nested stack id -> (owner stack id, name)
    owners = []
    for res in resources:
        if not isinstance(res, collections.abc.Mapping):
            raise tr.MalformedData(
                f"resources of stack {stack_name}: expected objects")
        links = res.get("links")
        owner_name, owner_id = _stack_of(_link_path(links, "stack") or "")
        if owner_id is None:
            owner_name, owner_id = stack_name, stack_id
        _name, nested_id = _stack_of(_link_path(links, "nested") or "")
        if nested_id is not None:
            nested_owner[nested_id] = (owner_id, res.get("resource_name"))
        owners.append((owner_name, owner_id, nested_id))

    def path_of(owner_id, seen=()):
        if owner_id == stack_id or owner_id not in nested_owner or \
                owner_id in seen:
            return ""
        parent, name = nested_owner[owner_id]
        head = path_of(parent, seen + (owner_id,))
        return f"{head}/{name}" if head else str(name)

    annotated = []
    for res, (owner_name, owner_id, nested_id) in zip(resources, owners):
        path = path_of(owner_id)
        if not path and owner_id != stack_id:
            path = str(res.get("parent_resource") or "")
        item = dict(res)
        item["stackvault"] = {
            "owner_stack_id": owner_id, "owner_stack_name": owner_name,
            "nested_stack_id": nested_id, "nested_path": path}
        annotated.append(item)
    return annotated


def _resource_rows(body, stack_id, stack_name, path):
    """The resources/resources_links tables of one resources answer, and
    the annotated raw resources, in the same order as the rows."""
    raw = _annotate_resources(_unwrap(body, "resources", path), stack_id,
                              stack_name)
    return CATALOG["resources"].translate(raw, parent_id=stack_id), raw


PhysicalResource = collections.namedtuple(
    "PhysicalResource",
    ["resource_type", "physical_resource_id", "name", "nested_path",
     "status"])
PhysicalResource.__doc__ = """A resource that a Heat stack built.

``resource_type`` (e.g. ``OS::Nova::Server``), ``physical_resource_id``
(the id in its own service), ``name`` (its logical name in the template),
``nested_path`` (names of the nested-stack resources from the stack down to
the one that owns it, joined by ``/``; empty for the stack's own) and
``status`` (e.g. ``CREATE_COMPLETE``).
"""


def stack_physical_resources(conn, stack_id, nested_depth=5,
                             stack_name=None):
    """What a stack built: a :class:`PhysicalResource` per resource.

    For the Heat stack protectable: the rows of the ``resources`` table of
    one stack (nested stacks followed down to ``nested_depth``) that have a
    physical resource, in Heat's order. Resources that built nothing (no
    ``physical_resource_id``) are left out; nested-stack resources
    themselves are kept (their type is the template's, their id the nested
    stack's): filter on ``resource_type``.

    Costs one call (``GET /stacks/NAME/ID/resources``) when ``stack_name``
    is given, two otherwise (the stack is looked up by id first). Read
    only. Raises :class:`~protection.exceptions.ResourceNotFound` when the
    stack does not exist; other failures are openstacksdk's exceptions.
    """
    proxy = conn.orchestration
    try:
        if stack_name is None:
            lookup = "/stacks/" + urllib.parse.quote(str(stack_id), safe="")
            stack = _unwrap(_get(proxy, lookup), "stack", lookup)
            stack_name, stack_id = stack["stack_name"], stack["id"]
        path = _stack_path(stack_name, stack_id) + "/resources"
        params = {"nested_depth": nested_depth} if nested_depth else None
        body = _get(proxy, path, params)
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"Heat stack {stack_id} does not exist") from None
    tables, _raw = _resource_rows(body, stack_id, stack_name, path)
    return [PhysicalResource(r["resource_type"], r["physical_resource_id"],
                             r["resource_name"], r["nested_path"],
                             r["resource_status"])
            for r in tables["resources"] if r["physical_resource_id"]]


stack_physical_resources.doc_types = (PhysicalResource,)


def stack_description(conn, stack_id, stack_name):
    """A stack's detail and template, as Heat returns them (two GETs).

    For the Heat stack protectable, which keeps them in the checkpoint for
    reference. Read only; a missing stack raises ResourceNotFound.
    """
    path = _stack_path(stack_name, stack_id)
    try:
        stack = _unwrap(_get(conn.orchestration, path), "stack", path)
        template = _get(conn.orchestration, path + "/template")
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"Heat stack {stack_id} does not exist") from None
    return {"stack": stack, "template": template}


class HeatDatasource(Datasource):
    """Heat's read API (stacks, resources, events, software configs) as
    tables."""

    name = NAME
    config_group = "heat_datasource"
    config_opts = heat_opts
    catalog = CATALOG
    calls = CALLS
    api_functions = (stack_physical_resources,)

    def __init__(self, conn, conf=None, **overrides):
        """``overrides`` (max_workers, nested_depth, max_event_details)
        win over ``conf``'s ``[heat_datasource]`` options."""
        self.conn = conn
        settings = {opt.dest: opt.default for opt in heat_opts}
        if conf is not None:
            group = getattr(conf, self.config_group, None)
            if group is not None:
                settings = {k: getattr(group, k) for k in settings}
        unknown = set(overrides) - set(settings)
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
        settings.update(overrides)
        self.max_workers = settings["max_workers"]
        self.nested_depth = settings["nested_depth"]
        self.max_event_details = settings["max_event_details"]

    def poll(self, only=None):
        """Read Heat once; only the tables in ``only`` (default: all)."""
        wanted = list(self.tables()) if only is None else list(only)
        self.check_tables(wanted)
        return _Poll(self, set(wanted)).run()


class _Poll:
    """One poll: calls run on a bounded pool; their answers are handled
    (translated, and the calls they lead to submitted) on the polling
    thread only, one whole answer at a time, so the tables need no lock."""

    def __init__(self, datasource, wanted):
        self.ds = datasource
        self.wanted = wanted
        self.needed = calls_for(wanted)
        self.proxy = datasource.conn.orchestration
        self.out = {name: [] for name in CATALOG.tables}
        self.errors = []
        self.calls = collections.Counter()
        self.lock = threading.Lock()
        self.done = queue.SimpleQueue()     # finished calls, in order
        self.outstanding = 0

    def run(self):
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(
                max_workers=self.ds.max_workers,
                thread_name_prefix="heat-poll") as pool:
            self.pool = pool
            self.submit("stack_list", "/stacks", None, self.on_stacks)
            self.submit("resource_types", "/resource_types", None,
                        self.on_resource_types)
            self.submit("config_list", "/software_configs", None,
                        self.on_configs)
            self.submit("deployment_list", "/software_deployments", None,
                        self.on_deployments)
            try:
                while self.outstanding:
                    future, call = self.done.get()
                    self.outstanding -= 1
                    self.finish(future, *call)
            except BaseException:
                # interrupted (or a bug): do not make the queued calls
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        errors = CATALOG["poll_errors"].translate(self.errors)["poll_errors"]
        tables = {name: rows for name, rows in self.out.items()
                  if name in self.wanted}
        tables["poll_errors"] = errors
        return PollResult(tables, errors, sum(self.calls.values()),
                          self.calls, time.monotonic() - start)

    # -- plumbing --------------------------------------------------------

    def submit(self, kind, path, params, handler, ctx=None):
        if kind not in self.needed:
            return
        call = (kind, path, handler, ctx or {})
        future = self.pool.submit(self.call, kind, path, params)
        self.outstanding += 1
        future.add_done_callback(lambda f: self.done.put((f, call)))

    def call(self, kind, path, params):
        with self.lock:
            self.calls[kind] += 1
        return _get(self.proxy, path, params)

    def finish(self, future, kind, path, handler, ctx):
        try:
            handler(future.result(), path, ctx)
        except CALL_ERRORS as exc:
            self.fail(kind, path, ctx, exc)

    def fail(self, kind, path, ctx, exc):
        tables = {t for t in _tables_after(kind) if t in self.wanted}
        self.errors.append({
            "stack_id": ctx.get("stack_id"),
            "stack_name": ctx.get("stack_name"),
            "call": f"GET {path}",
            "tables": ", ".join(sorted(tables)),
            "reason": _reason(exc)})

    def add(self, tables):
        for name, rows in tables.items():
            self.out[name].extend(rows)

    # -- answers ---------------------------------------------------------

    def on_stacks(self, body, path, ctx):
        stacks = _unwrap(body, "stacks", path)
        if not isinstance(stacks, list):
            raise tr.MalformedData(f"GET {path}: 'stacks' is not a list")
        params = {"nested_depth": self.ds.nested_depth} \
            if self.ds.nested_depth else None
        for stack in stacks:
            if not isinstance(stack, collections.abc.Mapping) or \
                    not stack.get("id") or not stack.get("stack_name"):
                self.fail("stack_list", path, {}, tr.MalformedData(
                    f"a stack without id or stack_name: {stack!r:.200}"))
                continue
            sctx = {"stack_id": stack["id"],
                    "stack_name": stack["stack_name"]}
            base = _stack_path(stack["stack_name"], stack["id"])
            self.submit("stack_show", base, None, self.on_stack, sctx)
            self.submit("snapshot_list", base + "/snapshots", None,
                        self.on_snapshots, sctx)
            self.submit("resource_list", base + "/resources", params,
                        self.on_resources, sctx)
            self.submit("event_list", base + "/events", params,
                        self.on_events, sctx)

    def on_stack(self, body, path, ctx):
        self.add(CATALOG["stacks"].translate(_unwrap(body, "stack", path)))

    def on_snapshots(self, body, path, ctx):
        self.add(CATALOG["snapshots"].translate(
            _unwrap(body, "snapshots", path), parent_id=ctx["stack_id"]))

    def on_resources(self, body, path, ctx):
        tables, raw = _resource_rows(body, ctx["stack_id"],
                                     ctx["stack_name"], path)
        self.add(tables)
        for row, res in zip(tables["resources"], raw):
            rpath = _link_path(res.get("links"), "self") or (
                _stack_path(res["stackvault"]["owner_stack_name"],
                            res["stackvault"]["owner_stack_id"])
                + "/resources/"
                + urllib.parse.quote(str(res.get("resource_name")), safe=""))
            rctx = dict(ctx, resource_id=row["id"])
            self.submit("resource_show", rpath, None, self.on_resource,
                        rctx)
            self.submit("resource_metadata", rpath + "/metadata", None,
                        self.on_metadata, rctx)

    def on_resource(self, body, path, ctx):
        resource = _unwrap(body, "resource", path)
        if not isinstance(resource, collections.abc.Mapping):
            raise tr.MalformedData(f"GET {path}: 'resource' is not an "
                                   f"object")
        self.add(CATALOG["resource_attributes"].translate(
            resource.get("attributes"), parent_id=ctx["resource_id"]))

    def on_metadata(self, body, path, ctx):
        self.add(CATALOG["resource_metadata"].translate(
            _unwrap(body, "metadata", path), parent_id=ctx["resource_id"]))

    def on_events(self, body, path, ctx):
        events = _unwrap(body, "events", path)
        if not isinstance(events, list):
            raise tr.MalformedData(f"GET {path}: 'events' is not a list")
        annotated = []
        for event in events:
            if not isinstance(event, collections.abc.Mapping):
                raise tr.MalformedData(f"GET {path}: an event is not an "
                                       f"object")
            _name, owner = _stack_of(
                _link_path(event.get("links"), "stack") or "")
            item = dict(event)
            item["stackvault"] = {"owner_stack_id": owner or ctx["stack_id"]}
            annotated.append(item)
        tables = CATALOG["events"].translate(annotated,
                                             parent_id=ctx["stack_id"])
        self.add(tables)
        limit = self.ds.max_event_details
        newest = sorted(zip(tables["events"], events),
                        key=lambda pair: (str(pair[0]["event_time"] or ""),
                                          str(pair[0]["id"])),
                        reverse=True)[:limit]
        for row, event in newest:
            epath = _link_path(event.get("links"), "self")
            if epath is None:
                continue
            self.submit("event_show", epath, None, self.on_event,
                        dict(ctx, event_id=row["id"]))

    def on_event(self, body, path, ctx):
        self.add(CATALOG["event_details"].translate(
            _unwrap(body, "event", path), parent_id=ctx["event_id"]))

    def on_resource_types(self, body, path, ctx):
        self.add(CATALOG["resource_types"].translate(
            _unwrap(body, "resource_types", path)))

    def on_configs(self, body, path, ctx):
        for item in _listed(body, "software_configs", path):
            self.submit("config_show", "/software_configs/"
                        + urllib.parse.quote(str(item["id"]), safe=""),
                        None, self.on_config)

    def on_config(self, body, path, ctx):
        self.add(CATALOG["software_configs"].translate(
            _unwrap(body, "software_config", path)))

    def on_deployments(self, body, path, ctx):
        for item in _listed(body, "software_deployments", path):
            self.submit("deployment_show", "/software_deployments/"
                        + urllib.parse.quote(str(item["id"]), safe=""),
                        None, self.on_deployment)

    def on_deployment(self, body, path, ctx):
        self.add(CATALOG["software_deployments"].translate(
            _unwrap(body, "software_deployment", path)))


def _listed(body, key, path):
    items = _unwrap(body, key, path)
    if not isinstance(items, list) or not all(
            isinstance(i, collections.abc.Mapping) and i.get("id")
            for i in items):
        raise tr.MalformedData(f"GET {path}: {key!r} is not a list of "
                               f"objects with an id")
    return items
