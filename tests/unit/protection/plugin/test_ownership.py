"""Deletes act only on what is proven stackvault's (issue #23 item 2).

Foreign ids (a volume, a backup, a snapshot, an image the project owns
but stackvault did not create) are planted in each place a delete or an
undo reads ids from: a resource's ``metadata.json`` (checkpoint delete),
the operation's journal and saved results (protect abort and resume) and
``created.json`` (delete of a checkpoint whose protect did not finish).
Nothing foreign may be deleted, and each must be reported. openstacksdk
is an in-memory cloud (:class:`Cloud`) that really deletes.
"""

import types

import pytest
from openstack import exceptions as sdk_exceptions
from taskflow.flow import Flow

from flows import builder
from plugins import volume
from plugins.server import plugin as server_plugin
from plugins.server import protect as server_protect
from plugins.volume import bank as volume_bank
from protection import loader
from protection import exceptions
from protection.plugin import image_tasks
from protection.plugin import journal as protect_journal
from protection.plugin import ownership
from protection.plugin import tasks
from protection.plugin.context import Journal
from protection.model.graph import ResourceGraph
from protection.model.progress import Progress
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import FAST
from tests.fakes.plugin_helpers import make_ctx

OP = "op-1"
CP = "cp-1"
VOL = Resource(volume.RESOURCE_TYPE, "vol-1", "data")
SRV = Resource("OS::Nova::Server", "srv-1", "web")


def _obj(object_id, **attrs):
    attrs.setdefault("has_dependent_backups", False)
    return types.SimpleNamespace(id=object_id, status="available",
                                 volume_id="vol-1", **attrs)


class Store(dict):
    """One kind of object: get raises NotFound once it is deleted."""

    def get(self, object_id):
        if object_id not in self:
            raise sdk_exceptions.NotFoundException(object_id)
        return self[object_id]

    def delete(self, object_id, ignore_missing=True):
        self.deleted.append(object_id)
        self.pop(object_id, None)


class Cloud:
    """Cinder, Glance and Nova as far as these deletes go."""

    def __init__(self):
        self.stores = {kind: Store() for kind in
                       ("backup", "snapshot", "volume", "image")}
        for store in self.stores.values():
            store.deleted = []
        bs = self.stores
        self.block_storage = types.SimpleNamespace(
            get_backup=bs["backup"].get, delete_backup=bs["backup"].delete,
            get_snapshot=bs["snapshot"].get,
            delete_snapshot=bs["snapshot"].delete,
            get_volume=bs["volume"].get, delete_volume=bs["volume"].delete,
            backups=lambda **kw: list(bs["backup"].values()),
            snapshots=lambda **kw: list(bs["snapshot"].values()),
            volumes=lambda **kw: list(bs["volume"].values()))
        self.image = types.SimpleNamespace(
            get_image=bs["image"].get, delete_image=bs["image"].delete,
            images=lambda **kw: [], get=self._no_marked_images)
        self.compute = types.SimpleNamespace(get_server=self._server_gone)

    @staticmethod
    def _no_marked_images(path, params=None):
        return types.SimpleNamespace(status_code=200, headers={},
                                     json=lambda: {"images": []})

    @staticmethod
    def _server_gone(server_id):
        raise sdk_exceptions.NotFoundException(server_id)

    def add(self, kind, object_id, **attrs):
        self.stores[kind][object_id] = _obj(object_id, **attrs)
        return object_id

    def plant_foreign(self):
        """One object of each kind the project made by hand."""
        return {kind: self.add(kind, f"foreign-{kind}", name="mine",
                               description="made by hand")
                for kind in self.stores}

    def deleted(self):
        return sorted(i for s in self.stores.values() for i in s.deleted)


@pytest.fixture
def cloud():
    return Cloud()


def _ctx(resource, conn, resuming, operation="protect", **kwargs):
    ctx = make_ctx(resource, conn, operation=operation, **kwargs)
    ctx.journal = Journal(OP, resuming=resuming)
    return ctx


def _step_tag(step, resource=VOL):
    return tasks.tag_for(OP, f"{resource.type}#{resource.id}/{step}")


