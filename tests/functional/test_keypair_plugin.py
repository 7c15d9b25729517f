"""The key pair plugin in real TaskFlow engines, with a real bank on disk.

Nova is an in-memory fake (key pairs by name, 404 and 409 like Nova's, a
microversion range: :class:`protection.testing.FakeCompute`);
everything else is the real framework, built by
:func:`protection.testing.make_service`: graph, parameter and
metadata checks, the parallel engine and its rollback.
"""

import time
import types
from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions
from taskflow import task
from taskflow.patterns import linear_flow

from plugins import keypair
from protection import exceptions
from protection.plugin import saved_metadata
from protection import testing
from tests.fakes import bank_edits

KP = keypair.RESOURCE_TYPE
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFunctionalTestKey user@host"


class FakeNova(testing.FakeCompute):
    """``conn.compute`` for key pairs: what the plugin calls, nothing more."""

    def __init__(self, **microversions):
        super().__init__(**microversions)
        self.keypairs_by_name = {}

    def _make(self, name, public_key, type="ssh"):
        return types.SimpleNamespace(name=name, public_key=public_key,
                                     type=type, fingerprint=f"fp-{name}")

    def add(self, name, public_key=KEY):
        self.keypairs_by_name[name] = self._make(name, public_key)

    def keypairs(self):
        return list(self.keypairs_by_name.values())

    def get_keypair(self, name):
        try:
            return self.keypairs_by_name[name]
        except KeyError:
            raise sdk_exceptions.NotFoundException(
                f"Keypair {name} not found") from None

    def find_keypair(self, name, ignore_missing=True):
        return self.keypairs_by_name.get(name)

    def create_keypair(self, name, public_key, type):
        if type != "ssh":       # x509 key pairs came with 2.2
            self.require("2.2", f"key pair type {type!r}")
        if name in self.keypairs_by_name:
            raise sdk_exceptions.ConflictException(f"{name} exists")
        self.keypairs_by_name[name] = self._make(name, public_key, type)
        return self.keypairs_by_name[name]

    def delete_keypair(self, name):
        self.get_keypair(name)
        del self.keypairs_by_name[name]


