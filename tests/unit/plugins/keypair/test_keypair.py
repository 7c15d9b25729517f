"""Unit tests of the Nova key pair plugin (mocked openstacksdk)."""

from unittest import mock

import pytest
from openstack import exceptions as sdk_exceptions

from plugins import keypair
from protection import exceptions
from protection import loader
from protection.plugin import saved_metadata
from protection.plugin.registry import PluginRegistry
from protection.model.resource import Resource
from tests.fakes.plugin_helpers import gone_once_deleted, make_ctx, obj

KP = Resource(keypair.RESOURCE_TYPE, "deploy", "deploy")
NOT_FOUND = sdk_exceptions.NotFoundException("not found")
PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0bq0key deploy@laptop"
METADATA = {"name": "deploy", "type": "ssh", "public_key": PUBLIC,
            "fingerprint": "aa:bb"}


def _keypair(**overrides):
    attrs = dict(name="deploy", type="ssh", public_key=PUBLIC,
                 fingerprint="aa:bb", private_key=None)
    attrs.update(overrides)
    return obj(**attrs)


@pytest.fixture
def conn():
    return mock.Mock()


def _restore_ctx(conn, parameters=None):
    return make_ctx(KP, conn, operation="restore", metadata=METADATA,
                    parameters=parameters)


class TestDiscovery:
    def test_list_names_every_key_pair_by_name(self, conn):
        conn.compute.keypairs.return_value = [
            _keypair(), _keypair(name="ci", type="x509")]
        found = keypair.KeyPairPlugin().list_resources(conn)
        assert [(r.type, r.id, r.name) for r in found] == [
            (keypair.RESOURCE_TYPE, "deploy", "deploy"),
            (keypair.RESOURCE_TYPE, "ci", "ci")]
        assert found[1].extra == {"type": "x509"}

    def test_show(self, conn):
        conn.compute.get_keypair.return_value = _keypair()
        assert keypair.KeyPairPlugin().show_resource(conn, "deploy") == KP
        conn.compute.get_keypair.assert_called_once_with("deploy")

    def test_show_missing_is_resource_not_found(self, conn):
        conn.compute.get_keypair.side_effect = NOT_FOUND
        with pytest.raises(exceptions.ResourceNotFound,
                           match="key pair nope not found"):
            keypair.KeyPairPlugin().show_resource(conn, "nope")

    def test_the_plugin_meets_the_contract(self):
        registry = PluginRegistry([keypair.KeyPairPlugin()])
        assert registry.types() == [keypair.RESOURCE_TYPE]

    def test_registered_as_an_entry_point(self):
        found = loader.load_all(loader.PLUGINS)
        assert found["keypair"] is keypair.KeyPairPlugin


class TestProtect:
    def test_saves_the_public_key_never_a_private_one(self, conn):
        conn.compute.get_keypair.return_value = _keypair(
            private_key="-----BEGIN OPENSSH PRIVATE KEY----- secret")
        info = keypair.DescribeKeyPair().execute(conn, KP)
        assert info == METADATA
        bank = mock.Mock()
        keypair.SaveKeyPairMetadata().execute(bank, info)
        bank.save_metadata.assert_called_once_with(METADATA)
        assert "secret" not in repr(bank.save_metadata.call_args)

    def test_an_old_nova_without_types_means_ssh(self, conn):
        conn.compute.get_keypair.return_value = _keypair(type=None)
        assert keypair.DescribeKeyPair().execute(conn, KP)["type"] == "ssh"

    def test_revert_drops_the_metadata(self):
        bank = mock.Mock()
        keypair.SaveKeyPairMetadata().revert(bank)
        bank.delete_metadata.assert_called_once_with()

    def test_what_protect_saves_passes_the_metadata_schema(self):
        assert saved_metadata.problems(
            keypair.KeyPairPlugin.metadata_schema, METADATA) == []

    @pytest.mark.parametrize("broken", [
        {"name": "deploy", "type": "ssh"},
        dict(METADATA, type="rsa"),
        dict(METADATA, public_key=""),
    ])
    def test_the_schema_refuses_what_restore_cannot_import(self, broken):
        assert saved_metadata.problems(
            keypair.KeyPairPlugin.metadata_schema, broken)


