"""The image plugin's tasks and flows against an in-memory Glance.

Task tests call ``execute``/``revert`` directly with a real checkpoint
section on a real FileSystemBank; flow tests run the whole plugin through
ProtectionService (real TaskFlow engines) with the fake Glance of
``tests/fakes/fake_glance.py``.
"""

import hashlib
import json
import os
import threading
import tracemalloc

import mock
import pytest
import requests
import stevedore
from openstack import exceptions as sdk_exceptions
from oslo_config import cfg

from flows import engine
from plugins import image as image_plugin
from protection import config
from protection import exceptions
from protection.plugin import image_data
from protection.plugin import checks
from protection.transfer import pipeline
from protection.model import progress as progress_mod
from protection.plugin import saved_metadata as schema_check
from protection.bank import base
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint.store import CheckpointStore
from protection.plugin.context import ResourceContext
from protection.model.graph import ResourceGraph
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from protection.model.restored_ids import RestoredIds
from protection.service import ProtectionService
from protection.plugin.wait import Timeouts
from tests.fakes import fake_glance

MiB = 1024 * 1024
TYPE = image_plugin.RESOURCE_TYPE
FAST = Timeouts(status_wait=2.0, per_gib=0.0, poll_initial=0.01,
                poll_max=0.02)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def glance():
    return fake_glance.FakeGlance()


@pytest.fixture
def conn(glance):
    return fake_glance.connection(glance)


@pytest.fixture
def events():
    return []


@pytest.fixture
def make_ctx(tmp_path, conn, events):
    """A ResourceContext on a real checkpoint section of a real bank."""
    store = CheckpointStore(FileSystemBank(str(tmp_path / "bank")))

    def make(image_id, operation="protect", parameters=None, metadata=None,
             restored=None, checkpoint=None):
        resource = Resource(TYPE, image_id, image_id)
        cp = checkpoint or store.create(
            {"name": "t"}, ResourceGraph.build([resource], lambda r: []))
        progress = progress_mod.Progress([events.append])
        return ResourceContext(
            operation=operation, resource=resource, conn=conn,
            bank=cp.section(resource), parameters=parameters or {},
            restored=restored or RestoredIds(),
            progress=progress.for_resource(operation, resource),
            timeouts=FAST, metadata=metadata or {},
            checkpoint_id=cp.id), cp
    return make


def run(task, ctx, **provided):
    """Call ``task.execute`` with what the framework would inject."""
    injected = {"ctx": ctx, "resource": ctx.resource, "conn": ctx.conn,
                "bank": ctx.bank, "metadata": ctx.metadata,
                "parameters": ctx.parameters, "restored": ctx.restored}
    args = {name: value for name, value in {**injected, **provided}.items()
            if name in task.requires or name in task.optional}
    return task.execute(**args)


def protect_tasks(ctx, object_size=MiB):
    info = run(image_plugin.DescribeImage(), ctx)
    data = run(image_plugin.SaveImageData(object_size), ctx,
               image_info=info)
    run(image_plugin.SaveImageMetadata(), ctx, image_info=info,
        image_data=data)
    return info, data


def saved_metadata(glance, make_ctx, payload, object_size=MiB, **attrs):
    """Protect an image with the tasks; return (metadata, checkpoint)."""
    image_id = glance.add(payload, **attrs)
    ctx, cp = make_ctx(image_id)
    protect_tasks(ctx, object_size)
    return ctx.bank.load_metadata(), cp, image_id


# -- discovery ----------------------------------------------------------------
def test_registered_under_its_entry_point():
    manager = stevedore.ExtensionManager("stackvault.plugins")
    assert manager["image"].plugin is image_plugin.ImagePlugin
    image_plugin.ImagePlugin.check()


def test_object_size_is_the_framework_option_64_mib_by_default():
    conf = config.load_config([], conf=cfg.ConfigOpts())
    config.register_component_opts(conf, image_plugin.ImagePlugin)
    assert image_plugin.ImagePlugin(conf)._object_size() == 64 * MiB
    conf.set_override("object_size_mib", 3, group="image_data")
    assert image_plugin.ImagePlugin(conf)._object_size() == 3 * MiB
    assert image_plugin.ImagePlugin()._object_size() == 64 * MiB


def test_restore_preflight_demands_one_image_of_the_datas_size():
    ctx = mock.Mock(parameters={}, metadata={
        "image": {"name": "cirros", "visibility": "public"},
        "data": {"size": 2 * MiB}})
    items = image_plugin.ImagePlugin().restore_preflight(ctx, None)
    demands = {i.quota: i.amount for i in items
               if isinstance(i, checks.Demand)}
    assert demands == {"image.image_count_total": 1,
                       "image.image_size_total": 2}


def test_every_transfer_of_the_process_shares_one_budget():
    conf = config.load_config([], conf=cfg.ConfigOpts())
    budget = image_data.process_budget(conf)
    assert budget.limit == 16
    conf.set_override("process_concurrency", 2, group="image_data")
    assert image_data.process_budget(conf) is budget
    assert budget.limit == 2
    assert image_data.process_budget(None).limit == 16