# -- the marks ----------------------------------------------------------------
class TestMarks:
    def test_a_step_mark_in_metadata_properties_or_text(self):
        marks = {tasks.MARK_OPERATION: OP, tasks.MARK_TASK: "A/step"}
        tag = tasks.tag_for(OP, "A/step")
        for carrier in ({"metadata": dict(marks)},
                        {"properties": dict(marks, other="x")},
                        {"description": f"x {tag}"}, {"name": f"tmp-{tag}"},
                        {"tags": ["a", tag]}):
            assert ownership.carries_step_mark(
                types.SimpleNamespace(**carrier), marks, tag), carrier

    def test_another_steps_or_operations_mark_proves_nothing(self):
        marks = {tasks.MARK_OPERATION: OP, tasks.MARK_TASK: "A/step"}
        other = {tasks.MARK_OPERATION: "op-2", tasks.MARK_TASK: "A/step"}
        assert not ownership.carries_step_mark(
            types.SimpleNamespace(metadata=other, description=None), marks,
            tasks.tag_for(OP, "A/step"))
        assert not ownership.carries_step_mark(
            types.SimpleNamespace(description=tasks.tag_for("op-2", "A/s")),
            marks, tasks.tag_for(OP, "A/step"))
        # an unknown operation (a checkpoint without owner) proves nothing
        empty = {tasks.MARK_OPERATION: "", tasks.MARK_TASK: "A/step"}
        assert not ownership.carries_step_mark(
            types.SimpleNamespace(metadata=dict(empty)), empty,
            tasks.tag_for("", "A/step"))

    def test_the_checkpoint_mark(self):
        def marked(**attrs):
            return ownership.carries_checkpoint_mark(
                types.SimpleNamespace(**attrs), CP)
        assert marked(name=f"stackvault-{CP}")
        assert marked(name=f"stackvault-tmp-{CP}-stackvault:abc")
        assert marked(name="my-backup",
                      description=f"stackvault checkpoint {CP} tag")
        assert not marked(name=f"stackvault-{CP}-2", description="")
        assert not marked(name="stackvault-cp-2",
                          description="stackvault checkpoint cp-2")
        assert not ownership.carries_checkpoint_mark(
            types.SimpleNamespace(name="stackvault-"), "")


# -- metadata.json: checkpoint delete -----------------------------------------
class TestCheckpointDeleteOfABackup:
    def _delete(self, cloud, backup_id):
        ctx = _ctx(VOL, cloud, resuming=False, operation="delete")
        volume.DeleteBackup().execute(ctx, cloud, {"backup_id": backup_id})
        return ctx

    def test_a_planted_backup_id_is_reported_and_left(self, cloud):
        foreign = cloud.plant_foreign()["backup"]
        ctx = self._delete(cloud, foreign)
        assert cloud.deleted() == []
        assert foreign in cloud.stores["backup"]
        assert list(ctx.journal.left.values()) == [foreign]
        [note] = ctx.journal.notes
        assert f"backup {foreign} was not deleted" in note
        assert f"no mark of checkpoint {CP}" in note

    def test_another_checkpoints_backup_is_left(self, cloud):
        other = cloud.add("backup", "bk-2", name="stackvault-cp-2",
                          description="stackvault checkpoint cp-2 x")
        ctx = self._delete(cloud, other)
        assert cloud.deleted() == [] and ctx.journal.left

    def test_this_checkpoints_backup_is_deleted(self, cloud):
        cloud.plant_foreign()
        mine = cloud.add("backup", "bk-1", name="named by the user",
                         description=f"stackvault checkpoint {CP} x",
                         has_dependent_backups=False)
        ctx = self._delete(cloud, mine)
        assert cloud.deleted() == [mine]
        assert ctx.journal.left == {}

    def test_a_backup_already_gone_is_fine(self, cloud):
        ctx = self._delete(cloud, "bk-gone")
        assert cloud.deleted() == [] and ctx.journal.left == {}


@pytest.mark.parametrize("name", loader.names(loader.PLUGINS))
def test_no_other_delete_step_touches_the_cloud(name):
    """Every plugin's delete flow, on metadata full of planted ids: only
    the step proven above may reach the cloud (``conn``); the others
    delete bank objects only."""
    plugin = loader.load_one(loader.PLUGINS, name)()
    planted = {"backup_id": "foreign-backup", "image_id": "foreign-image",
               "id": "foreign", "data_location": "cinder",
               "root_disk": {"image_id": "foreign-image"}}
    resource = Resource(plugin.resource_type, "r-1", "r")
    flow = plugin.delete_flow(make_ctx(resource, operation="delete",
                                       metadata=planted), resource)
    atoms = [] if flow is None else \
        list(builder.iter_atoms(flow)) if isinstance(flow, Flow) else [flow]
    reaching = {type(a).__name__ for a in atoms if "conn" in a.requires}
    assert reaching <= {"DeleteBackup"}


# -- created.json: delete of a checkpoint whose protect did not finish --------
class FakeSection:
    def __init__(self, recorded):
        self.objects = {protect_journal.OBJECT: dict(recorded)}

    def get_json(self, name):
        if name not in self.objects:
            raise exceptions.ObjectNotFound(name)
        return self.objects[name]

    def put_json(self, name, value):
        self.objects[name] = value


