"""Test fixtures: a fake cloud of records, and plugins that act on it.

The plugins create, read and delete records so that ordering (an event log)
and rollback (records left behind) are observable without a real cloud.
Only for tests; the real plugins live in ``plugins/``.
"""

import itertools
import threading
import time

from openstack import exceptions as sdk_exceptions
from taskflow import task
from taskflow.patterns import linear_flow

from protection import exceptions
from protection.plugin import checks
from protection.plugin import tasks
from protection.plugin import ProtectionPlugin
from protection.model.resource import Resource


class CloudError(Exception):
    """What a cloud API error looks like to a task."""


class FakeCloud:
    """Records by id, dependencies between them, and an event log;
    ``current_project_id`` as a connection has it (``None``: none given,
    as a cloud whose project is not known)."""

    current_project_id = None

    def __init__(self):
        self.records = {}            # id -> {"type", "name", "data", ...}
        self.deps = {}               # id -> [child id]
        self.log = []
        self.fail = set()            # (operation, record id)
        self.slow = {}               # record id -> seconds a step sleeps
        self.refuse = set()          # record ids whose pre-flight fails
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def event(self, what, rid):
        with self._lock:
            self.log.append((what, rid))

    def add(self, rtype, name, data=b"", children=()):
        rid = f"{name}"
        self.records[rid] = {"type": rtype, "name": name, "data": data}
        self.deps[rid] = list(children)
        return rid

    def create(self, rtype, name, data, children_new_ids, marks=None):
        with self._lock:
            rid = f"new-{next(self._ids)}"
            self.records[rid] = {"type": rtype, "name": name, "data": data,
                                 "children": children_new_ids,
                                 "metadata": dict(marks or {})}
        return rid

    def find_marked(self, marks):
        """The id of a record that carries exactly these marks."""
        with self._lock:
            for rid, record in self.records.items():
                if marks and record.get("metadata") == marks:
                    return rid
        return None

    def unmark(self, rid):
        """Take the marks off a record (a restore's last stage)."""
        with self._lock:
            if rid in self.records:
                self.records[rid]["metadata"] = {}
        self.event("unmark", rid)

    def delete(self, rid):
        with self._lock:
            self.records.pop(rid, None)

    def index(self, what, rid):
        return self.log.index((what, rid))

    def created(self):
        return sorted(r for r in self.records if r.startswith("new-"))


class SaveRecord(task.Task):
    def execute(self, conn, resource, bank):
        conn.event("protect", resource.id)
        time.sleep(conn.slow.get(resource.id, 0))
        if ("protect", resource.id) in conn.fail:
            raise CloudError(f"backup of {resource.id} refused: quota "
                             "exceeded")
        record = conn.records[resource.id]
        bank.put("data", record["data"])
        bank.save_metadata({"name": record["name"], "type": record["type"]})
        conn.event("protect-done", resource.id)

    def revert(self, conn, resource, **kwargs):
        conn.event("protect-revert", resource.id)


class CreateRecord(tasks.CreatingTask):
    default_provides = "new_record_id"
    kind = "record"
    records = True

    def fetch(self, conn, new_id):
        if new_id not in conn.records:
            raise sdk_exceptions.NotFoundException(f"no record {new_id}")
        return conn.records[new_id]

    def delete(self, conn, new_id):
        conn.delete(new_id)

    def find_marked(self, ctx, conn, marks):
        return conn.find_marked(marks)

    def finish(self, ctx, conn, new_id):
        conn.unmark(new_id)

    def execute(self, ctx, conn, resource, metadata, bank, parameters):
        conn.event("restore", resource.id)
        time.sleep(conn.slow.get(resource.id, 0))
        if ("restore", resource.id) in conn.fail:
            raise CloudError(f"cannot create {resource.id}: No valid host "
                             "was found")
        mapped = parameters.get("child_mapping", {})
        children = {
            child_id: mapped.get(child_id) or ctx.restored.require(
                ctx.resource.extra.get("child_types", {}).get(
                    child_id, resource.type), child_id)
            for child_id in ctx.resource.extra.get("children", [])
        }
        data = b"".join(bank.get("data"))
        name = parameters.get("restore_name") or metadata["name"]
        new_id = conn.create(resource.type, name, data, children,
                             marks=self.marks(ctx))
        # Recorded at once (CreatingTask.created): with --on-failure keep
        # the engine stops scheduling at the first failure, and what was
        # created must still be listed.
        self.created(ctx, new_id)
        conn.event("restore-done", resource.id)
        return new_id

    def revert(self, ctx, conn, resource, result, **kwargs):
        conn.event("restore-revert", resource.id)
        super().revert(ctx, conn, result, **kwargs)


class CheckRecord(task.Task):
    def execute(self, conn, resource, bank):
        conn.event("verify", resource.id)
        bank.get_json("metadata.json")