def test_list_resources_lists_the_projects_own_images(glance, conn):
    mine = glance.add(b"a", name="mine")
    glance.add(b"b", name="theirs", owner="someone-else")
    found = image_plugin.ImagePlugin().list_resources(conn)
    assert [(r.type, r.id, r.name) for r in found] == [(TYPE, mine, "mine")]
    assert found[0].extra["status"] == "active"


def test_show_resource_and_not_found(glance, conn):
    image_id = glance.add(b"abc", name="one")
    plugin = image_plugin.ImagePlugin()
    shown = plugin.show_resource(conn, image_id)
    assert (shown.id, shown.name, shown.extra["size"]) == (image_id, "one", 3)
    with pytest.raises(exceptions.ResourceNotFound, match="nope"):
        plugin.show_resource(conn, "nope")


def test_dependencies_are_kernel_and_ramdisk_images(glance, conn):
    kernel = glance.add(b"k", disk_format="aki", container_format="aki")
    ramdisk = glance.add(b"r", disk_format="ari", container_format="ari")
    ami = glance.add(b"m", disk_format="ami", container_format="ami",
                     kernel_id=kernel, ramdisk_id=ramdisk)
    plain = glance.add(b"p", kernel_id="gone")
    plugin = image_plugin.ImagePlugin()
    deps = plugin.dependencies(conn, Resource(TYPE, ami))
    assert sorted(d.id for d in deps) == sorted([kernel, ramdisk])
    # a kernel that no longer exists is not a dependency (logged)
    assert plugin.dependencies(conn, Resource(TYPE, plain)) == []


def test_dependencies_of_a_shown_image_need_no_second_read(glance, conn):
    kernel = glance.add(b"k", disk_format="aki", container_format="aki")
    ami = glance.add(b"m", disk_format="ami", kernel_id=kernel)
    plugin = image_plugin.ImagePlugin()
    shown = plugin.show_resource(conn, ami)
    assert shown.extra["kernel_id"] == kernel
    assert shown.extra["ramdisk_id"] is None
    with mock.patch.object(glance, "get") as raw_get:
        deps = plugin.dependencies(conn, shown)
    raw_get.assert_not_called()
    assert [d.id for d in deps] == [kernel]


# -- protect: DescribeImage ---------------------------------------------------
@pytest.mark.parametrize("status", ["queued", "saving", "killed",
                                    "deactivated", "importing"])
def test_describe_refuses_an_image_that_is_not_active(glance, make_ctx,
                                                       status):
    image_id = glance.add(b"x", status=status)
    ctx, _cp = make_ctx(image_id)
    with pytest.raises(image_data.ImageNotActive) as err:
        run(image_plugin.DescribeImage(), ctx)
    assert repr(status) in str(err.value)
    assert image_id in str(err.value)
    assert isinstance(err.value, exceptions.StackvaultError)


def test_describe_keeps_user_properties_only(glance, make_ctx):
    image_id = glance.add(
        b"x", name="web", tags=["b", "a"], min_disk=2, min_ram=512,
        disk_format="qcow2", hw_disk_bus="scsi", custom="x y",
        hw_vif_multiqueue_enabled="true", os_glance_import_task="t",
        direct_url="file:///secret", locations=[{"url": "file:///x"}],
        protected=True, os_hidden=True, visibility="shared")
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    assert info["properties"] == {"hw_disk_bus": "scsi", "custom": "x y",
                                  "hw_vif_multiqueue_enabled": "true"}
    assert info["tags"] == ["a", "b"]
    assert (info["min_disk"], info["min_ram"]) == (2, 512)
    assert (info["disk_format"], info["container_format"]) == ("qcow2",
                                                                "bare")
    assert info["protected"] is True and info["os_hidden"] is True
    assert info["size"] == 1 and info["os_hash_algo"] == "sha512"


def test_describe_refuses_a_volume_backed_snapshot(glance, make_ctx):
    image_id = glance.add(None, block_device_mapping="[...]")
    ctx, _cp = make_ctx(image_id)
    with pytest.raises(exceptions.StackvaultError, match="volume-backed"):
        run(image_plugin.DescribeImage(), ctx)


def test_describe_of_a_deleted_image_is_the_clouds_not_found(glance,
                                                             make_ctx):
    ctx, _cp = make_ctx("gone")
    with pytest.raises(sdk_exceptions.NotFoundException):
        run(image_plugin.DescribeImage(), ctx)


# -- protect: SaveImageData ---------------------------------------------------
def test_save_data_cuts_fixed_size_objects_and_hashes(glance, make_ctx,
                                                      events):
    payload = os.urandom(2 * MiB + 12345)
    image_id = glance.add(payload)
    ctx, cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    data = run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    assert data["size"] == len(payload)
    # Glance's sha512 and the objects' sha256 cover the whole image: no
    # second whole-image hash
    assert "sha256" not in data
    assert data["verified_with"] == "sha512"
    assert data["object_size"] == MiB
    assert [o["name"] for o in data["objects"]] == [
        "data/00000000", "data/00000001", "data/00000002"]
    assert [o["size"] for o in data["objects"]] == [MiB, MiB, 12345]
    for n, obj in enumerate(data["objects"]):
        stored = b"".join(ctx.bank.get(obj["name"]))
        assert stored == payload[n * MiB:(n + 1) * MiB]
        assert obj["sha256"] == sha256(stored)
        # the checkpoint's manifest hashed the same bytes
        rel = f"resources/{TYPE}/{image_id}/{obj['name']}"
        assert cp.manifest.objects()[rel]["sha256"] == obj["sha256"]
    byte_events = [e for e in events if e.state == progress_mod.BYTES]
    assert byte_events[-1].done == len(payload)
    assert all(e.total == len(payload) for e in byte_events)
    dones = [e.done for e in byte_events]
    assert dones == sorted(dones)


