"""The key pair plugin against a real Nova: the same public key comes back.

Each test makes its own uniquely named key pairs from freshly generated
Ed25519 keys (only the public half ever reaches Nova), and checks Nova's
real state: the restored key's public key and fingerprint (computed here
independently, as Nova does: MD5 of the key blob), and after a failed
restore, that what the restore imported is gone and what it reused stays.
"""

import base64
import hashlib
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack import exceptions as sdk_exceptions
from taskflow import task
from taskflow.patterns import linear_flow

from plugins import keypair
from protection import exceptions
from tests.fullstack.service_fixtures import (
    make_service,
    protect_one,
    restore_one,
)
from tools.cloudkit.teardown import delete_keypair

KP = keypair.RESOURCE_TYPE


def new_public_key(comment="fullstack@stackvault"):
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.OpenSSH,
                              serialization.PublicFormat.OpenSSH)
    return f"{raw.decode()} {comment}"


def md5_fingerprint(public_key):
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@pytest.fixture
def service(tmp_path):
    return make_service(tmp_path / "bank")


@pytest.fixture
def new_keypair(conn, cleanup):
    """Factory: a key pair with a unique name, deleted at teardown."""
    def make(public_key=None, name=None):
        name = name or f"fullstack-kp-{secrets.token_hex(4)}"
        created = conn.compute.create_keypair(
            name=name, public_key=public_key or new_public_key(), type="ssh")
        cleanup(delete_keypair, conn, name)
        return created
    return make


def _gone(conn, name):
    try:
        conn.compute.get_keypair(name)
    except sdk_exceptions.NotFoundException:
        return True
    return False


def test_protect_delete_restore_brings_back_the_same_public_key(
        service, conn, cleanup, new_keypair):
    original = new_keypair()
    assert original.fingerprint == md5_fingerprint(original.public_key)
    checkpoint_id = protect_one(service, conn, cleanup, KP, original.name)
    assert service.verify(checkpoint_id, conn).ok
    saved = service.show_checkpoint(checkpoint_id).metadata_of(
        KP, original.name)
    assert saved == {"name": original.name, "type": "ssh",
                     "public_key": original.public_key,
                     "fingerprint": original.fingerprint}
    delete_keypair(conn, original.name)

    new_name = restore_one(service, conn, cleanup, checkpoint_id, KP,
                           original.name, delete_keypair)
    restored = conn.compute.get_keypair(new_name)
    assert restored.name == original.name
    assert restored.type == "ssh"
    assert restored.public_key == original.public_key
    assert restored.fingerprint == original.fingerprint == \
        md5_fingerprint(original.public_key)


def test_a_name_with_spaces_is_protected_and_restored(
        service, conn, cleanup, new_keypair, tmp_path):
    # Nova allows spaces in key pair names, and the name is the id: its
    # section in the bank is the percent-encoded name.
    name = f"fullstack kp {secrets.token_hex(4)}"
    original = new_keypair(name=name)
    assert conn.compute.get_keypair(name).name == name
    checkpoint_id = protect_one(service, conn, cleanup, KP, name)
    assert service.verify(checkpoint_id, conn).ok
    section = (tmp_path / "bank" / "checkpoints" / checkpoint_id /
               "resources" / KP / name.replace(" ", "%20"))
    assert (section / "metadata.json").is_file()
    assert service.show_checkpoint(checkpoint_id).metadata_of(
        KP, name)["public_key"] == original.public_key
    delete_keypair(conn, name)
    assert _gone(conn, name)

    new_name = restore_one(service, conn, cleanup, checkpoint_id, KP,
                           name, delete_keypair)
    assert new_name == name
    restored = conn.compute.get_keypair(name)
    assert restored.public_key == original.public_key
    assert restored.fingerprint == md5_fingerprint(original.public_key)


def test_another_key_under_the_name_fails_and_restore_name_avoids_it(
        service, conn, cleanup, new_keypair):
    original = new_keypair()
    checkpoint_id = protect_one(service, conn, cleanup, KP, original.name)
    delete_keypair(conn, original.name)
    squatter = new_keypair(name=original.name)

    with pytest.raises(exceptions.PreflightFailed,
                       match="already exists with another public key"):
        service.restore(checkpoint_id, conn)
    with pytest.raises(exceptions.OperationFailed,
                       match="already exists with another public key"):
        service.restore(checkpoint_id, conn, skip_preflight=True)
    assert conn.compute.get_keypair(original.name).public_key == \
        squatter.public_key

    copy = f"{original.name}-copy"
    new_name = restore_one(service, conn, cleanup, checkpoint_id, KP,
                           original.name, delete_keypair,
                           {"restore_name": copy})
    assert new_name == copy
    assert conn.compute.get_keypair(copy).fingerprint == \
        original.fingerprint


class FailAfterwards(task.Task):
    def execute(self):
        raise RuntimeError("forced failure after the import")


def test_rollback_deletes_what_it_imported_and_keeps_what_it_reused(
        service, conn, cleanup, new_keypair, monkeypatch):
    kept, dropped = new_keypair(), new_keypair()
    result = service.protect(conn, "fullstack", [(KP, kept.name),
                                                 (KP, dropped.name)])
    cleanup(service.delete, result.checkpoint_id, conn)
    delete_keypair(conn, dropped.name)
    imported = []
    real_create = conn.compute.create_keypair

    def create_keypair(**attrs):
        created = real_create(**attrs)
        imported.append(created.name)
        assert not _gone(conn, created.name)    # really there in Nova
        return created

    monkeypatch.setattr(conn.compute, "create_keypair", create_keypair)
    monkeypatch.setattr(keypair.KeyPairPlugin, "restore_flow",
                        lambda plugin, ctx, resource: linear_flow.Flow(
                            "fail-after-import").add(keypair.ImportKeyPair(),
                                                     FailAfterwards()))
    with pytest.raises(exceptions.OperationFailed, match="forced failure"):
        service.restore(result.checkpoint_id, conn)

    assert imported == [dropped.name]
    assert _gone(conn, dropped.name)
    assert conn.compute.get_keypair(kept.name).public_key == kept.public_key