@pytest.fixture
def nova():
    fake = FakeNova()
    fake.add("deploy")
    fake.add("ci", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCiKey ci@host")
    return fake


@pytest.fixture
def conn(nova):
    return types.SimpleNamespace(compute=nova)


@pytest.fixture
def service(tmp_path):
    return testing.make_service([keypair.KeyPairPlugin], tmp_path)


@pytest.fixture
def checkpoint_id(service, conn):
    return service.protect(conn, "keys", [(KP, "deploy"), (KP, "ci")]
                           ).checkpoint_id


def test_round_trip(service, conn, nova, checkpoint_id):
    saved = dict(nova.keypairs_by_name)
    assert service.verify(checkpoint_id, conn).ok
    nova.keypairs_by_name.clear()
    result = service.restore(checkpoint_id, conn)
    assert result.restored == {f"{KP}#deploy": "deploy", f"{KP}#ci": "ci"}
    assert {n: k.public_key for n, k in nova.keypairs_by_name.items()} == \
        {n: k.public_key for n, k in saved.items()}


def test_existing_same_key_is_reused_and_another_is_imported(
        service, conn, nova, checkpoint_id):
    del nova.keypairs_by_name["ci"]
    deploy = nova.keypairs_by_name["deploy"]
    result = service.restore(checkpoint_id, conn)
    assert result.restored == {f"{KP}#deploy": "deploy", f"{KP}#ci": "ci"}
    assert nova.keypairs_by_name["deploy"] is deploy


def test_a_conflict_is_refused_by_the_preflight_before_any_import(
        service, conn, nova, checkpoint_id):
    del nova.keypairs_by_name["ci"]
    nova.add("deploy", "ssh-ed25519 AAAAanotherkey someone@else")
    with pytest.raises(exceptions.PreflightFailed,
                       match="key pair name free.*another public key"):
        service.restore(checkpoint_id, conn)
    assert set(nova.keypairs_by_name) == {"deploy"}


def test_a_conflict_rolls_back_only_what_the_restore_imported(
        service, conn, nova, checkpoint_id):
    del nova.keypairs_by_name["ci"]
    nova.add("deploy", "ssh-ed25519 AAAAanotherkey someone@else")
    with pytest.raises(exceptions.OperationFailed,
                       match="another public key") as caught:
        service.restore(checkpoint_id, conn, skip_preflight=True)
    assert caught.value.result.restored == {}
    assert set(nova.keypairs_by_name) == {"deploy"}
    assert nova.keypairs_by_name["deploy"].public_key.startswith(
        "ssh-ed25519 AAAAanotherkey")


def test_restore_name_avoids_the_conflict(service, conn, nova,
                                          checkpoint_id):
    nova.add("deploy", "ssh-ed25519 AAAAanotherkey someone@else")
    result = service.restore(checkpoint_id, conn, {
        f"{KP}#deploy": {"restore_name": "deploy-restored"}})
    assert result.restored[f"{KP}#deploy"] == "deploy-restored"
    assert nova.keypairs_by_name["deploy-restored"].public_key == KEY


class FailAfterwards(task.Task):
    """A step after the import that fails: the import must be undone."""

    def execute(self):
        raise RuntimeError("forced failure after the import")


def with_failure_afterwards(plugin, ctx, resource):
    return linear_flow.Flow("fail-after-import").add(
        keypair.ImportKeyPair(), FailAfterwards())


def test_failure_after_the_import_deletes_it_and_keeps_a_reused_one(
        service, conn, nova, checkpoint_id):
    del nova.keypairs_by_name["ci"]
    deploy = nova.keypairs_by_name["deploy"]
    created = []
    real_create = nova.create_keypair
    nova.create_keypair = lambda **kw: created.append(kw["name"]) or \
        real_create(**kw)
    with mock.patch.object(keypair.KeyPairPlugin, "restore_flow",
                           with_failure_afterwards):
        with pytest.raises(exceptions.OperationFailed,
                           match="forced failure") as caught:
            service.restore(checkpoint_id, conn)
    assert created == ["ci"]                # imported, then rolled back
    assert caught.value.result.restored == {}
    assert nova.keypairs_by_name == {"deploy": deploy}


def test_a_delete_that_never_finishes_fails_the_rollback_in_seconds(
        service, conn, nova, checkpoint_id):
    # Nova accepts the delete and the key pair stays: the rollback waits
    # for it to go, bounded by make_service's short status_wait, not by
    # the production default of 600 s.
    del nova.keypairs_by_name["ci"]
    nova.delete_keypair = lambda name: None
    started = time.monotonic()
    with mock.patch.object(keypair.KeyPairPlugin, "restore_flow",
                           with_failure_afterwards):
        with pytest.raises(exceptions.OperationFailed) as caught:
            service.restore(checkpoint_id, conn)
    assert time.monotonic() - started < 15
    assert service.timeouts.status_wait == \
        testing.TEST_TIMEOUTS["status_wait"]
    rollback = [str(f) for f in caught.value.result.rollback_failures]
    assert any("key pair ci was not deleted within 3s" in f
               for f in rollback), rollback
    # What the rollback could not delete is listed for the operator.
    assert caught.value.result.left_behind == {
        f"{KP}#ci/ImportKeyPair": "ci"}


def test_an_older_nova_refuses_an_x509_key_pair(tmp_path, conn, nova):
    # Nova before 2.2 knows ssh key pairs only: the fake answers as it
    # would, through openstacksdk's own microversion check.
    older = FakeNova(max_microversion="2.1")
    assert not older.supports("2.2") and nova.supports("2.2")
    with pytest.raises(sdk_exceptions.BadRequestException,
                       match="needs compute API 2.2.*cloud: 2.1 to 2.1"):
        older.create_keypair(name="cert", public_key="-----BEGIN x",
                             type="x509")
    assert nova.create_keypair(name="cert", public_key="-----BEGIN x",
                               type="x509").type == "x509"


def test_restore_refuses_metadata_that_breaks_the_schema(
        service, conn, nova, checkpoint_id):
    checkpoint = service.checkpoints.get(checkpoint_id)
    bank_edits.resave_metadata(
        checkpoint, checkpoint.graph.resource((KP, "ci")),
        {"name": "ci", "type": "ssh"})
    nova.keypairs_by_name.clear()
    with pytest.raises(saved_metadata.InvalidMetadata,
                       match="'public_key' is a required property"):
        service.restore(checkpoint_id, conn)
    assert nova.keypairs_by_name == {}


def test_protect_takes_no_parameters(service, conn):
    with pytest.raises(exceptions.InvalidParameter, match="no parameters"):
        service.protect(conn, "keys", [(KP, "deploy")],
                        {KP: {"backup_mode": "full"}})


def test_a_name_with_a_space_is_protected_restored_and_deleted(
        service, conn, nova, tmp_path):
    # A key pair's id is its name; Nova allows spaces in it. Its section
    # in the bank is the percent-encoded name.
    nova.add("my key", "ssh-ed25519 AAAAspacedname user@host")
    checkpoint_id = service.protect(
        conn, "keys", [(KP, "my key"), (KP, "deploy")]).checkpoint_id
    section = (tmp_path / "bank" / "checkpoints" / checkpoint_id /
               "resources" / KP)
    assert sorted(p.name for p in section.iterdir()) == ["deploy",
                                                         "my%20key"]
    assert (section / "deploy" / "metadata.json").is_file()   # as before
    assert service.verify(checkpoint_id, conn).ok

    saved = nova.keypairs_by_name.pop("my key")
    result = service.restore(checkpoint_id, conn)
    assert result.restored[f"{KP}#my key"] == "my key"
    assert nova.keypairs_by_name["my key"].public_key == saved.public_key

    result = service.restore(checkpoint_id, conn, {
        f"{KP}#my key": {"restore_name": "my key 2"}})
    assert result.restored[f"{KP}#my key"] == "my key 2"
    assert nova.keypairs_by_name["my key 2"].public_key == saved.public_key

    service.delete(checkpoint_id, conn)
    assert not (tmp_path / "bank" / "checkpoints" / checkpoint_id /
                "index.json").exists()
    assert service.bank.list(f"checkpoints/{checkpoint_id}/") == []