def test_save_data_checks_md5_when_glance_has_no_multihash(glance,
                                                          make_ctx):
    glance.hash_algo = None
    image_id = glance.add(os.urandom(1000))
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    data = run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    assert data["verified_with"] == "md5"
    assert "sha256" not in data


def test_save_data_without_any_glance_hash_still_saves(glance, make_ctx):
    image_id = glance.add(b"abc")
    glance.records[image_id].update(checksum=None, os_hash_algo=None,
                                    os_hash_value=None)
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    data = run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    assert data["verified_with"] is None
    assert data["sha256"] == sha256(b"abc")


def test_save_data_mismatch_with_glance_hash_is_an_error(glance, make_ctx):
    image_id = glance.add(os.urandom(3000))
    glance.corrupt_download = True
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    with pytest.raises(image_data.ImageDataMismatch, match="sha512"):
        run(image_plugin.SaveImageData(MiB), ctx, image_info=info)


def test_save_data_md5_mismatch_is_an_error(glance, make_ctx):
    glance.hash_algo = None
    image_id = glance.add(os.urandom(3000))
    glance.corrupt_download = True
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    with pytest.raises(image_data.ImageDataMismatch, match="md5"):
        run(image_plugin.SaveImageData(MiB), ctx, image_info=info)


def test_save_data_short_read_is_an_error(glance, make_ctx):
    image_id = glance.add(os.urandom(3000))
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    glance.data[image_id] = glance.data[image_id][:2000]
    with pytest.raises(image_data.ImageDataMismatch, match="2000 bytes"):
        run(image_plugin.SaveImageData(MiB), ctx, image_info=info)


def test_save_data_closes_the_download_on_failure(glance, make_ctx):
    image_id = glance.add(os.urandom(3000))
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    resp = fake_glance.response(200, data=glance.data[image_id])
    resp.close = mock.Mock()
    with mock.patch.object(glance, "download_image", return_value=resp), \
            mock.patch.object(ctx.bank, "put",
                              side_effect=exceptions.BankError("full")):
        with pytest.raises(exceptions.BankError):
            run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    resp.close.assert_called_once_with()


def test_save_data_download_error_is_the_clouds(glance, make_ctx):
    image_id = glance.add(b"abc")
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    with mock.patch.object(glance, "download_image",
                           return_value=fake_glance.error(
                               503, "store unavailable")):
        with pytest.raises(sdk_exceptions.HttpException) as err:
            run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    assert err.value.status_code == 503
    assert "store unavailable" in err.value.details


def test_save_data_failed_object_put_stops_all_and_leaves_whole_objects(
        glance, make_ctx):
    """Objects are written concurrently: one failing put fails the save
    once every put has ended; what is in the bank is whole objects only
    (no temporary file), which the revert's listing removes."""
    payload = os.urandom(6 * MiB)
    image_id = glance.add(payload)
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    real_put = ctx.bank.put

    def put(name, data):
        if name == "data/00000002":
            next(iter(data))
            raise exceptions.BankError("bank full")
        return real_put(name, data)

    task = image_plugin.SaveImageData(MiB)
    with mock.patch.object(ctx.bank, "put", side_effect=put):
        with pytest.raises(exceptions.BankError, match="bank full"):
            run(task, ctx, image_info=info)
    assert not [t for t in threading.enumerate()
                if t.name.startswith("stackvault-image-put")]
    stored = [n for n in ctx.bank.list() if n.startswith("data/")]
    assert "data/00000002" not in stored
    for name in stored:
        index = int(name.split("/")[1])
        assert b"".join(ctx.bank.get(name)) == \
            payload[index * MiB:(index + 1) * MiB]
    root = ctx.bank._checkpoint.bank.root
    assert not [f for _d, _s, files in os.walk(root) for f in files
                if f.startswith(".tmp-")]
    task.revert(bank=ctx.bank, result=None)
    assert [n for n in ctx.bank.list() if n.startswith("data/")] == []


def test_save_data_revert_deletes_the_data_objects_only(glance, make_ctx):
    image_id = glance.add(os.urandom(2 * MiB + 1))
    ctx, _cp = make_ctx(image_id)
    ctx.bank.put("other", b"keep me")
    info = run(image_plugin.DescribeImage(), ctx)
    task = image_plugin.SaveImageData(MiB)
    run(task, ctx, image_info=info)
    assert len([n for n in ctx.bank.list() if n.startswith("data/")]) == 3
    task.revert(bank=ctx.bank, result=None)
    assert ctx.bank.list() == ["other"]


