"""A fake Heat API for unit tests and the poll benchmark.

It answers the GETs of Heat's REST API (the paths the Heat datasource
uses) with bodies of the shape a real Heat returns: the fields, links and
nesting below were recorded from Heat 27.0.1 (devcloud) with
``conn.orchestration.get(...)``. Anything it is not told about is a 404,
like Heat. ``fail`` and ``answer`` inject errors and malformed bodies;
``latency`` makes each call sleep (for the benchmark).
"""

import itertools
import json
import re
import threading
import time
import urllib.parse

import requests

BASE = "http://heat.example:8004/v1/6d1a2e0b9c4f4e3a8b7d5c2f1e0a9b8c"
TIME = "2026-11-22T00:45:12Z"
RESOURCE_TYPES = ["OS::Cinder::Volume", "OS::Heat::RandomString",
                  "OS::Heat::SoftwareConfig", "OS::Heat::Stack",
                  "OS::Heat::Value", "OS::Neutron::Net", "OS::Nova::Server"]


def response(status, body, url=""):
    r = requests.Response()
    r.status_code = status
    r.reason = {200: "OK", 404: "Not Found"}.get(status, "Error")
    r.url = BASE + url
    r.headers["content-type"] = "application/json"
    if status >= 400 and body is None:
        body = {"code": status, "title": r.reason,
                "explanation": "The resource could not be found.",
                "error": {"type": "NotFound", "traceback": None,
                          "message": f"injected {status}"}}
    r._content = json.dumps(body).encode()
    return r


class Stack:
    def __init__(self, heat, name, stack_id, parent=None,
                 parent_resource=None, parameters=None, outputs=None):
        self.heat = heat
        self.name = name
        self.id = stack_id
        self.parent = parent
        self.parent_resource = parent_resource
        self.parameters = dict(parameters or {})
        self.outputs = list(outputs or [])
        self.resources = []        # own resources (dicts, list shape)
        self.details = {}          # resource name -> (description, attrs)
        self.metadata = {}         # resource name -> metadata dict
        self.events = []
        self.snapshots = []
        self.status = "CREATE_COMPLETE"
        self.updated_time = None
        self.template = {"heat_template_version": "2018-08-31",
                         "description": f"template of {name}",
                         "resources": {}}

    @property
    def path(self):
        """As in Heat's links: the name percent-encoded (UTF-8)."""
        return f"/stacks/{urllib.parse.quote(self.name, safe='')}/{self.id}"

    def link(self, rel="self"):
        return {"href": BASE + self.path, "rel": rel}

    def summary(self):
        return {"id": self.id, "links": [self.link()],
                "stack_name": self.name, "description": "",
                "stack_status": self.status,
                "stack_status_reason": "Stack CREATE completed successfully",
                "creation_time": TIME, "updated_time": self.updated_time,
                "deletion_time": None, "stack_owner": "demo",
                "parent": self.parent.id if self.parent else None,
                "stack_user_project_id": "cc6873019699428ca582c9488c2c7a33",
                "tags": None}

    def show(self):
        body = self.summary()
        params = {"OS::stack_id": self.id, "OS::project_id": "6d1a2e0b",
                  "OS::stack_name": self.name}
        params.update(self.parameters)
        body.update({"notification_topics": [], "parameters": params,
                     "template_description": "", "capabilities": [],
                     "disable_rollback": True, "timeout_mins": None,
                     "tags": [], "outputs": self.outputs})
        return body

    def touch(self, status="UPDATE_COMPLETE", when=None):
        """What an update does to the stack list: a new status and
        updated_time."""
        self.status = status
        self.updated_time = when or f"2026-11-22T01:{len(self.events):02d}:00Z"

    def add_resource(self, name, rtype, physical_id, nested=None,
                     attributes=None, metadata=None, required_by=()):
        quoted = urllib.parse.quote(name, safe="")
        links = [{"href": f"{BASE}{self.path}/resources/{quoted}",
                  "rel": "self"}, self.link("stack")]
        if nested is not None:
            links.append(nested.link("nested"))
        res = {"updated_time": TIME, "creation_time": TIME,
               "logical_resource_id": name, "resource_name": name,
               "physical_resource_id": physical_id,
               "resource_status": "CREATE_COMPLETE",
               "resource_status_reason": "state changed",
               "resource_type": rtype, "links": links,
               "required_by": list(required_by)}
        self.resources.append(res)
        self.details[name] = ("", dict(attributes or {}))
        self.metadata[name] = dict(metadata or {})
        self.add_event(name, physical_id, "CREATE_IN_PROGRESS", rtype)
        self.add_event(name, physical_id, "CREATE_COMPLETE", rtype)
        return res

    def add_event(self, resource_name, physical_id, status, rtype):
        eid = self.heat.new_id("e")
        rpath = (f"{BASE}{self.path}/resources/"
                 f"{urllib.parse.quote(resource_name, safe='')}")
        root = self
        while root.parent is not None:
            root = root.parent
        self.heat.event_seq += 1
        event = {"id": eid,
                 "links": [{"href": f"{rpath}/events/{eid}", "rel": "self"},
                           {"href": rpath, "rel": "resource"},
                           self.link("stack"), root.link("root_stack")],
                 "event_time": f"2026-11-22T00:45:{len(self.events):02d}Z",
                 "logical_resource_id": resource_name,
                 "resource_name": resource_name,
                 "physical_resource_id": physical_id,
                 "resource_status": status,
                 "resource_status_reason": "state changed"}
        self.events.append((event, rtype))
        self.heat.event_order[eid] = self.heat.event_seq

    def add_snapshot(self, name):
        self.snapshots.append({
            "id": self.heat.new_id("snap"), "name": name,
            "action": "CREATE", "status": "COMPLETE",
            "status_reason": "Stack SNAPSHOT completed successfully",
            "creation_time": TIME,
            "data": {"name": self.name, "id": self.id, "resources": {}}})

    def nested_stacks(self):
        found = []
        for res in self.resources:
            for link in res["links"]:
                if link["rel"] == "nested":
                    found.append(self.heat.by_id[link["href"].rsplit(
                        "/", 1)[1]])
        return found

    def walk(self, depth):
        """(stack, level) for this stack and its nested ones to depth."""
        yield self, 0
        if depth <= 0:
            return
        for child in self.nested_stacks():
            for stack, level in child.walk(depth - 1):
                yield stack, level + 1


