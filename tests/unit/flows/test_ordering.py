"""The ordering rules of doc/design.rst ("Ordering"), on recorded events.

The graph (tests.fakes.fake_cloud.app_cloud) has depth 3 and shared children:

    web -> vol-web -> img        db -> vol-db -> img
    web -> net                   db -> net

Children are made slow so that a missing ordering edge would show up as a
parent starting before its child finished.
"""

import threading
import time

from unittest import mock

import pytest
from taskflow import task
from taskflow.patterns import linear_flow

from flows import builder
from protection import exceptions
from protection.plugin import base as plugin_api
from tests.fakes import fake_cloud
from tests.fakes.fake_cloud import ROOTS
from tests.fakes.service import make_service

EDGES = [("web", "vol-web"), ("web", "net"), ("db", "vol-db"),
         ("db", "net"), ("vol-web", "img"), ("vol-db", "img")]


@pytest.fixture
def cloud():
    cloud = fake_cloud.app_cloud()
    # Leaves slow, so parents would overtake them if ordering were missing.
    cloud.slow.update({"img": 0.05, "net": 0.05, "vol-web": 0.03,
                       "vol-db": 0.03})
    return cloud


@pytest.fixture
def protected(tmp_path, cloud):
    service = make_service(tmp_path)
    result = service.protect(cloud, "app", ROOTS)
    return service, result.checkpoint_id


def test_protect_prepare_hooks_top_down_then_bottom_up(tmp_path, cloud):
    make_service(tmp_path).protect(cloud, "app", ROOTS)
    for parent, child in EDGES:
        assert cloud.index("prepare_begin", parent) < \
            cloud.index("prepare_begin", child)
        assert cloud.index("prepare_finish", child) < \
            cloud.index("prepare_finish", parent)
    for rid in ("web", "db", "vol-web", "vol-db", "net", "img"):
        assert cloud.index("prepare_begin", rid) < \
            cloud.index("prepare_finish", rid)


def test_protect_main_flows_start_after_every_prepare_hook(tmp_path, cloud):
    make_service(tmp_path).protect(cloud, "app", ROOTS)
    last_prepare = max(i for i, (what, _) in enumerate(cloud.log)
                       if what.startswith("prepare_"))
    first_main = min(i for i, (what, _) in enumerate(cloud.log)
                     if what == "protect")
    assert last_prepare < first_main


def test_shared_children_are_processed_once(tmp_path, cloud):
    make_service(tmp_path).protect(cloud, "app", ROOTS)
    for what in ("prepare_begin", "prepare_finish", "protect", "complete"):
        assert cloud.log.count((what, "img")) == 1
        assert cloud.log.count((what, "net")) == 1


@pytest.mark.parametrize("operation", ["protect", "restore"])
def test_on_complete_after_own_tasks_and_children_complete(
        protected, cloud, operation):
    service, checkpoint_id = protected
    if operation == "restore":
        cloud.log.clear()
        service.restore(checkpoint_id, cloud)
    for rid in ("web", "db", "vol-web", "vol-db", "net", "img"):
        assert cloud.index(f"{operation}-done", rid) < \
            cloud.index("complete", rid)
    for parent, child in EDGES:
        assert cloud.index("complete", child) < \
            cloud.index("complete", parent)


def test_restore_children_finish_before_parent_starts(protected, cloud):
    service, checkpoint_id = protected
    cloud.log.clear()
    service.restore(checkpoint_id, cloud)
    for parent, child in EDGES:
        assert cloud.index("restore-done", child) < \
            cloud.index("restore", parent)


def test_protect_after_children_when_the_parent_plugin_asks(tmp_path,
                                                            cloud):
    class Server(fake_cloud.ServerPlugin):
        protect_after_children = True
    plugins = (Server,) + fake_cloud.ALL[1:]
    make_service(tmp_path, plugins=plugins).protect(cloud, "app", ROOTS)
    for parent, child in EDGES:
        if parent in ("web", "db"):
            assert cloud.index("protect-done", child) < \
                cloud.index("protect", parent)


def test_parent_restore_reads_new_ids_of_children(protected, cloud):
    service, checkpoint_id = protected
    result = service.restore(checkpoint_id, cloud)
    restored = result.restored
    web = cloud.records[restored["Test::Server#web"]]
    assert web["children"] == {
        "vol-web": restored["Test::Volume#vol-web"],
        "net": restored["Test::Network#net"],
    }
    vol_db = cloud.records[restored["Test::Volume#vol-db"]]
    assert vol_db["children"] == {"img": restored["Test::Image#img"]}
    # one image, one network, although each is shared by two parents
    assert len(cloud.created()) == 6