def test_save_data_memory_is_constant(make_ctx, conn, glance):
    """64 MiB streamed through with well under 64 MiB of Python memory."""
    size = 64 * MiB
    image_id = glance.add(b"")
    glance.records[image_id].update(size=size, checksum=None,
                                    os_hash_algo=None, os_hash_value=None)

    class Lazy:
        status_code = 200

        def iter_content(self, chunk_size):
            block = b"\1" * chunk_size
            for _ in range(size // chunk_size):
                yield block

        def close(self):
            pass

    class NullBank:
        def put(self, name, data):
            reader = base.HashingReader(base.iter_chunks(data))
            for _ in reader:
                pass
            return base.ObjectInfo(name, reader.size, reader.sha256)

    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    with mock.patch.object(glance, "download_image", return_value=Lazy()):
        tracemalloc.start()
        try:
            data = image_plugin.SaveImageData(8 * MiB).execute(
                ctx=ctx, conn=conn, bank=NullBank(), image_info=info)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert data["size"] == size and len(data["objects"]) == 8
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


# -- protect: SaveImageMetadata -----------------------------------------------
def test_metadata_holds_what_restore_needs(glance, make_ctx):
    payload = os.urandom(1500)
    meta, _cp, image_id = saved_metadata(
        glance, make_ctx, payload, name="web", hw_disk_bus="scsi",
        tags=["t"], min_ram=256)
    assert meta["format"] == image_plugin.METADATA_FORMAT
    assert meta["image"]["name"] == "web"
    assert meta["image"]["properties"] == {"hw_disk_bus": "scsi"}
    assert meta["image"]["tags"] == ["t"] and meta["image"]["min_ram"] == 256
    data = meta["data"]
    assert data["size"] == 1500 and "sha256" not in data
    assert data["os_hash_algo"] == "sha512"
    assert data["os_hash_value"] == hashlib.sha512(payload).hexdigest()
    assert data["checksum"] == hashlib.md5(payload).hexdigest()
    json.dumps(meta)


def test_metadata_revert_deletes_it(glance, make_ctx):
    _meta, _cp, image_id = saved_metadata(glance, make_ctx, b"abc")
    ctx, _ = make_ctx(image_id, checkpoint=_cp)
    image_plugin.SaveImageMetadata().revert(bank=ctx.bank, result=None)
    assert ctx.bank.load_metadata() == {}


# -- restore: CreateImage -----------------------------------------------------
def restore_ctx(make_ctx, cp, image_id, meta, **kwargs):
    ctx, _ = make_ctx(image_id, operation="restore", metadata=meta,
                      checkpoint=cp, **kwargs)
    return ctx


def test_create_image_with_saved_properties_private_by_default(glance,
                                                               make_ctx):
    meta, cp, image_id = saved_metadata(
        glance, make_ctx, b"abc", name="web", visibility="public",
        hw_disk_bus="scsi", custom="x", tags=["t"], min_disk=1, min_ram=64,
        disk_format="qcow2", os_hidden=True)
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    new_id = run(image_plugin.CreateImage(), ctx)
    record = glance.records[new_id]
    assert record["status"] == "queued"
    assert record["name"] == "web"
    assert record["visibility"] == "private"
    assert (record["hw_disk_bus"], record["custom"]) == ("scsi", "x")
    assert record["tags"] == ["t"]
    assert (record["min_disk"], record["min_ram"]) == (1, 64)
    assert record["disk_format"] == "qcow2" and record["os_hidden"] is True
    assert record["protected"] is False
    assert ctx.restored.get(TYPE, image_id) == new_id


def test_create_image_honours_restore_name_and_visibility(glance, make_ctx):
    meta, cp, image_id = saved_metadata(glance, make_ctx, b"abc", name="web")
    ctx = restore_ctx(make_ctx, cp, image_id, meta, parameters={
        "restore_name": "web-copy", "visibility": "shared"})
    with mock.patch.object(glance, "post", wraps=glance.post) as post:
        new_id = run(image_plugin.CreateImage(), ctx)
    body = post.call_args.kwargs["json"]
    assert "os_hidden" not in body and "protected" not in body
    assert glance.records[new_id]["name"] == "web-copy"
    assert glance.records[new_id]["visibility"] == "shared"


def test_create_image_maps_kernel_and_ramdisk_to_restored_ids(glance,
                                                              make_ctx):
    meta, cp, image_id = saved_metadata(
        glance, make_ctx, b"abc", disk_format="ami", kernel_id="k-old",
        ramdisk_id="r-old")
    restored = RestoredIds()
    restored.record(TYPE, "k-old", "k-new")
    ctx = restore_ctx(make_ctx, cp, image_id, meta, restored=restored)
    new_id = run(image_plugin.CreateImage(), ctx)
    assert glance.records[new_id]["kernel_id"] == "k-new"
    # not restored (e.g. a public image of the target cloud): kept
    assert glance.records[new_id]["ramdisk_id"] == "r-old"


def test_create_image_refused_by_glance_records_nothing(glance, make_ctx):
    meta, cp, image_id = saved_metadata(glance, make_ctx, b"abc")
    meta["image"]["disk_format"] = "floppy"
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    with pytest.raises(sdk_exceptions.BadRequestException) as err:
        run(image_plugin.CreateImage(), ctx)
    assert "Invalid disk format" in err.value.details
    assert ctx.restored.as_dict() == {}
    assert set(glance.records) == {image_id}


def test_create_image_revert_deletes_it_and_forgets_the_id(glance,
                                                           make_ctx):
    meta, cp, image_id = saved_metadata(glance, make_ctx, b"abc")
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    task = image_plugin.CreateImage()
    new_id = run(task, ctx)
    task.revert(ctx=ctx, conn=ctx.conn, result=new_id)
    assert new_id not in glance.records
    assert ctx.restored.get(TYPE, image_id) is None
    task.revert(ctx=ctx, conn=ctx.conn, result=new_id)   # already gone: ok


def test_create_image_revert_after_its_own_failure_does_nothing(glance,
                                                                make_ctx):
    meta, cp, image_id = saved_metadata(glance, make_ctx, b"abc")
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    conn = mock.Mock()
    image_plugin.CreateImage().revert(ctx=ctx, conn=conn,
                                      result=mock.sentinel.failure)
    conn.image.delete_image.assert_not_called()


def test_metadata_schema_refuses_metadata_it_does_not_read(glance):
    plugin = image_plugin.ImagePlugin()
    resource = Resource(image_plugin.RESOURCE_TYPE, "x", "x")
    bad = {"format": 99, "image": {}, "data": {}}
    with pytest.raises(schema_check.InvalidMetadata,
                       match="not what the OS::Glance::Image plugin reads"):
        schema_check.check(plugin, resource, bad)
    assert "format: 1 was expected" in schema_check.problems(
        plugin.metadata_schema, bad)


# -- restore: UploadImageData -------------------------------------------------
def created(glance, make_ctx, payload, **attrs):
    meta, cp, image_id = saved_metadata(glance, make_ctx, payload, **attrs)
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    new_id = run(image_plugin.CreateImage(), ctx)
    return ctx, new_id, image_id


def test_upload_streams_the_bank_objects_back(glance, make_ctx, events):
    payload = os.urandom(2 * MiB + 7)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    events.clear()
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    assert glance.data[new_id] == payload
    assert glance.records[new_id]["status"] == "active"
    byte_events = [e for e in events if e.state == progress_mod.BYTES]
    assert byte_events[-1].done == len(payload)


def test_upload_sends_the_size_and_a_single_pass_body(glance, make_ctx):
    payload = os.urandom(5000)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    with mock.patch.object(glance, "put", wraps=glance.put) as put:
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    url = put.call_args.args[0]
    assert url.strip("/") == f"images/{new_id}/file"
    headers = put.call_args.kwargs["headers"]
    assert headers["X-OpenStack-Image-Size"] == "5000"
    assert headers["Content-Type"] == "application/octet-stream"


def test_upload_of_a_corrupt_bank_object_aborts_mid_stream(glance,
                                                          make_ctx):
    payload = os.urandom(3 * MiB)
    ctx, new_id, old_id = created(glance, make_ctx, payload)
    bank_file = os.path.join(ctx.bank._checkpoint.bank.root,
                             *ctx.bank._checkpoint.key(
                                 ctx.bank.prefix + "data/00000001").split(
                                     "/"))
    with open(bank_file, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\0\0\0")
    with pytest.raises(image_data.ImageDataMismatch,
                       match="data/00000001 .* is corrupt"):
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    # Glance never got the end of the body: nothing stored, not active
    assert new_id not in glance.data
    assert glance.records[new_id]["status"] == "queued"


def test_upload_of_a_missing_bank_object_fails_and_leaves_no_thread(
        glance, make_ctx):
    payload = os.urandom(5 * MiB)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    ctx.bank.delete("data/00000003")
    with pytest.raises(exceptions.ObjectNotFound):
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    assert new_id not in glance.data
    assert glance.records[new_id]["status"] == "queued"
    assert not [t for t in threading.enumerate()
                if t.name.startswith("stackvault-image-get")]


def test_upload_reports_the_real_reason_behind_a_connection_error(
        glance, make_ctx):
    payload = os.urandom(2 * MiB)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    disk_error = OSError(5, "Input/output error")

    def bad_get(name, **kwargs):
        yield b"x"
        raise disk_error

    with mock.patch.object(ctx.bank, "get", side_effect=bad_get):
        with pytest.raises(OSError, match="Input/output") as err:
            run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    assert err.value is disk_error
    assert isinstance(err.value.__cause__,
                      requests.exceptions.ConnectionError)


def test_upload_refused_by_glance_is_an_error(glance, make_ctx):
    ctx, new_id, _old = created(glance, make_ctx, os.urandom(1000))
    glance.upload_status = 410
    with pytest.raises(sdk_exceptions.HttpException) as err:
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    assert "Adding images to store is disabled" in err.value.details


def test_upload_retry_by_the_http_client_cannot_send_a_partial_body(
        glance, make_ctx):
    ctx, new_id, _old = created(glance, make_ctx, os.urandom(1000))
    real_put = glance.put

    def retrying_put(url, data=None, headers=None, **kwargs):
        next(iter(data))                 # a first attempt that broke
        return real_put(url, data=data, headers=headers)

    with mock.patch.object(glance, "put", side_effect=retrying_put):
        with pytest.raises(Exception, match="sent once already"):
            run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)


def sink(url, data=None, headers=None, **kwargs):
    """A Glance upload that takes any body."""
    for _ in data:
        pass
    return fake_glance.response(204)


def test_upload_checks_the_size_sent(glance, make_ctx):
    ctx, new_id, _old = created(glance, make_ctx, os.urandom(1000))
    ctx.metadata["data"]["size"] = 1001
    with mock.patch.object(glance, "put", side_effect=sink), \
            pytest.raises(image_data.ImageDataMismatch,
                          match="sent 1000 bytes, the checkpoint recorded "
                                "1001"):
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)


