"""One poll of Heat: the calls run on a bounded pool of threads, and their
answers are handled on the polling thread, one whole answer at a time.

Every answer becomes a :class:`Record` (its rows, the calls made from it);
the records of a poll are the :class:`State` the next poll of the same
datasource starts from: a failed call puts the previous record of the same
call (and of the calls made from it) in its place, marked stale; a stack
whose name, ``updated_time`` and ``stack_status`` did not change reuses
its records instead of calling Heat again; events are read from the
newest one already read; software configs and event details, which Heat
never changes, are read once.
"""

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
from protection.datasources.heat.tables import KEYS

# Parameters that move from poll to poll without changing what a call
# reads (so they do not stop a record from being reused).
_MOVING = ("marker",)
# What a software deployment of a list must carry to need no show.
_DEPLOYMENT_FIELDS = ("id", "config_id", "server_id", "input_values",
                      "output_values", "status")
# The table a resource detail call fills.
_DETAIL_TABLE = {"resource_show": "resource_attributes",
                 "resource_metadata": "resource_metadata"}


class Record:
    """What one call gave: rows per table, the keys of the calls made from
    its answer, and what the next poll needs from it (``info``)."""

    def __init__(self, kind, path, params, stale=False):
        self.kind = kind
        self.path = path
        self.params = dict(params or {})
        self.rows = collections.defaultdict(list)
        self.children = []
        self.info = {}
        self.stale = stale

    def as_stale(self):
        copy = Record(self.kind, self.path, self.params, stale=True)
        copy.rows, copy.children, copy.info = self.rows, self.children, \
            self.info
        return copy


class State:
    """The records of one poll, by ``(kind, path)``."""

    def __init__(self, records=None):
        self.records = dict(records or {})

    def subtree(self, key):
        """The record of ``key`` and those of the calls made from it."""
        todo, seen = [key], set()
        while todo:
            key = todo.pop()
            if key in seen or key not in self.records:
                continue
            seen.add(key)
            record = self.records[key]
            yield key, record
            todo.extend(record.children)

    def fresh(self, key, params):
        """True when ``key`` was read with the same parameters and neither
        it nor anything made from it is stale."""
        record = self.records.get(key)
        if record is None or _steady(record.params) != _steady(params):
            return False
        return not any(r.stale for _k, r in self.subtree(key))

    def marks(self):
        """``{stack id: (name, updated_time, stack_status)}`` of the last
        stack list that was read (not kept from an earlier poll)."""
        record = self.records.get(("stack_list", "/stacks"))
        if record is None or record.stale:
            return {}
        return record.info.get("marks", {})


def _steady(params):
    return {k: v for k, v in (params or {}).items() if k not in _MOVING}