class TestImportKeyPair:
    def test_imports_the_saved_public_key_and_records_it(self, conn):
        conn.compute.find_keypair.return_value = None
        conn.compute.create_keypair.return_value = _keypair()
        ctx = _restore_ctx(conn)
        assert keypair.ImportKeyPair().execute(
            ctx, conn, METADATA, {}) == "deploy"
        conn.compute.create_keypair.assert_called_once_with(
            name="deploy", public_key=PUBLIC, type="ssh")
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") == "deploy"

    def test_restore_name(self, conn):
        conn.compute.find_keypair.return_value = None
        conn.compute.create_keypair.return_value = _keypair(name="copy")
        ctx = _restore_ctx(conn, {"restore_name": "copy"})
        assert keypair.ImportKeyPair().execute(
            ctx, conn, METADATA, {"restore_name": "copy"}) == "copy"
        conn.compute.find_keypair.assert_called_once_with(
            "copy", ignore_missing=True)
        assert conn.compute.create_keypair.call_args.kwargs["name"] == "copy"
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") == "copy"

    def test_same_key_already_there_is_reused_not_created(self, conn):
        # Same key, another comment and trailing newline: the same key.
        conn.compute.find_keypair.return_value = _keypair(
            public_key=PUBLIC.rsplit(" ", 1)[0] + " someone@else\n")
        events = []
        ctx = make_ctx(KP, conn, operation="restore", events=events)
        assert keypair.ImportKeyPair().execute(
            ctx, conn, METADATA, {}) is None
        conn.compute.create_keypair.assert_not_called()
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") == "deploy"
        assert "reusing it" in events[-1].message

    def test_another_key_under_that_name_is_a_clear_error(self, conn):
        conn.compute.find_keypair.return_value = _keypair(
            public_key="ssh-ed25519 AAAAotherkey deploy@laptop")
        ctx = _restore_ctx(conn)
        with pytest.raises(exceptions.StackvaultError,
                           match="'deploy' already exists with another "
                                 "public key.*restore_name"):
            keypair.ImportKeyPair().execute(ctx, conn, METADATA, {})
        conn.compute.create_keypair.assert_not_called()
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") is None

    def test_x509_certificates_compare_whole(self):
        cert = "-----BEGIN CERTIFICATE-----\nMIIB{}\n-----END CERTIFICATE-----"
        assert keypair.key_material(cert.format("a")) == \
            keypair.key_material(cert.format("a") + "\n")
        assert keypair.key_material(cert.format("a")) != \
            keypair.key_material(cert.format("b"))

    def test_revert_deletes_what_it_imported_and_forgets_it(self, conn):
        deleted = gone_once_deleted(conn.compute.get_keypair,
                                    conn.compute.delete_keypair, _keypair())
        ctx = _restore_ctx(conn)
        ctx.record_new_id("deploy")
        keypair.ImportKeyPair().revert(ctx, conn, "deploy")
        assert deleted == ["deploy"]
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") is None

    def test_revert_of_a_reused_key_pair_forgets_but_keeps_it(self, conn):
        ctx = _restore_ctx(conn)
        ctx.record_new_id("deploy")
        keypair.ImportKeyPair().revert(ctx, conn, None)
        conn.compute.delete_keypair.assert_not_called()
        assert ctx.restored.get(keypair.RESOURCE_TYPE, "deploy") is None

    def test_revert_of_a_failed_import_deletes_nothing(self, conn):
        ctx = _restore_ctx(conn)
        keypair.ImportKeyPair().revert(ctx, conn, mock.Mock())
        conn.compute.delete_keypair.assert_not_called()


def test_flows(conn):
    plugin = keypair.KeyPairPlugin()
    protect = plugin.protect_flow(None, KP)
    assert [type(t) for t in protect] == [keypair.DescribeKeyPair,
                                          keypair.SaveKeyPairMetadata]
    assert isinstance(plugin.restore_flow(None, KP), keypair.ImportKeyPair)
    assert plugin.delete_flow(None, KP) is None
    assert plugin.verify_flow(None, KP) is None