def test_upload_of_an_old_checkpoint_with_a_whole_sha256(glance, make_ctx):
    """Checkpoints written before the whole-image hash was dropped carry
    ``sha256``: they restore the same (the objects' hashes are checked)."""
    payload = os.urandom(2 * MiB + 3)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    ctx.metadata["data"]["sha256"] = sha256(payload)
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)
    assert glance.data[new_id] == payload


def test_upload_reads_no_whole_image_hash(glance, make_ctx):
    payload = os.urandom(2 * MiB + 3)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    with mock.patch.object(image_data.hashlib, "sha256",
                           wraps=hashlib.sha256) as made:
        run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    assert made.call_count == 3          # one per object
    assert glance.data[new_id] == payload


@pytest.mark.parametrize("object_mib", [8, 32])
def test_upload_memory_is_bounded_whatever_the_object_size(glance, make_ctx,
                                                          object_mib):
    """Memory: at most concurrency x (queue depth + 1) chunks of 4 MiB,
    plus the one chunk the consumer holds (protection/pipeline.py; here
    (2 x 3 + 1) x 4 MiB = 28 MiB), the same for 8 and 32 MiB objects (two
    32 MiB objects in memory would be 64 MiB)."""
    payload = os.urandom(64 * MiB)
    meta, cp, image_id = saved_metadata(glance, make_ctx, payload,
                                        object_size=object_mib * MiB)
    ctx = restore_ctx(make_ctx, cp, image_id, meta)
    ctx.conf = mock.Mock(image_data=mock.Mock(concurrency=2,
                                                 process_concurrency=16))
    new_id = run(image_plugin.CreateImage(), ctx)
    del payload
    with mock.patch.object(glance, "put", side_effect=sink):
        tracemalloc.start()
        try:
            run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    bound = (2 * (pipeline.DEFAULT_DEPTH + 1) + 1) * image_data.CHUNK_SIZE
    # 1 MiB for what is not data (threads, frames, the fakes' bookkeeping)
    assert peak < bound + MiB, f"peak {peak / MiB:.1f} MiB"