def _undo_recorded(cloud, recorded, operation_id=OP, parameters=None):
    """``undo_recorded`` of a checkpoint of one volume and one server
    whose ``created.json`` records ``recorded`` ({resource: {atom: id}})
    and whose protect ran with ``parameters``."""
    sections = {r: FakeSection(recorded.get(r, {})) for r in (VOL, SRV)}
    checkpoint = types.SimpleNamespace(
        id=CP, graph=ResourceGraph.build([VOL, SRV], lambda r: []),
        section=lambda resource: sections[resource],
        operation_id=operation_id,
        index={"plan": {"parameters": parameters or {}}})
    plugins = {VOL.type: volume.VolumePlugin(),
               SRV.type: server_plugin.ServerPlugin()}
    registry = types.SimpleNamespace(get=plugins.__getitem__)
    return protect_journal.undo_recorded(checkpoint, registry, cloud, None,
                                         FAST, Progress()), sections


class TestCreatedJson:
    @pytest.mark.parametrize("operation_id", [OP, None])
    def test_planted_ids_are_left_and_reported(self, cloud, operation_id):
        foreign = cloud.plant_foreign()
        mine = cloud.add("backup", "bk-1", name=f"stackvault-{CP}",
                         description=f"stackvault checkpoint {CP} "
                                     f"{_step_tag('CreateBackup')}")
        undone, sections = _undo_recorded(cloud, {
            VOL: {f"{VOL.type}#vol-1/CreateBackup": mine,
                  f"{VOL.type}#vol-1/CreateTemporarySnapshot":
                      foreign["snapshot"]},
            SRV: {f"{SRV.type}#srv-1/CreateRootDiskSnapshot":
                      foreign["image"]}}, operation_id)
        assert cloud.deleted() == [mine]
        assert undone.deleted == [mine]
        assert undone.left == {
            f"{VOL.type}#vol-1/CreateTemporarySnapshot": foreign["snapshot"],
            f"{SRV.type}#srv-1/CreateRootDiskSnapshot": foreign["image"]}
        assert len(undone.warnings) == 2
        assert all("was not deleted" in w for w in undone.warnings)
        # what was left stays recorded; what was deleted is forgotten
        assert protect_journal.recorded(sections[VOL]) == {
            f"{VOL.type}#vol-1/CreateTemporarySnapshot": foreign["snapshot"]}

    def test_a_planted_backup_or_volume_in_place_of_a_backup(self, cloud):
        """A volume's id where a backup's is expected is no backup (404:
        "already gone"): it is looked up as a backup, never deleted."""
        foreign = cloud.plant_foreign()
        undone, _ = _undo_recorded(cloud, {
            VOL: {f"{VOL.type}#vol-1/CreateBackup": foreign["backup"]}})
        assert list(undone.left.values()) == [foreign["backup"]]
        _undo_recorded(cloud, {
            VOL: {f"{VOL.type}#vol-1/CreateBackup": foreign["volume"]}})
        assert cloud.deleted() == []
        assert foreign["volume"] in cloud.stores["volume"]

    def test_the_protects_own_objects_are_deleted(self, cloud):
        snap = cloud.add("snapshot", "snap-1", name=f"stackvault-tmp-{CP}",
                         description="temporary snapshot "
                                     f"{_step_tag('CreateTemporarySnapshot')}")
        image = cloud.add("image", "img-1", name=f"stackvault-tmp-{CP}",
                          description=None,
                          properties={tasks.MARK_OPERATION: OP,
                                      tasks.MARK_TASK: f"{SRV.type}#srv-1/"
                                                       "CreateRootDiskSnapshot"})
        undone, _ = _undo_recorded(cloud, {
            VOL: {f"{VOL.type}#vol-1/CreateTemporarySnapshot": snap},
            SRV: {f"{SRV.type}#srv-1/CreateRootDiskSnapshot": image}})
        assert sorted(undone.deleted) == [image, snap]
        assert undone.left == {}


    def test_a_bank_volumes_copy_is_undone_and_a_planted_image_left(
            self, cloud):
        """The protect ran with data_location=bank (the checkpoint's
        plan says so): its copy volume and upload image are in its
        flow, so created.json's ids of them are looked at too."""
        foreign = cloud.plant_foreign()
        copy = cloud.add("volume", "copy-1", name=f"stackvault-tmp-{CP}",
                         description=None)
        undone, _ = _undo_recorded(cloud, {VOL: {
            f"{VOL.type}#vol-1/CreateCopyVolume": copy,
            f"{VOL.type}#vol-1/UploadToImage": foreign["image"]}},
            parameters={VOL.type: {"data_location": "bank"}})
        assert undone.deleted == [copy]
        assert undone.left == {
            f"{VOL.type}#vol-1/UploadToImage": foreign["image"]}
        assert cloud.deleted() == [copy]