class FakeHeat:
    """``get(path, params=None)`` answers like Heat's API."""

    def __init__(self, latency=0.0):
        self.latency = latency
        self.stacks = []           # top-level stacks, in list order
        self.by_id = {}
        self.configs = {}
        self.deployments = {}
        self.resource_types = list(RESOURCE_TYPES)
        self.calls = []
        self._failures = []        # (regex, status)
        self._answers = []         # (regex, body)
        self._ids = itertools.count(1)
        # what a resource list with_detail carries: like Heat 27, never
        # the metadata (its API drops it); an older Heat: less
        self.detail_fields = ("description", "attributes")
        self.event_seq = 0
        self.event_order = {}       # event id -> creation order
        self._lock = threading.Lock()

    def new_id(self, prefix):
        with self._lock:
            n = next(self._ids)
        return f"{prefix}-{n:04d}-0000-4000-8000-{n:012d}"

    # -- building the cloud ----------------------------------------------

    def add_stack(self, name, parameters=None, outputs=None, parent=None,
                  parent_resource=None):
        stack = Stack(self, name, self.new_id("stk"), parent,
                      parent_resource, parameters, outputs)
        self.by_id[stack.id] = stack
        if parent is None:
            self.stacks.append(stack)
        stack.add_event(name, stack.id, "CREATE_IN_PROGRESS",
                        "OS::Heat::Stack")
        return stack

    def add_nested(self, parent, resource_name, template="nested.yaml"):
        child = self.add_stack(f"{parent.name}-{resource_name}-x7k2",
                               parent=parent, parent_resource=resource_name)
        parent.add_resource(resource_name, f"file:///tmp/{template}",
                            child.id, nested=child)
        return child

    def add_config(self, name, inputs=(), outputs=()):
        cid = self.new_id("cfg")
        self.configs[cid] = {
            "id": cid, "name": name, "group": "script",
            "creation_time": TIME, "config": "#!/bin/sh\necho hi",
            "inputs": [{"name": i, "description": "", "type": "String",
                        "default": ""} for i in inputs],
            "outputs": [{"name": o, "description": "", "type": "String",
                         "error_output": False} for o in outputs],
            "options": {}}
        return cid

    def add_deployment(self, config_id, server_id, inputs=None,
                       outputs=None):
        did = self.new_id("dep")
        self.deployments[did] = {
            "id": did, "server_id": server_id,
            "input_values": dict(inputs or {}),
            "output_values": dict(outputs) if outputs is not None else None,
            "action": "CREATE", "status": "COMPLETE",
            "status_reason": "Outputs received", "config_id": config_id,
            "creation_time": TIME, "updated_time": TIME}
        return did

    @classmethod
    def sample(cls, n_stacks=2, resources=2, nested=True, latency=0.0):
        """``n_stacks`` stacks, each with ``resources`` resources, a
        nested stack with one more when ``nested``, a snapshot, one
        software config and one deployment."""
        heat = cls(latency)
        cid = heat.add_config("cfg", inputs=["foo"], outputs=["result"])
        heat.add_deployment(cid, "srv-1", {"foo": "bar"}, {"result": "ok"})
        for i in range(n_stacks):
            stack = heat.add_stack(
                f"stack{i}", parameters={"size": str(i + 1)},
                outputs=[{"output_key": "out", "output_value": {"a": [i]},
                          "description": "No description given"}])
            for r in range(resources):
                stack.add_resource(
                    f"vol{r}", "OS::Cinder::Volume", heat.new_id("vol"),
                    attributes={"size": 1, "attachments": []},
                    metadata={"backup": "daily"} if r == 0 else None)
            if nested:
                child = heat.add_nested(stack, "child")
                child.add_resource("net", "OS::Neutron::Net",
                                   heat.new_id("net"),
                                   attributes={"name": "n"})
            stack.add_snapshot(f"snap{i}")
        return heat

    # -- failures --------------------------------------------------------

    def fail(self, pattern, status=500):
        """Answer ``status`` for every path that matches ``pattern``."""
        self._failures.append((re.compile(pattern), status))

    def answer(self, pattern, body):
        """Answer ``body`` (200) for every path matching ``pattern``."""
        self._answers.append((re.compile(pattern), body))

    # -- the API ---------------------------------------------------------

    def get(self, path, params=None, **kwargs):
        with self._lock:
            self.calls.append((path, dict(params or {})))
        if self.latency:
            time.sleep(self.latency)
        for regex, status in self._failures:
            if regex.search(path):
                return response(status, None, path)
        for regex, body in self._answers:
            if regex.search(path):
                return response(200, body, path)
        body = self._route(urllib.parse.unquote(path), params or {})
        if body is None:
            return response(404, None, path)
        return response(200, body, path)

    def _events(self, stack, depth, params):
        """Like Heat: newest first unless sort_dir=asc; after marker."""
        events = sorted((e for owner, _l in stack.walk(depth)
                         for e, _t in owner.events),
                        key=lambda e: self.event_order[e["id"]],
                        reverse=params.get("sort_dir") != "asc")
        marker = params.get("marker")
        ids = [e["id"] for e in events]
        if marker in ids:
            events = events[ids.index(marker) + 1:]
        return events

    def _stack(self, name, stack_id):
        stack = self.by_id.get(stack_id)
        if stack is None or stack.name != name:
            return None
        return stack

    def _route(self, path, params):
        parts = [p for p in path.split("/") if p]
        depth = int(params.get("nested_depth") or 0)
        if parts == ["stacks"]:
            return {"stacks": [s.summary() for s in self.stacks]}
        if parts == ["resource_types"]:
            return {"resource_types": list(self.resource_types)}
        if parts[:1] == ["software_configs"]:
            if len(parts) == 1:
                return {"software_configs": [
                    {k: c[k] for k in ("id", "name", "group",
                                       "creation_time")}
                    for c in self.configs.values()]}
            found = self.configs.get(parts[1])
            return {"software_config": found} if found else None
        if parts[:1] == ["software_deployments"]:
            if len(parts) == 1:
                return {"software_deployments": list(
                    self.deployments.values())}
            found = self.deployments.get(parts[1])
            return {"software_deployment": found} if found else None
        if parts[:1] != ["stacks"]:
            return None
        if len(parts) == 2:                  # lookup by id or name
            for stack in self.by_id.values():
                if parts[1] in (stack.id, stack.name):
                    return {"stack": stack.show()}
            return None
        stack = self._stack(parts[1], parts[2])
        if stack is None:
            return None
        rest = parts[3:]
        if not rest:
            body = stack.show()
            if str(params.get("resolve_outputs", "")).lower() == "false":
                del body["outputs"]
            return {"stack": body}
        if rest == ["template"]:
            return dict(stack.template)
        if rest == ["snapshots"]:
            return {"snapshots": list(stack.snapshots)}
        if rest == ["resources"]:
            found = []
            for owner, level in stack.walk(depth):
                for res in owner.resources:
                    res = dict(res)
                    if level:
                        res["parent_resource"] = owner.parent_resource
                    if str(params.get("with_detail", "")).lower() == "true":
                        description, attrs = owner.details[
                            res["resource_name"]]
                        detail = {"description": description,
                                  "attributes": attrs,
                                  "metadata": owner.metadata[
                                      res["resource_name"]]}
                        res.update((k, v) for k, v in detail.items()
                                   if k in self.detail_fields)
                    found.append(res)
            return {"resources": found}
        if rest == ["events"]:
            return {"events": self._events(stack, depth, params)}
        if rest[0] != "resources" or len(rest) < 2:
            return None
        name = rest[1]
        res = next((r for r in stack.resources
                    if r["resource_name"] == name), None)
        if len(rest) == 2 and res is not None:
            description, attrs = stack.details[name]
            return {"resource": dict(res, description=description,
                                     attributes=attrs)}
        if rest[2:] == ["metadata"] and res is not None:
            return {"metadata": stack.metadata[name]}
        if len(rest) == 4 and rest[2] == "events":
            for event, rtype in stack.events:
                if event["id"] == rest[3] and event["resource_name"] == name:
                    body = {k: v for k, v in event.items()}
                    body["links"] = body["links"][:3]
                    body["resource_type"] = rtype
                    body["resource_properties"] = {"size": 1} \
                        if rtype == "OS::Cinder::Volume" else {}
                    return {"event": body}
        return None