# -- restore: wait, check, protect --------------------------------------------
def uploaded(glance, make_ctx, payload, **attrs):
    ctx, new_id, old_id = created(glance, make_ctx, payload, **attrs)
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    return ctx, new_id


def test_wait_active(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, b"abc")
    run(image_plugin.WaitImageActive(), ctx, new_image_id=new_id)


def test_wait_ends_at_once_on_killed(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, b"abc")
    glance.records[new_id]["status"] = "killed"
    with pytest.raises(exceptions.ResourceFailed, match="'killed'"):
        run(image_plugin.WaitImageActive(), ctx, new_image_id=new_id)


def test_wait_is_bounded(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, b"abc")
    glance.records[new_id]["status"] = "saving"
    with pytest.raises(exceptions.WaitTimeout, match="active"):
        run(image_plugin.WaitImageActive(), ctx, new_image_id=new_id)


def test_wait_timeout_scales_with_size(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, b"abc")
    ctx.metadata["data"]["size"] = 3 * 1024 * MiB
    with mock.patch.object(ctx, "wait_for_status") as wait:
        run(image_plugin.WaitImageActive(), ctx, new_image_id=new_id)
    assert wait.call_args.kwargs["size_gib"] == 3
    assert "killed" in wait.call_args.kwargs["failures"]


def test_check_restored_image_accepts_the_same_hash(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, os.urandom(999))
    run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_check_restored_image_rejects_another_hash(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, os.urandom(999))
    glance.records[new_id]["os_hash_value"] = "f" * 128
    with pytest.raises(image_data.ImageDataMismatch,
                       match="Glance's sha512"):
        run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_check_restored_image_rejects_another_size(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, os.urandom(999))
    glance.records[new_id]["size"] = 5
    with pytest.raises(image_data.ImageDataMismatch, match="5 bytes"):
        run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_check_restored_image_in_a_sha256_cloud_uses_the_saved_sha256(
        glance, make_ctx):
    """Saved from a Glance with no hash (so the whole sha256 was kept),
    restored into one hashing sha256: that is the comparison."""
    payload = os.urandom(999)
    image_id = glance.add(payload)
    glance.records[image_id].update(checksum=None, os_hash_algo=None,
                                    os_hash_value=None)
    ctx, cp = make_ctx(image_id)
    protect_tasks(ctx)
    ctx = restore_ctx(make_ctx, cp, image_id, ctx.bank.load_metadata())
    assert ctx.metadata["data"]["sha256"] == sha256(payload)
    new_id = run(image_plugin.CreateImage(), ctx)
    glance.hash_algo = "sha256"           # the target cloud hashes sha256
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    glance.records[new_id]["checksum"] = None
    run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)
    glance.records[new_id]["os_hash_value"] = "0" * 64
    with pytest.raises(image_data.ImageDataMismatch, match="sha256"):
        run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_check_restored_image_in_a_sha256_cloud_from_a_sha512_one(
        glance, make_ctx):
    """Saved with Glance's sha512 (no whole sha256 kept), restored into a
    cloud hashing sha256: Glance's md5 checksum is compared."""
    payload = os.urandom(999)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    assert "sha256" not in ctx.metadata["data"]
    glance.hash_algo = "sha256"
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)
    glance.records[new_id]["checksum"] = "0" * 32
    with pytest.raises(image_data.ImageDataMismatch, match="md5"):
        run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_check_restored_image_falls_back_to_md5(glance, make_ctx):
    payload = os.urandom(999)
    ctx, new_id, _old = created(glance, make_ctx, payload)
    glance.hash_algo = None
    run(image_plugin.UploadImageData(), ctx, new_image_id=new_id)
    run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)
    glance.records[new_id]["checksum"] = "0" * 32
    with pytest.raises(image_data.ImageDataMismatch, match="md5"):
        run(image_plugin.CheckRestoredImage(), ctx, new_image_id=new_id)