# -- the journal: protect abort, and steps of a resumed protect ---------------
CREATING = [
    (volume.CreateBackup, "backup"),
    (volume.CreateTemporarySnapshot, "snapshot"),
    (volume_bank.CreateCopyVolume, "volume"),
    (volume_bank.UploadToImage, "image"),
    (server_protect.CreateRootDiskSnapshot, "image"),
]


@pytest.mark.parametrize("task_class, kind", CREATING)
def test_protect_abort_leaves_a_planted_journal_id(cloud, task_class, kind):
    foreign = cloud.plant_foreign()[kind]
    task = task_class(name=f"{VOL.type}#vol-1/{task_class.__name__}")
    ctx = _ctx(VOL, cloud, resuming=True)
    ctx.journal.record(task.name, foreign)          # planted
    with pytest.raises(tasks.NotOurs, match=f"{foreign} was not deleted"):
        task.revert(ctx, cloud, None)               # as abort reverts
    with pytest.raises(tasks.NotOurs):
        task.revert(ctx, cloud, foreign)            # a planted result
    assert cloud.deleted() == []
    assert ctx.journal.remaining() == {task.name: foreign}   # left_behind


@pytest.mark.parametrize("task_class, kind", CREATING)
def test_protect_abort_deletes_what_carries_the_steps_mark(
        cloud, task_class, kind):
    task = task_class(name=f"{VOL.type}#vol-1/{task_class.__name__}")
    ctx = _ctx(VOL, cloud, resuming=True)
    mine = cloud.add(kind, "mine", name="x", description=task.mark_tag(ctx),
                     metadata=task.marks(ctx), properties=task.marks(ctx))
    ctx.journal.record(task.name, mine)
    task.revert(ctx, cloud, None)
    assert cloud.deleted() == [mine]
    assert ctx.journal.remaining() == {}


def test_a_rerun_of_a_protect_does_not_adopt_a_planted_id(cloud):
    foreign = cloud.plant_foreign()["snapshot"]
    task = volume.CreateTemporarySnapshot(
        name=f"{VOL.type}#vol-1/CreateTemporarySnapshot")
    ctx = _ctx(VOL, cloud, resuming=True)
    ctx.journal.record(task.name, foreign)
    assert task.earlier(ctx, cloud) is None


DELETING = [
    (lambda: volume.DeleteTemporarySnapshot(), "snapshot"),
    (lambda: volume_bank.DeleteCopyVolume(), "volume"),
    (lambda: image_tasks.DeleteTemporaryImage("image_id"), "image"),
    (lambda: server_protect.DeleteRootDiskSnapshot(), "image"),
]


@pytest.mark.parametrize("make, kind", DELETING)
def test_a_resumed_protect_step_leaves_a_planted_result(cloud, make, kind):
    """The id comes from the previous step's result saved in the
    database: on a resumed protect it must carry the checkpoint's mark."""
    foreign = cloud.plant_foreign()[kind]
    with pytest.raises(tasks.NotOurs, match=f"no mark of checkpoint {CP}"):
        make().execute(_ctx(VOL, cloud, resuming=True), cloud, foreign)
    assert cloud.deleted() == []


@pytest.mark.parametrize("make, kind", DELETING)
def test_a_protect_step_deletes_its_checkpoints_temporary_object(
        cloud, make, kind):
    mine = cloud.add(kind, "tmp-1", name=f"stackvault-tmp-{CP}",
                     description="")
    make().execute(_ctx(VOL, cloud, resuming=True), cloud, mine)
    assert mine in cloud.stores[kind].deleted


def test_a_restores_temporary_image_is_proven_too(cloud):
    """CreateImageFromBank's name keeps its mark: an abort of a restore
    leaves a planted image and deletes the one it made."""
    foreign = cloud.plant_foreign()["image"]
    task = image_tasks.CreateImageFromBank(
        "image_copy", "volume_image_id",
        name=f"{VOL.type}#vol-1/CreateImageFromBank")
    ctx = _ctx(VOL, cloud, resuming=True, operation="restore")
    ctx.journal.record(task.name, foreign)
    with pytest.raises(tasks.NotOurs):
        task.revert(ctx, cloud, None)
    assert cloud.deleted() == []
    mine = cloud.add("image", "img-1", name=task.temporary_name(ctx))
    ctx.journal.record(task.name, mine)
    task.revert(ctx, cloud, None)
    assert cloud.deleted() == [mine]