class ForgetRecord(task.Task):
    def execute(self, conn, resource):
        conn.event("delete", resource.id)
        if ("delete", resource.id) in conn.fail:
            raise CloudError(f"cannot delete backup of {resource.id}")


class RecordPlugin(ProtectionPlugin):
    """A plugin for one fake type; subclasses set ``resource_type``."""

    restore_schema = {
        "type": "object",
        "properties": {"restore_name": {"type": "string"},
                       "copies": {"type": "integer", "minimum": 1},
                       "child_mapping": {"type": "object"}},
        "additionalProperties": False,
    }
    options_schema = {
        "type": "object",
        "properties": {"mode": {"enum": ["full", "incremental"]}},
        "additionalProperties": False,
    }
    metadata_schema = {
        "type": "object",
        "required": ["name", "type"],
        "properties": {"name": {"type": "string"},
                       "type": {"type": "string"}},
    }

    def _resource(self, conn, rid):
        record = conn.records.get(rid)
        if record is None or record["type"] != self.resource_type:
            raise exceptions.ResourceNotFound(
                f"{self.resource_type} {rid} not found")
        children = conn.deps.get(rid, [])
        return Resource(self.resource_type, rid, record["name"], {
            "children": children,
            "child_types": {c: conn.records[c]["type"] for c in children},
        })

    def list_resources(self, conn):
        return [self._resource(conn, rid) for rid, r in conn.records.items()
                if r["type"] == self.resource_type]

    def show_resource(self, conn, resource_id):
        return self._resource(conn, resource_id)

    def dependencies(self, conn, resource):
        return [_plugin_resource(conn, child)
                for child in conn.deps.get(resource.id, [])]

    def protect_flow(self, ctx, resource):
        return linear_flow.Flow("protect").add(SaveRecord())

    def restore_flow(self, ctx, resource):
        return linear_flow.Flow("restore").add(CreateRecord())

    def delete_flow(self, ctx, resource):
        return ForgetRecord()

    def verify_flow(self, ctx, resource):
        return CheckRecord()

    def restore_preflight(self, ctx, resource):
        """Each child restored or mapped with ``child_mapping``; a record
        in ``conn.refuse`` fails its check (a full disk, say)."""
        ctx.conn.event("preflight", resource.id)
        items = [checks.Mapping("name", resource.name,
                                   ctx.parameters.get("restore_name")
                                   or resource.name)]
        types = resource.extra.get("child_types", {})
        for child in resource.extra.get("children", []):
            target = ctx.parameters.get("child_mapping", {}).get(child) \
                or ctx.restored.get(types.get(child, resource.type), child)
            items.append(checks.Mapping("child", child, target) if target
                         else checks.Check(
                             "child", checks.FAIL,
                             f"{child} is not restored: map it with "
                             "child_mapping"))
        items.append(checks.Check.of(
            "room", resource.id not in ctx.conn.refuse,
            f"no room for {resource.id}" if resource.id in ctx.conn.refuse
            else "enough room"))
        return items

    def on_prepare_begin(self, ctx, resource):
        ctx.conn.event("prepare_begin", resource.id)

    def on_prepare_finish(self, ctx, resource):
        ctx.conn.event("prepare_finish", resource.id)

    def on_complete(self, ctx, resource):
        ctx.conn.event("complete", resource.id)
        if ctx.operation == "restore":
            # What the parent sees of its own restore when it completes.
            assert ctx.restored.get(resource.type, resource.id)


class ServerPlugin(RecordPlugin):
    resource_type = "Test::Server"


class VolumePlugin(RecordPlugin):
    resource_type = "Test::Volume"


class NetworkPlugin(RecordPlugin):
    resource_type = "Test::Network"


class ImagePlugin(RecordPlugin):
    resource_type = "Test::Image"


ALL = (ServerPlugin, VolumePlugin, NetworkPlugin, ImagePlugin)


def _plugin_resource(conn, rid):
    for cls in ALL:
        if conn.records[rid]["type"] == cls.resource_type:
            return cls()._resource(conn, rid)
    raise KeyError(rid)


def app_cloud():
    """Two servers sharing a network; depth 3 (stack -> server -> volume ->
    image) and a shared image:

        web  -> vol-web -> img
        web  -> net
        db   -> vol-db  -> img
        db   -> net
    """
    cloud = FakeCloud()
    cloud.add("Test::Image", "img", b"image-bytes")
    cloud.add("Test::Network", "net", b"net-spec")
    cloud.add("Test::Volume", "vol-web", b"web-data", ["img"])
    cloud.add("Test::Volume", "vol-db", b"db-data", ["img"])
    cloud.add("Test::Server", "web", b"web-spec", ["vol-web", "net"])
    cloud.add("Test::Server", "db", b"db-spec", ["vol-db", "net"])
    return cloud


# The roots of app_cloud(): what a test protects to get the whole graph.
ROOTS = [("Test::Server", "web"), ("Test::Server", "db")]
