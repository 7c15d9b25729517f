"""One poll of Heat: the calls run on a bounded pool of threads, and their
answers are handled on the polling thread."""

import collections
import collections.abc
import concurrent.futures
import queue
import threading
import time
import urllib.parse

from protection.datasources import PollResult
from protection.datasources import translator as tr
from protection.datasources.heat import calls as heat_calls
from protection.datasources.heat import resources
from protection.datasources.heat import rest
from protection.datasources.heat.tables import CATALOG


class Poll:
    """One poll: calls run on a bounded pool; their answers are handled
    (translated, and the calls they lead to submitted) on the polling
    thread only, one whole answer at a time, so the tables need no lock."""

    def __init__(self, datasource, wanted):
        self.ds = datasource
        self.wanted = wanted
        self.needed = heat_calls.calls_for(wanted)
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
        return rest.get(self.proxy, path, params)

    def finish(self, future, kind, path, handler, ctx):
        try:
            handler(future.result(), path, ctx)
        except rest.CALL_ERRORS as exc:
            self.fail(kind, path, ctx, exc)

    def fail(self, kind, path, ctx, exc):
        tables = {t for t in heat_calls.tables_after(kind) if t in self.wanted}
        self.errors.append({
            "stack_id": ctx.get("stack_id"),
            "stack_name": ctx.get("stack_name"),
            "call": f"GET {path}",
            "tables": ", ".join(sorted(tables)),
            "reason": rest.reason(exc)})

    def add(self, tables):
        for name, rows in tables.items():
            self.out[name].extend(rows)

    # -- answers ---------------------------------------------------------

    def on_stacks(self, body, path, ctx):
        stacks = rest.unwrap(body, "stacks", path)
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
            base = rest.stack_path(stack["stack_name"], stack["id"])
            self.submit("stack_show", base, None, self.on_stack, sctx)
            self.submit("snapshot_list", base + "/snapshots", None,
                        self.on_snapshots, sctx)
            self.submit("resource_list", base + "/resources", params,
                        self.on_resources, sctx)
            self.submit("event_list", base + "/events", params,
                        self.on_events, sctx)

    def on_stack(self, body, path, ctx):
        self.add(CATALOG["stacks"].translate(rest.unwrap(body, "stack", path)))

    def on_snapshots(self, body, path, ctx):
        self.add(CATALOG["snapshots"].translate(
            rest.unwrap(body, "snapshots", path), parent_id=ctx["stack_id"]))

    def on_resources(self, body, path, ctx):
        tables, raw = resources.resource_rows(body, ctx["stack_id"],
                                     ctx["stack_name"], path)
        self.add(tables)
        for row, res in zip(tables["resources"], raw):
            rpath = rest.link_path(res.get("links"), "self") or (
                rest.stack_path(res["stackvault"]["owner_stack_name"],
                            res["stackvault"]["owner_stack_id"])
                + "/resources/"
                + urllib.parse.quote(str(res.get("resource_name")), safe=""))
            rctx = dict(ctx, resource_id=row["id"])
            self.submit("resource_show", rpath, None, self.on_resource,
                        rctx)
            self.submit("resource_metadata", rpath + "/metadata", None,
                        self.on_metadata, rctx)

    def on_resource(self, body, path, ctx):
        resource = rest.unwrap(body, "resource", path)
        if not isinstance(resource, collections.abc.Mapping):
            raise tr.MalformedData(f"GET {path}: 'resource' is not an "
                                   f"object")
        self.add(CATALOG["resource_attributes"].translate(
            resource.get("attributes"), parent_id=ctx["resource_id"]))

    def on_metadata(self, body, path, ctx):
        self.add(CATALOG["resource_metadata"].translate(
            rest.unwrap(body, "metadata", path), parent_id=ctx["resource_id"]))

    def on_events(self, body, path, ctx):
        events = rest.unwrap(body, "events", path)
        if not isinstance(events, list):
            raise tr.MalformedData(f"GET {path}: 'events' is not a list")
        annotated = []
        for event in events:
            if not isinstance(event, collections.abc.Mapping):
                raise tr.MalformedData(f"GET {path}: an event is not an "
                                       f"object")
            _name, owner = rest.stack_of(
                rest.link_path(event.get("links"), "stack") or "")
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
            epath = rest.link_path(event.get("links"), "self")
            if epath is None:
                continue
            self.submit("event_show", epath, None, self.on_event,
                        dict(ctx, event_id=row["id"]))

    def on_event(self, body, path, ctx):
        self.add(CATALOG["event_details"].translate(
            rest.unwrap(body, "event", path), parent_id=ctx["event_id"]))

    def on_resource_types(self, body, path, ctx):
        self.add(CATALOG["resource_types"].translate(
            rest.unwrap(body, "resource_types", path)))

    def on_configs(self, body, path, ctx):
        self.show_each(body, path, "software_configs", "config_show")

    def on_deployments(self, body, path, ctx):
        self.show_each(body, path, "software_deployments", "deployment_show")

    def show_each(self, body, path, table, kind):
        """A show of each item a project-wide list gives (``GET /TABLE``,
        then ``GET /TABLE/ID``); its answer fills the table of that name."""
        for item in rest.listed(body, table, path):
            self.submit(kind, f"/{table}/"
                        + urllib.parse.quote(str(item["id"]), safe=""),
                        None, self.on_show, {"table": table})

    def on_show(self, body, path, ctx):
        table = ctx["table"]
        self.add(CATALOG[table].translate(rest.unwrap(body, table[:-1], path)))
