"""Nova key pairs (``OS::Nova::KeyPair``): the example plugin.

What protect saves
    The key pair's name, type, public key and fingerprint, in the bank's
    ``metadata.json``. Nova never shows a private key after creating it, so
    none is ever saved.

What restore creates
    The key pair, imported with the saved public key under its own name or
    ``restore_name``. Nova names key pairs (the resource id IS the name) and
    keeps them per user. A key pair of that name that already holds the
    same public key is reused; one with another key is a clear error.
    Key pairs hold no metadata to mark, but their id is the name restore
    chooses: it is journaled before the import, so a restore killed at
    any point finds the key pair it imported (resume). Nothing proves a
    journaled name is ours, so an abort lists it for the operator
    rather than delete it.

How each creation is undone
    Protect creates nothing in the cloud (its revert drops the metadata).
    Restore: the imported key pair is deleted on revert; a reused one is
    left alone, it was not ours.
"""

from taskflow import task
from taskflow.patterns import linear_flow

from protection import exceptions
from protection.plugin import ProtectionPlugin
from protection.plugin import Resource
from protection.plugin import checks
from protection.plugin import fetch_or_not_found
from protection.plugin import tasks

RESOURCE_TYPE = "OS::Nova::KeyPair"


def key_material(public_key):
    """What identifies a public key: an SSH key's comment does not count."""
    fields = public_key.split()
    return fields if fields[:1] == ["-----BEGIN"] else fields[:2]


# -- protect -----------------------------------------------------------------
class DescribeKeyPair(task.Task):
    """Read what an import needs (Nova shows no private key)."""

    default_provides = "keypair_info"

    def execute(self, conn, resource):
        keypair = conn.compute.get_keypair(resource.id)
        return {"name": keypair.name, "type": keypair.type or "ssh",
                "public_key": keypair.public_key,
                "fingerprint": keypair.fingerprint}


class SaveKeyPairMetadata(tasks.SaveMetadata):
    def execute(self, bank, keypair_info):
        bank.save_metadata(keypair_info)


# -- restore -----------------------------------------------------------------
class ImportKeyPair(tasks.CreatingTask):
    """Import the public key; reuse a key pair that already holds it."""

    kind = "key pair"
    records = True

    def execute(self, ctx, conn, metadata, parameters):
        name = parameters.get("restore_name") or metadata["name"]
        existing = conn.compute.find_keypair(name, ignore_missing=True)
        if existing is None:
            return self._import(ctx, conn, name, metadata)
        if key_material(existing.public_key) != \
                key_material(metadata["public_key"]):
            raise exceptions.StackvaultError(
                f"key pair {name!r} already exists with another public key: "
                "delete it, or restore under another name (restore_name)")
        ctx.progress.step("reuse", f"key pair {name!r} already holds this "
                                   "public key: reusing it")
        ctx.record_new_id(name)
        return None

    def _import(self, ctx, conn, name, metadata):
        # Key pairs carry no metadata to mark, but their id is the name we
        # choose: it is journaled BEFORE the call, so a kill at any point
        # leaves it journaled, and a re-run or abort finds it by the
        # journal (one of that name that is not ours was refused above).
        if ctx.journal is not None:
            ctx.journal.record(self.name, name)
        try:
            keypair = conn.compute.create_keypair(
                name=name, public_key=metadata["public_key"],
                type=metadata["type"])
        except Exception:
            if ctx.journal is not None:     # not made: never delete it
                ctx.journal.forget(self.name)
            raise
        return self.created(ctx, keypair.name)

    def keeps_mark(self, ctx):
        """A key pair carries no mark: one journaled by an operation that
        is resumed or aborted is listed for the operator, not deleted
        (a planted name would delete the user's own key pair)."""
        return False

    def revert(self, ctx, conn, result, **kwargs):
        super().revert(ctx, conn, result, **kwargs)
        ctx.forget_new_id()     # a reused key pair is forgotten, not deleted

    def fetch(self, conn, new_id):
        return conn.compute.get_keypair(new_id)

    def delete(self, conn, new_id):
        conn.compute.delete_keypair(new_id)


# -- the plugin ---------------------------------------------------------------
class KeyPairPlugin(ProtectionPlugin):
    resource_type = RESOURCE_TYPE

    # options_schema stays {}: protect takes no parameters.
    restore_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "restore_name": {"type": "string", "minLength": 1,
                             "maxLength": 255,
                             "description": "import under this name"},
        },
    }
    metadata_schema = {
        "type": "object",
        "required": ["name", "type", "public_key"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "type": {"enum": ["ssh", "x509"]},
            "public_key": {"type": "string", "minLength": 1},
            "fingerprint": {"type": ["string", "null"]},
        },
    }

    @staticmethod
    def _resource(keypair):
        return Resource(RESOURCE_TYPE, keypair.name, keypair.name,
                        {"type": keypair.type or "ssh"})

    def list_resources(self, conn):
        return [self._resource(k) for k in conn.compute.keypairs()]

    def show_resource(self, conn, resource_id):
        return self._resource(fetch_or_not_found(
            conn.compute.get_keypair, resource_id, "key pair"))

    def protect_flow(self, ctx, resource):
        return linear_flow.Flow("protect-keypair").add(
            DescribeKeyPair(),
            SaveKeyPairMetadata(),
        )

    def restore_flow(self, ctx, resource):
        return ImportKeyPair()

    def restore_preflight(self, ctx, resource):
        """The name it is imported under; refused when a key pair of that
        name holds another public key (as ImportKeyPair would)."""
        metadata = ctx.metadata
        name = ctx.parameters.get("restore_name") or metadata["name"]
        existing = ctx.conn.compute.find_keypair(name, ignore_missing=True)
        clash = existing is not None and key_material(
            existing.public_key) != key_material(metadata["public_key"])
        return [checks.Mapping("name", metadata["name"], name),
                checks.Check.of(
                    "key pair name free", not clash,
                    f"key pair {name!r} already exists with another public "
                    "key: delete it, or set restore_name" if clash else
                    "reuses the existing key pair" if existing else
                    "imported as new")]