class Poll:
    """One poll. ``previous``: the :class:`State` of the datasource's last
    poll; ``full``: read everything (reuse nothing from it)."""

    def __init__(self, datasource, wanted, previous=None, full=True):
        self.ds = datasource
        self.wanted = wanted
        self.needed = heat_calls.calls_for(wanted)
        self.prev = previous or State()
        self.full = full
        self.proxy = datasource.conn.orchestration
        self.out = {name: [] for name in CATALOG.tables}
        self.records = {}
        self.current = None             # the record being filled
        self.errors = []
        self.stale, self.incomplete = set(), set()
        self.reused = 0
        self.calls = collections.Counter()
        self.lock = threading.Lock()
        self.done = queue.SimpleQueue()     # finished calls, in order
        self.outstanding = 0

    def run(self):
        """Make the calls; ``(PollResult, State)``."""
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
        return self.result(time.monotonic() - start), State(self.records)

    def result(self, elapsed):
        errors = CATALOG["poll_errors"].translate(self.errors)["poll_errors"]
        tables = {name: rows for name, rows in self.out.items()
                  if name in self.wanted}
        tables["poll_errors"] = errors
        stale = self.stale & set(tables)
        incomplete = self.incomplete & set(tables)
        return PollResult(
            tables, errors, sum(self.calls.values()), self.calls, elapsed,
            complete=set(tables) - stale - incomplete, stale=stale,
            incomplete=incomplete, keys=KEYS, full=self.full,
            reused=self.reused)

    # -- plumbing --------------------------------------------------------

    def submit(self, kind, path, params, handler, ctx=None, reuse=False):
        """Call ``GET path`` (or, with ``reuse``, take the previous poll's
        answer when it is fresh); ``handler`` reads the answer."""
        if kind not in self.needed:
            return
        key = (kind, path)
        if self.current is not None:
            self.current.children.append(key)
        if reuse and not self.full and self.prev.fresh(key, params):
            self.reused += 1
            self.carry(key, stale=False)
            return
        call = (kind, path, params, handler, ctx or {})
        future = self.pool.submit(self.call, kind, path, params)
        self.outstanding += 1
        future.add_done_callback(lambda f: self.done.put((f, call)))

    def call(self, kind, path, params):
        with self.lock:
            self.calls[kind] += 1
        return rest.get(self.proxy, path, params)

    def finish(self, future, kind, path, params, handler, ctx):
        record = self.current = Record(kind, path, params)
        try:
            handler(future.result(), path, ctx)
        except rest.CALL_ERRORS as exc:
            self.fail(kind, path, ctx, exc)
            return
        finally:
            self.current = None
        self.keep((kind, path), record)

    def keep(self, key, record):
        self.records[key] = record
        for name, rows in record.rows.items():
            self.out[name].extend(rows)

    def carry(self, key, stale):
        """Put the previous poll's record of ``key`` (and of the calls made
        from it) in this poll; the number of rows carried."""
        kept = 0
        for sub_key, record in self.prev.subtree(key):
            self.keep(sub_key, record.as_stale() if stale else record)
            kept += sum(len(rows) for name, rows in record.rows.items()
                        if name in self.wanted)
        return kept

    def fail(self, kind, path, ctx, exc):
        tables = {t for t in heat_calls.tables_after(kind)
                  if t in self.wanted}
        kept = 0
        if (kind, path) in self.prev.records:
            kept = self.carry((kind, path), stale=True)
            self.stale |= tables
        else:
            self.incomplete |= tables
        self.report(path, ctx, tables, rest.reason(exc), kept)

    def report(self, path, ctx, tables, reason, kept=0):
        self.errors.append({
            "stack_id": ctx.get("stack_id"),
            "stack_name": ctx.get("stack_name"),
            "call": f"GET {path}",
            "tables": ", ".join(sorted(tables)),
            "reason": reason, "kept_rows": kept})

    def add(self, tables):
        for name, rows in tables.items():
            self.current.rows[name].extend(rows)

    # -- stacks ----------------------------------------------------------

    def on_stacks(self, body, path, ctx):
        stacks = rest.unwrap(body, "stacks", path)
        if not isinstance(stacks, list):
            raise tr.MalformedData(f"GET {path}: 'stacks' is not a list")
        before = {} if self.full else self.prev.marks()
        marks = {}
        for stack in stacks:
            if not isinstance(stack, collections.abc.Mapping) or \
                    not stack.get("id") or not stack.get("stack_name"):
                tables = {t for t in heat_calls.tables_after("stack_list")
                          if t in self.wanted}
                self.incomplete |= tables
                self.report(path, {}, tables, "MalformedData: a stack "
                            f"without id or stack_name: {stack!r:.200}")
                continue
            mark = (stack["stack_name"], stack.get("updated_time"),
                    stack.get("stack_status"))
            marks[stack["id"]] = mark
            # a stack in progress changes without changing its mark
            settled = not str(mark[2]).endswith("_IN_PROGRESS")
            self.read_stack(stack, settled and before.get(stack["id"]) ==
                            mark)
        self.current.info["marks"] = marks

    def read_stack(self, stack, unchanged):
        """The calls of one stack; an unchanged one reuses its answers."""
        ctx = {"stack_id": stack["id"], "stack_name": stack["stack_name"]}
        base = rest.stack_path(stack["stack_name"], stack["id"])
        depth = {"nested_depth": self.ds.nested_depth} \
            if self.ds.nested_depth else {}
        show = None if "stack_outputs" in self.wanted else {
            "resolve_outputs": "false"}
        detail = {"with_detail": "true"} if self.needed & {
            "resource_show", "resource_metadata"} else {}
        self.submit("stack_show", base, show, self.on_stack, ctx,
                    reuse=unchanged)
        self.submit("snapshot_list", base + "/snapshots", None,
                    self.on_snapshots, ctx, reuse=unchanged)
        self.submit("resource_list", base + "/resources",
                    dict(depth, **detail), self.on_resources, ctx,
                    reuse=unchanged)
        self.submit("template_show", base + "/template", None,
                    self.on_template, ctx, reuse=unchanged)
        self.read_events(base + "/events", dict(depth, sort_dir="asc"), ctx,
                         unchanged)

    def on_stack(self, body, path, ctx):
        self.add(CATALOG["stacks"].translate(rest.unwrap(body, "stack",
                                                         path)))

    def on_snapshots(self, body, path, ctx):
        self.add(CATALOG["snapshots"].translate(
            rest.unwrap(body, "snapshots", path), parent_id=ctx["stack_id"]))

    def on_template(self, body, path, ctx):
        if not isinstance(body, collections.abc.Mapping):
            raise tr.MalformedData(f"GET {path}: the template is not an "
                                   f"object")
        version = next((body[k] for k in (
            "heat_template_version", "HeatTemplateFormatVersion",
            "AWSTemplateFormatVersion") if k in body), None)
        self.add(CATALOG["templates"].translate(
            {"template_version": version,
             "description": body.get("description", body.get(
                 "Description")),
             "template": dict(body)}, parent_id=ctx["stack_id"]))

    # -- resources -------------------------------------------------------

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
            self.detail(res, "attributes", "resource_show", rpath,
                        self.on_resource, rctx)
            self.detail(res, "metadata", "resource_metadata",
                        rpath + "/metadata", self.on_metadata, rctx)

    def detail(self, res, field, kind, path, handler, ctx):
        """A resource's attributes or metadata: from the list's answer
        when it carries them (with_detail), else from their own call."""
        if kind not in self.needed:
            return
        if field in res:
            table = _DETAIL_TABLE[kind]
            self.add(CATALOG[table].translate(res[field],
                                              parent_id=ctx["resource_id"]))
        else:
            self.submit(kind, path, None, handler, ctx)

    def on_resource(self, body, path, ctx):
        resource = rest.unwrap(body, "resource", path)
        if not isinstance(resource, collections.abc.Mapping):
            raise tr.MalformedData(f"GET {path}: 'resource' is not an "
                                   f"object")
        self.add(CATALOG["resource_attributes"].translate(
            resource.get("attributes"), parent_id=ctx["resource_id"]))

    def on_metadata(self, body, path, ctx):
        self.add(CATALOG["resource_metadata"].translate(
            rest.unwrap(body, "metadata", path),
            parent_id=ctx["resource_id"]))

    # -- events ----------------------------------------------------------

    def read_events(self, path, params, ctx, unchanged):
        """A stack's events: reused when the stack did not change, else
        those after the newest one already read (by marker)."""
        key = ("event_list", path)
        since = None
        if not self.full and self.prev.fresh(key, params):
            if unchanged:
                self.submit("event_list", path, params, self.on_events, ctx,
                            reuse=True)
                return
            since = self.prev.records[key]
            if since.info.get("marker"):
                params = dict(params, marker=since.info["marker"])
        self.submit("event_list", path, params, self.on_events,
                    dict(ctx, since=since))

    def on_events(self, body, path, ctx):
        events = rest.unwrap(body, "events", path)
        if not isinstance(events, list) or not all(
                isinstance(e, collections.abc.Mapping) for e in events):
            raise tr.MalformedData(f"GET {path}: 'events' is not a list of "
                                   f"objects")
        annotated = []
        for event in events:
            _name, owner = rest.stack_of(
                rest.link_path(event.get("links"), "stack") or "")
            item = dict(event)
            item["stackvault"] = {"owner_stack_id": owner or ctx["stack_id"]}
            annotated.append(item)
        tables = CATALOG["events"].translate(annotated,
                                             parent_id=ctx["stack_id"])
        entries = [(str(row["event_time"] or ""), str(row["id"]),
                    rest.link_path(event.get("links"), "self"))
                   for row, event in zip(tables["events"], events)]
        since = ctx.get("since")
        marker = events[-1].get("id") if events else None
        if since is not None:
            new = {entry[1] for entry in entries}
            self.add(_without_events(since.rows, new))
            entries = [e for e in since.info["events"] if e[1] not in new] \
                + entries
            marker = marker or since.info.get("marker")
        self.add(tables)
        self.current.info.update(events=entries, marker=marker)
        newest = sorted(entries, reverse=True)[:self.ds.max_event_details]
        for _time, event_id, event_path in newest:
            if event_path is not None:
                self.submit("event_show", event_path, None, self.on_event,
                            dict(ctx, event_id=event_id), reuse=True)

    def on_event(self, body, path, ctx):
        self.add(CATALOG["event_details"].translate(
            rest.unwrap(body, "event", path), parent_id=ctx["event_id"]))

    # -- project-wide ----------------------------------------------------

    def on_resource_types(self, body, path, ctx):
        self.add(CATALOG["resource_types"].translate(
            rest.unwrap(body, "resource_types", path)))

    def on_configs(self, body, path, ctx):
        # a software config never changes: one read per config
        for item in rest.listed(body, "software_configs", path):
            self.show(item, "software_configs", "config_show", reuse=True)

    def on_deployments(self, body, path, ctx):
        for item in rest.listed(body, "software_deployments", path):
            if all(k in item for k in _DEPLOYMENT_FIELDS):
                self.add(CATALOG["software_deployments"].translate(item))
            else:
                self.show(item, "software_deployments", "deployment_show")

    def show(self, item, table, kind, reuse=False):
        """``GET /TABLE/ID`` of an item a project-wide list gives; its
        answer fills the table of that name."""
        self.submit(kind, f"/{table}/"
                    + urllib.parse.quote(str(item["id"]), safe=""),
                    None, self.on_show, {"table": table}, reuse=reuse)

    def on_show(self, body, path, ctx):
        table = ctx["table"]
        self.add(CATALOG[table].translate(rest.unwrap(body, table[:-1],
                                                      path)))



def _without_events(rows, event_ids):
    """The rows of the events tables that are not of ``event_ids``."""
    return {name: [r for r in found
                   if r.get("id" if name == "events" else "event_id")
                   not in event_ids]
            for name, found in rows.items()}
