"""Checkpoint format 2: the index records project, user and plan; a
format 1 index (written before) is still read, owned by no project."""

import pytest

from protection import exceptions
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import store as cp
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource

SERVER = Resource("OS::Nova::Server", "srv-1", "web")


@pytest.fixture
def store(tmp_path):
    return cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")))


def _committed(store, tenancy=None):
    graph = ResourceGraph.build([SERVER], lambda r: [])
    checkpoint = store.create({"name": "n"}, graph, tenancy=tenancy)
    checkpoint.section(SERVER).save_metadata({"flavor": "m1.small"})
    checkpoint.commit()
    return checkpoint


def test_a_new_index_is_format_2_with_its_project_user_and_plan(store):
    checkpoint = _committed(store, cp.Tenancy("proj-a", "user-1", "nightly"))
    index = store.bank.get_json(checkpoint.key(cp.INDEX))
    assert index["format_version"] == 2
    assert (index["project_id"], index["user_id"], index["plan_id"]) == \
        ("proj-a", "user-1", "nightly")
    found = store.get(checkpoint.id)
    assert (found.project_id, found.plan_id) == ("proj-a", "nightly")
    assert found.to_summary()["project_id"] == "proj-a"


def test_the_embedded_cli_records_no_project(store):
    found = store.get(_committed(store).id)
    assert found.project_id is None and found.plan_id is None


def test_a_format_1_index_is_still_read_and_owned_by_no_project(store):
    checkpoint = _committed(store, cp.Tenancy("proj-a", "user-1"))
    for key in ("project_id", "user_id", "plan_id"):
        del checkpoint.index[key]
    checkpoint.index["format_version"] = 1
    checkpoint.save_index()           # rewrites index.sha256 too
    found = store.get(checkpoint.id)
    assert found.damage is None
    assert found.status == cp.AVAILABLE
    assert found.project_id is None
    found.require_available()


def test_adopting_gives_a_format_1_checkpoint_a_project(store):
    checkpoint = _committed(store)
    checkpoint.index["format_version"] = 1
    del checkpoint.index["project_id"]
    checkpoint.save_index()
    found = store.get(checkpoint.id)
    found.adopt(cp.Tenancy("proj-a", "manager"))
    again = store.get(checkpoint.id)
    assert again.damage is None
    assert (again.project_id, again.index["format_version"]) == \
        ("proj-a", 2)


def test_a_checkpoint_with_a_project_is_not_adopted_again(store):
    checkpoint = _committed(store, cp.Tenancy("proj-a", "u"))
    with pytest.raises(exceptions.CheckpointBusy, match="already belongs"):
        store.get(checkpoint.id).adopt(cp.Tenancy("proj-b", "v"))


def test_a_protect_in_progress_is_not_adopted(store):
    graph = ResourceGraph.build([SERVER], lambda r: [])
    checkpoint = store.create({"name": "n"}, graph)
    with pytest.raises(exceptions.CheckpointBusy, match="protecting"):
        store.get(checkpoint.id).adopt(cp.Tenancy("proj-a", "u"))