class _Timed(task.Task):
    """Records when it ran; used to observe concurrency."""

    def __init__(self, name, spans, lock):
        super().__init__(name=name)
        self._spans, self._lock = spans, lock

    def execute(self):
        start = time.monotonic()
        time.sleep(0.2)
        with self._lock:
            self._spans[self.name] = (start, time.monotonic())


class TimedPlugin(fake_cloud.RecordPlugin):
    resource_type = "Test::Timed"
    spans = {}
    lock = threading.Lock()

    def protect_flow(self, ctx, resource):
        return _Timed("sleep", self.spans, self.lock)


def _overlap(spans):
    (a0, a1), (b0, b1) = spans
    return a0 < b1 and b0 < a1


@pytest.mark.parametrize("workers, overlapping", [(4, True), (1, False)])
def test_independent_resources_run_concurrently_within_the_bound(
        tmp_path, workers, overlapping):
    cloud = fake_cloud.FakeCloud()
    cloud.add("Test::Timed", "a")
    cloud.add("Test::Timed", "b")
    TimedPlugin.spans = {}
    service = make_service(tmp_path, workers=workers, plugins=[TimedPlugin])
    service.protect(cloud, "two", [("Test::Timed", "a"),
                                   ("Test::Timed", "b")])
    assert _overlap(list(TimedPlugin.spans.values())) is overlapping


class _NeedsSomethingElse(task.Task):
    def execute(self, ctx, new_volume_id):
        pass


class LeakyPlugin(fake_cloud.RecordPlugin):
    resource_type = "Test::Leaky"

    def protect_flow(self, ctx, resource):
        return _NeedsSomethingElse()


def test_a_task_cannot_read_symbols_of_another_resource(tmp_path):
    cloud = fake_cloud.FakeCloud()
    cloud.add("Test::Leaky", "x")
    service = make_service(tmp_path, plugins=[LeakyPlugin])
    with pytest.raises(exceptions.PluginError,
                       match="requires new_volume_id"):
        service.protect(cloud, "leaky", [("Test::Leaky", "x")])


def test_atoms_are_named_per_resource(tmp_path, cloud):
    service = make_service(tmp_path)
    graph = service.resource_graph(cloud, [service.show_resource(
        cloud, "Test::Server", "web")])
    built = builder.build("protect", graph, service.registry,
                          lambda r: _ctx_stub(r))
    names = [a.name for a in builder.iter_atoms(built.flow)]
    assert len(names) == len(set(names))
    assert "Test::Volume#vol-web/SaveRecord" in names
    assert built.owners["Test::Volume#vol-web/SaveRecord"][1] == "SaveRecord"


def _ctx_stub(resource):
    class Ctx:
        pass
    ctx = Ctx()
    ctx.resource = resource
    ctx.conn = ctx.bank = ctx.restored = ctx.progress = None
    ctx.metadata, ctx.parameters = {}, {}
    return ctx


# -- protect: a child's tasks tagged before / after its parent's protect ------
SERVERS = ("web", "db")
VOLUMES = {"web": "vol-web", "db": "vol-db"}


class _Step(task.Task):
    """Logs ``<step>`` and ``<step>-done``; fails when the cloud says so;
    logs ``<step>-revert`` when reverted."""

    def __init__(self, step, **kwargs):
        super().__init__(name=step, **kwargs)
        self.step = step

    def execute(self, conn, resource):
        conn.event(self.step, resource.id)
        self.work(conn, resource)
        time.sleep(conn.slow.get(resource.id, 0))
        if (self.step, resource.id) in conn.fail:
            raise fake_cloud.CloudError(f"{self.step} of {resource.id} "
                                        "refused")
        conn.event(f"{self.step}-done", resource.id)

    def work(self, conn, resource):
        pass

    def revert(self, conn, resource, **kwargs):
        conn.event(f"{self.step}-revert", resource.id)


class _ServerSnapshot(_Step):
    """Tells the children's backups that their parent's protect runs."""

    def work(self, conn, resource):
        conn.parents_running[resource.id].set()


class _Backup(_Step):
    """Waits (bounded) until every server's protect has started: it can
    finish only by overlapping them."""

    def work(self, conn, resource):
        if all(started.wait(5) for started in conn.parents_running.values()):
            conn.event("backup-overlapped", resource.id)


