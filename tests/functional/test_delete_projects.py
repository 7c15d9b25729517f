"""A delete through a connection to another project than the
checkpoint's fails with the reason, and leaves the checkpoint and what it
stored in the cloud as they were (issue #22 item 3: counting what it
cannot see as already gone orphaned project A's backup)."""

import pytest

from protection import exceptions
from protection.checkpoint import store as cp
from tests.fakes import fake_cloud
from tests.fakes.fake_cloud import ROOTS


@pytest.fixture
def project_a_checkpoint(service, cloud):
    cloud.current_project_id = "proj-a"
    return service.protect(cloud, "app", ROOTS,
                           tenancy=cp.Tenancy("proj-a", "user-a")
                           ).checkpoint_id


@pytest.mark.parametrize("project", ["proj-b", None])
def test_another_projects_delete_fails_and_changes_nothing(
        service, cloud, project_a_checkpoint, project):
    other = fake_cloud.app_cloud()
    other.current_project_id = project
    with pytest.raises(exceptions.CheckpointOfAnotherProject) as refused:
        service.delete(project_a_checkpoint, other)
    assert "belongs to project proj-a" in str(refused.value)
    assert "orphan" in str(refused.value)
    assert [what for what, _ in other.log] == []
    assert [what for what, _ in cloud.log if what == "delete"] == []
    found = service.show_checkpoint(project_a_checkpoint)
    assert found.status == cp.AVAILABLE and found.owner is None
    assert [op.kind for op in service.list_operations()] == ["protect"]


def test_the_owning_project_deletes_it(service, cloud, project_a_checkpoint):
    service.delete(project_a_checkpoint, cloud)
    assert service.list_checkpoints() == []
    assert {rid for what, rid in cloud.log if what == "delete"} == \
        {"web", "db", "vol-web", "vol-db", "net", "img"}


def test_a_checkpoint_without_a_project_is_deleted_by_any_connection(
        service, cloud, checkpoint_id):
    other = fake_cloud.app_cloud()
    other.current_project_id = "proj-b"
    service.delete(checkpoint_id, other)
    assert service.list_checkpoints() == []
