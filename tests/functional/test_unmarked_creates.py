"""An object that carries no mark (protection.plugin.tasks.UnmarkedTask)
through the real service: a create whose answer never came is neither
deleted blind nor forgotten; the operation lists it for the operator."""

import itertools
import types

import pytest
from openstack import exceptions as sdk_exceptions
from taskflow import task

from protection import exceptions
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import tasks
from protection import testing

SG = "OS::Nova::ServerGroup"


class FakeGroups(testing.FakeCompute):
    """Nova server groups: an id Nova picks, names not unique, no mark."""

    def __init__(self):
        super().__init__()
        self.groups = {"sg-1": "web"}
        self._ids = (f"new-{n}" for n in itertools.count(1))
        self.answer = None      # an exception the next create raises

    def create_server_group(self, name):
        new_id = next(self._ids)
        self.groups[new_id] = name      # made, whatever the answer
        if self.answer is not None:
            raise self.answer
        return types.SimpleNamespace(id=new_id, name=name)

    def get_server_group(self, group_id):
        if group_id not in self.groups:
            raise sdk_exceptions.NotFoundException(group_id)
        return types.SimpleNamespace(id=group_id, name=self.groups[group_id])

    def delete_server_group(self, group_id):
        self.groups.pop(group_id, None)


class Describe(task.Task):
    def execute(self, conn, resource, bank):
        bank.save_metadata(
            {"name": conn.compute.get_server_group(resource.id).name})


class CreateServerGroup(tasks.UnmarkedTask):
    kind = "server group"
    records = True

    def execute(self, ctx, conn, metadata):
        return self.created(
            ctx, conn.compute.create_server_group(name=metadata["name"]).id)

    def describe(self, ctx):
        return f"named {ctx.metadata['name']!r}"

    def fetch(self, conn, new_id):
        return conn.compute.get_server_group(new_id)

    def delete(self, conn, new_id):
        conn.compute.delete_server_group(new_id)


class ServerGroupPlugin(ProtectionPlugin):
    resource_type = SG

    def list_resources(self, conn):
        return []

    def show_resource(self, conn, resource_id):
        group = conn.compute.get_server_group(resource_id)
        return Resource(SG, group.id, group.name)

    def protect_flow(self, ctx, resource):
        return Describe()

    def restore_flow(self, ctx, resource):
        return CreateServerGroup()


@pytest.fixture
def conn():
    return types.SimpleNamespace(compute=FakeGroups())


@pytest.fixture
def service(tmp_path):
    return testing.make_service([ServerGroupPlugin], tmp_path)


def test_a_create_without_an_answer_is_listed_not_deleted(service, conn):
    checkpoint_id = service.protect(conn, "groups", [(SG, "sg-1")]
                                    ).checkpoint_id
    conn.compute.answer = sdk_exceptions.HttpException(
        "gateway timeout", http_status=504)
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, conn)
    result = caught.value.result
    # Nova made it; nothing says it is ours: it stays, and is listed.
    assert conn.compute.groups == {"sg-1": "web", "new-1": "web"}
    [(key, note)] = result.left_behind.items()
    assert key.endswith("/CreateServerGroup" + tasks.CREATING)
    assert note.startswith("server group named 'web' (operation ")
    assert result.warnings == [note]


def test_a_refused_create_leaves_nothing_to_list(service, conn):
    checkpoint_id = service.protect(conn, "groups", [(SG, "sg-1")]
                                    ).checkpoint_id
    conn.compute.answer = sdk_exceptions.HttpException(
        "Quota exceeded for server groups", http_status=403)
    with pytest.raises(exceptions.OperationFailed) as caught:
        service.restore(checkpoint_id, conn)
    assert caught.value.result.left_behind == {}
    assert caught.value.result.warnings == []


def test_a_restore_that_works_has_no_warning(service, conn):
    checkpoint_id = service.protect(conn, "groups", [(SG, "sg-1")]
                                    ).checkpoint_id
    result = service.restore(checkpoint_id, conn)
    assert result.restored == {f"{SG}#sg-1": "new-1"}
    assert result.warnings == []