def test_protect_image_and_its_revert(glance, make_ctx):
    ctx, new_id = uploaded(glance, make_ctx, b"abc")
    task = image_plugin.ProtectImage()
    run(task, ctx, new_image_id=new_id)
    assert glance.records[new_id]["protected"] is True
    task.revert(conn=ctx.conn, new_image_id=new_id, result=None)
    assert glance.records[new_id]["protected"] is False
    glance.delete_image(new_id)
    task.revert(conn=ctx.conn, new_image_id=new_id, result=None)   # gone


# -- delete and verify --------------------------------------------------------
def test_delete_removes_the_data_objects(glance, make_ctx):
    _meta, cp, image_id = saved_metadata(glance, make_ctx,
                                         os.urandom(2 * MiB + 1))
    ctx, _ = make_ctx(image_id, operation="delete", checkpoint=cp)
    run(image_plugin.DeleteImageData(), ctx)
    assert ctx.bank.list() == ["metadata.json"]
    run(image_plugin.DeleteImageData(), ctx)        # nothing left: fine


def verify_ctx(glance, make_ctx, payload=None):
    meta, cp, image_id = saved_metadata(
        glance, make_ctx, payload or os.urandom(2 * MiB + 1))
    ctx, _ = make_ctx(image_id, operation="verify", metadata=meta,
                      checkpoint=cp)
    return ctx


def test_verify_recomputes_every_hash(glance, make_ctx):
    ctx = verify_ctx(glance, make_ctx)
    with mock.patch.object(ctx.bank, "get", wraps=ctx.bank.get) as get:
        run(image_plugin.VerifyImageData(), ctx)
    assert [c.args[0] for c in get.call_args_list] == [
        "data/00000000", "data/00000001", "data/00000002"]


def test_verify_finds_a_corrupt_object(glance, make_ctx):
    ctx = verify_ctx(glance, make_ctx)
    ctx.bank.put("data/00000001", b"not the data")
    with pytest.raises(image_data.ImageDataMismatch,
                       match="data/00000001: expected"):
        run(image_plugin.VerifyImageData(), ctx)


def test_verify_finds_a_missing_and_an_extra_object(glance, make_ctx):
    ctx = verify_ctx(glance, make_ctx)
    ctx.bank.delete("data/00000002")
    ctx.bank.put("data/00000009", b"stray")
    with pytest.raises(image_data.ImageDataMismatch,
                       match=r"data/00000002: missing \(and 1 more\)"):
        run(image_plugin.VerifyImageData(), ctx)


def test_verify_checks_that_the_objects_add_up_to_the_image(glance,
                                                            make_ctx):
    ctx = verify_ctx(glance, make_ctx)
    ctx.metadata["data"]["size"] += 1
    with pytest.raises(image_data.ImageDataMismatch,
                       match="whole image: the objects hold"):
        run(image_plugin.VerifyImageData(), ctx)


def test_verify_of_an_old_checkpoint_with_a_whole_sha256(glance, make_ctx):
    payload = os.urandom(2 * MiB + 1)
    ctx = verify_ctx(glance, make_ctx, payload)
    schema = image_plugin.ImagePlugin().metadata_schema
    assert "sha256" not in ctx.metadata["data"]
    assert schema_check.problems(schema, ctx.metadata) == []
    ctx.metadata["data"]["sha256"] = sha256(payload)
    assert schema_check.problems(schema, ctx.metadata) == []
    run(image_plugin.VerifyImageData(), ctx)
    ctx.metadata["data"]["sha256"] = "not a hash"
    assert schema_check.problems(schema, ctx.metadata)


# -- whole flows through ProtectionService (real engines, real bank) ----------
@pytest.fixture
def service(tmp_path):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    config.register_component_opts(conf, image_plugin.ImagePlugin)
    conf.set_override("object_size_mib", 1, group="image_data")
    conf.set_override("poll_initial", 0.01, group="timeouts")
    conf.set_override("poll_max", 0.02, group="timeouts")
    return ProtectionService(
        conf, PluginRegistry([image_plugin.ImagePlugin(conf)]),
        FileSystemBank(str(tmp_path / "bank")))