class _SnapshotAwaitingParent(_Step):
    """Waits (bounded) until its parent server's protect has started: it
    finishes first only if nothing orders the parent after it."""

    def work(self, conn, resource):
        server = {v: s for s, v in VOLUMES.items()}[resource.id]
        conn.parents_running[server].wait(5)


class TaggedServer(fake_cloud.ServerPlugin):
    protect_after_children = True

    def protect_flow(self, ctx, resource):
        return _ServerSnapshot("protect")


class TaggedVolume(fake_cloud.VolumePlugin):
    """A volume as the real plugin's method=snapshot: its snapshot taken
    before the server's protect, its backup alongside, its snapshot
    released after."""

    snapshot_step = _Step

    def protect_flow(self, ctx, resource):
        snapshot, backup, release = (
            self.snapshot_step("snapshot"), _Backup("backup"),
            _Step("release"))
        self.tag(snapshot, release)
        return linear_flow.Flow("protect").add(snapshot, backup, release)

    @staticmethod
    def tag(snapshot, release):
        plugin_api.before_parent(snapshot)
        plugin_api.after_parent(release)


def _tagged_service(tmp_path, server=TaggedServer, volume=TaggedVolume):
    return make_service(tmp_path, plugins=(server, volume) +
                        fake_cloud.ALL[2:])


@pytest.fixture
def tagged_cloud(cloud):
    cloud.slow.update({"web": 0.1, "db": 0.1})
    cloud.parents_running = {s: threading.Event() for s in SERVERS}
    return cloud


def test_parent_protect_between_its_childrens_tagged_tasks(tmp_path,
                                                           tagged_cloud):
    cloud = tagged_cloud
    _tagged_service(tmp_path).protect(cloud, "app", ROOTS)
    for server, volume in VOLUMES.items():
        assert cloud.index("snapshot-done", volume) < \
            cloud.index("protect", server)
        assert cloud.index("protect-done", server) < \
            cloud.index("release", volume)
        # the untagged backup overlaps the server's protect, really
        assert cloud.index("backup", volume) < \
            cloud.index("protect-done", server)
        assert ("backup-overlapped", volume) in cloud.log
        assert cloud.index("protect", server) < \
            cloud.index("backup-done", volume)
        # an untagged child keeps the whole rule
        assert cloud.index("protect-done", "net") < \
            cloud.index("protect", server)


def test_tags_are_ignored_under_a_parent_that_does_not_ask(tmp_path,
                                                           tagged_cloud):
    class Server(TaggedServer):
        protect_after_children = False

    class Volume(TaggedVolume):
        snapshot_step = _SnapshotAwaitingParent
    cloud = tagged_cloud
    _tagged_service(tmp_path, server=Server, volume=Volume).protect(
        cloud, "app", ROOTS)
    for server, volume in VOLUMES.items():
        assert ("release-done", volume) in cloud.log
        # nothing orders the server after the volume's snapshot
        assert cloud.index("protect", server) < \
            cloud.index("snapshot-done", volume)


def test_a_child_the_parents_protect_names_is_protected_whole_first(
        tmp_path, tagged_cloud):
    class Naming(_Step):
        def execute(self, conn, resource, **children):
            super().execute(conn, resource)

    class Server(TaggedServer):
        def protect_flow(self, ctx, resource):
            return Naming("protect", requires=[
                plugin_api.restored_child("Test::Volume",
                                          VOLUMES[resource.id])])
    cloud = tagged_cloud
    cloud.parents_running = {}          # no overlap to wait for
    _tagged_service(tmp_path, server=Server).protect(cloud, "app", ROOTS)
    for server, volume in VOLUMES.items():
        assert cloud.index("release-done", volume) < \
            cloud.index("protect", server)


def test_after_parent_before_a_before_parent_task_is_a_contract_error(
        tmp_path, tagged_cloud):
    class Contradicting(TaggedVolume):
        @staticmethod
        def tag(snapshot, release):
            plugin_api.after_parent(snapshot)
            plugin_api.before_parent(release)
    with pytest.raises(exceptions.PluginError,
                       match="release' is tagged before_parent but comes "
                             "after '.*/snapshot', tagged after_parent"):
        _tagged_service(tmp_path, volume=Contradicting).protect(
            tagged_cloud, "app", ROOTS)


@pytest.mark.parametrize("failing", [("protect", "web"),
                                     ("backup", "vol-web")])
def test_rollback_reverts_the_parent_before_its_childrens_snapshots(
        tmp_path, tagged_cloud, failing):
    cloud = tagged_cloud
    cloud.fail.add(failing)
    with pytest.raises(exceptions.StackvaultError):
        _tagged_service(tmp_path).protect(cloud, "app", ROOTS)
    for server, volume in VOLUMES.items():
        if ("protect-done", server) in cloud.log or failing[1] == server:
            assert cloud.index("protect-revert", server) < \
                cloud.index("snapshot-revert", volume)
    assert ("release", "vol-web") not in cloud.log


