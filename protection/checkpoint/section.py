"""One resource's part of a checkpoint: where its objects live in the
bank (:func:`section_prefix`) and the view of it a plugin gets as
``ctx.bank`` (:class:`ResourceSection`)."""

from protection import exceptions
from protection.bank import keys

METADATA = "metadata.json"


def section_prefix(resource):
    """``resources/<type>/<id>/``: where one resource's objects live.

    The one place where a resource's type and id become bank key parts:
    an id with a space, a ``/``, a ``%`` or any other character outside
    ``[A-Za-z0-9._:@=+-]`` (a key pair's id is its name) is
    percent-encoded; an id made only of those characters is kept as it
    is, so earlier checkpoints keep their layout.
    """
    return (f"resources/{keys.encode_part(resource.type)}/"
            f"{keys.encode_part(resource.id)}/")


class ResourceSection:
    """The part of a checkpoint that belongs to one resource.

    This is what a plugin sees as ``ctx.bank``: names are relative to
    ``resources/<type>/<id>/``, and every object put here is hashed into the
    checkpoint's manifest.
    """

    def __init__(self, checkpoint, resource):
        self._checkpoint = checkpoint
        self.resource = resource
        self.prefix = section_prefix(resource)

    def _relative(self, name):
        keys.validate_key(name)
        return self.prefix + name

    def put(self, name, data):
        return self._checkpoint.put_object(self._relative(name), data)

    def get(self, name, **kwargs):
        return self._checkpoint.get_object(self._relative(name), **kwargs)

    def put_json(self, name, obj):
        return self._checkpoint.put_json(self._relative(name), obj)

    def get_json(self, name, verified=False):
        return self._checkpoint.get_json(self._relative(name), verified)

    def delete(self, name):
        self._checkpoint.delete_object(self._relative(name))

    def list(self):
        """Names of this resource's objects (relative to the section)."""
        return [k[len(self.prefix):]
                for k in self._checkpoint.list_objects(self.prefix)]

    def save_metadata(self, metadata):
        return self.put_json(METADATA, metadata)

    def load_metadata(self, verified=False):
        """``metadata.json`` (``{}`` when none); ``verified``: checked
        against the manifest first (:meth:`Checkpoint.get_json`)."""
        try:
            return self.get_json(METADATA, verified)
        except exceptions.ObjectNotFound:
            return {}
        except ValueError as exc:
            raise exceptions.CheckpointDamaged(
                self._checkpoint.id,
                f"{self.prefix}{METADATA}: not valid JSON ({exc})") from None

    def delete_metadata(self):
        """Drop ``metadata.json`` (the revert of saving it)."""
        self.delete(METADATA)