def test_flow_protect_restore_verify_delete(service, glance, conn):
    payload = os.urandom(2 * MiB + 321)
    image_id = glance.add(payload, name="web", hw_disk_bus="scsi",
                          protected=True)
    result = service.protect(conn, "p", [(TYPE, image_id)])
    assert result.ok
    checkpoint = service.show_checkpoint(result.checkpoint_id)
    assert checkpoint.status == "available"
    service.verify(result.checkpoint_id, conn)
    glance.records[image_id]["protected"] = False
    glance.delete_image(image_id)
    restored = service.restore(result.checkpoint_id, conn, parameters={
        TYPE: {"restore_name": "web-restored"}})
    new_id = restored.restored[f"{TYPE}#{image_id}"]
    assert glance.data[new_id] == payload
    record = glance.records[new_id]
    assert (record["name"], record["status"]) == ("web-restored", "active")
    assert record["hw_disk_bus"] == "scsi" and record["protected"] is True
    service.delete(result.checkpoint_id, conn)
    assert service.list_checkpoints() == []


def test_flow_failed_upload_rolls_back_the_new_image(service, glance, conn):
    image_id = glance.add(os.urandom(MiB + 5))
    checkpoint_id = service.protect(conn, "p", [(TYPE, image_id)]) \
        .checkpoint_id
    glance.upload_status = 500
    with pytest.raises(exceptions.OperationFailed) as err:
        service.restore(checkpoint_id, conn)
    result = err.value.result
    assert result.status == "failed" and result.restored == {}
    assert "UploadImageData" in str(err.value)
    assert set(glance.records) == {image_id}      # the new image is gone


def test_flow_keep_policy_leaves_the_image_and_lists_it(service, glance,
                                                        conn):
    image_id = glance.add(os.urandom(1000))
    checkpoint_id = service.protect(conn, "p", [(TYPE, image_id)]) \
        .checkpoint_id
    glance.upload_status = 500
    with pytest.raises(exceptions.OperationFailed) as err:
        service.restore(checkpoint_id, conn, policy=engine.KEEP)
    left = err.value.result.left_behind
    assert list(left) == [f"{TYPE}#{image_id}"]
    assert left[f"{TYPE}#{image_id}"] in glance.records


def test_flow_protect_of_a_queued_image_fails_with_its_status(service,
                                                              glance, conn):
    image_id = glance.add(b"x", status="queued")
    with pytest.raises(exceptions.OperationFailed,
                       match="'queued', not 'active'") as err:
        service.protect(conn, "p", [(TYPE, image_id)])
    checkpoint = service.show_checkpoint(err.value.result.checkpoint_id)
    assert checkpoint.status == "error"


def test_flow_protect_hash_mismatch_leaves_no_data_objects(service, glance,
                                                           conn):
    image_id = glance.add(os.urandom(2 * MiB))
    glance.corrupt_download = True
    with pytest.raises(exceptions.OperationFailed,
                       match="does not match Glance's sha512") as err:
        service.protect(conn, "p", [(TYPE, image_id)])
    checkpoint = service.show_checkpoint(err.value.result.checkpoint_id)
    assert checkpoint.list_objects(f"resources/{TYPE}/") == []


def test_flow_verify_reports_a_damaged_object(service, glance, conn,
                                              tmp_path):
    image_id = glance.add(os.urandom(MiB + 1))
    checkpoint_id = service.protect(conn, "p", [(TYPE, image_id)]) \
        .checkpoint_id
    path = (tmp_path / "bank" / "checkpoints" / checkpoint_id / "resources"
            / TYPE / image_id / "data" / "00000001")
    path.write_bytes(b"X")
    with pytest.raises(exceptions.OperationFailed) as err:
        service.verify(checkpoint_id, conn)
    text = str(err.value) + " ".join(
        str(f) for f in err.value.failures)
    assert "data/00000001" in text


def test_flow_restore_parameters_are_validated_first(service, glance, conn):
    image_id = glance.add(b"abc")
    checkpoint_id = service.protect(conn, "p", [(TYPE, image_id)]) \
        .checkpoint_id
    with pytest.raises(exceptions.InvalidParameter, match="visibility"):
        service.restore(checkpoint_id, conn, parameters={
            TYPE: {"visibility": "everyone"}})
    with pytest.raises(exceptions.InvalidParameter, match="disk_format"):
        service.restore(checkpoint_id, conn, parameters={
            TYPE: {"disk_format": "raw"}})
    assert set(glance.records) == {image_id}


def test_a_sha256_glance_is_checked_with_the_one_sha256_pass(glance,
                                                              make_ctx):
    glance.hash_algo = "sha256"
    payload = os.urandom(3000)
    image_id = glance.add(payload)
    digests = image_data.Digests("sha256", sha256(payload), "x")
    assert digests.hashes() == [digests.sha256]
    assert digests.sha256 is digests.glance
    ctx, _cp = make_ctx(image_id)
    info = run(image_plugin.DescribeImage(), ctx)
    data = run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
    assert data["verified_with"] == "sha256"
    assert data["sha256"] == sha256(payload)           # free: Glance's own
    glance.corrupt_download = True
    with pytest.raises(image_data.ImageDataMismatch, match="sha256"):
        run(image_plugin.SaveImageData(MiB), ctx, image_info=info)