# -- hooks a plugin does not define ---------------------------------------
class _NoHooks:
    """The base plugin's hooks again: a plugin that defines none."""

    on_prepare_begin = plugin_api.ProtectionPlugin.on_prepare_begin
    on_prepare_finish = plugin_api.ProtectionPlugin.on_prepare_finish
    on_complete = plugin_api.ProtectionPlugin.on_complete


class _HooklessVolume(_NoHooks, fake_cloud.VolumePlugin):
    pass


class _SlowToCompleteImage(fake_cloud.ImagePlugin):
    """Its on_complete takes a while: a grandparent that did not wait for
    it would complete first."""

    def on_complete(self, ctx, resource):
        time.sleep(0.3)
        super().on_complete(ctx, resource)


def _hookless_volumes():
    swap = {fake_cloud.VolumePlugin: _HooklessVolume,
            fake_cloud.ImagePlugin: _SlowToCompleteImage}
    return tuple(swap.get(p, p) for p in fake_cloud.ALL)


def _without_hooks(*plugins):
    return tuple(type(f"Hookless{p.__name__}", (_NoHooks, p), {})
                 for p in plugins)


def _atom_names(service, cloud, operation="protect", checkpoint_id=None):
    names = []
    original = builder.build

    def spy(*args, **kwargs):
        built = original(*args, **kwargs)
        names.extend(atom.name for atom in builder.iter_atoms(built.flow))
        return built
    with mock.patch.object(builder, "build", spy):
        if operation == "protect":
            service.protect(cloud, "app", ROOTS)
        else:
            service.restore(checkpoint_id, cloud)
    return names


def test_a_plugin_without_hooks_gets_no_hook_steps(tmp_path, cloud):
    service = make_service(tmp_path,
                           plugins=_without_hooks(*fake_cloud.ALL))
    names = _atom_names(service, cloud)
    assert not [n for n in names
                if n.rsplit("/", 1)[-1] in plugin_api.HOOKS]
    assert "prepared" not in names
    assert not [what for what, _ in cloud.log
                if what.startswith("prepare_") or what == "complete"]
    # every resource still ran its main flow
    assert sorted(rid for what, rid in cloud.log if what == "protect") == \
        ["db", "img", "net", "vol-db", "vol-web", "web"]


def test_only_defined_hooks_get_steps(tmp_path, cloud):
    plugins = tuple(_HooklessVolume if p is fake_cloud.VolumePlugin else p
                    for p in fake_cloud.ALL)
    names = _atom_names(make_service(tmp_path, plugins=plugins), cloud)
    hooks = {n for n in names if n.rsplit("/", 1)[-1] in plugin_api.HOOKS}
    assert not {n for n in hooks if n.startswith("Test::Volume#")}
    assert "Test::Server#web/on_complete" in hooks
    assert "Test::Image#img/on_prepare_begin" in hooks
    assert "prepared" in names


@pytest.mark.parametrize("operation", ["protect", "restore"])
def test_hook_orders_hold_through_a_resource_without_hooks(
        tmp_path, cloud, operation):
    """web -> vol-web -> img: with no hook on vol-web, web's begin still
    precedes img's, img's prepare finish and on_complete precede web's,
    and web's on_complete comes after vol-web's own tasks."""
    service = make_service(tmp_path, plugins=_hookless_volumes())
    result = service.protect(cloud, "app", ROOTS)
    if operation == "restore":
        cloud.log.clear()
        service.restore(result.checkpoint_id, cloud)
    else:
        for parent in ("web", "db"):
            assert cloud.index("prepare_begin", parent) < \
                cloud.index("prepare_begin", "img")
            assert cloud.index("prepare_finish", "img") < \
                cloud.index("prepare_finish", parent)
        last_prepare = max(i for i, (what, _) in enumerate(cloud.log)
                           if what.startswith("prepare_"))
        assert last_prepare < min(i for i, (what, _) in enumerate(cloud.log)
                                  if what == operation)
    for parent, volume in (("web", "vol-web"), ("db", "vol-db")):
        assert cloud.index(f"{operation}-done", volume) < \
            cloud.index("complete", parent)
        assert cloud.index("complete", "img") < \
            cloud.index("complete", parent)
    assert ("complete", "vol-web") not in cloud.log
