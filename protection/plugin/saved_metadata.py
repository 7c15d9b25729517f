"""Checking what a plugin saved (``metadata.json``) against its schema.

Every plugin declares ``metadata_schema``, the JSON Schema of the
``metadata.json`` its protect writes. The framework checks each resource's
metadata against it on ``checkpoint verify`` and before a restore creates
anything, so a plugin's restore tasks can read the keys they need without
checking the shape themselves.
"""

import jsonschema

from protection import exceptions


class InvalidMetadata(exceptions.StackvaultError):
    """A resource's saved metadata is not what its plugin can read."""


def problems(schema, metadata):
    """Every way ``metadata`` breaks ``schema``, one line each."""
    if not schema:
        return []
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(metadata),
                        key=lambda e: list(map(str, e.path))):
        where = "/".join(str(p) for p in error.path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found


def check(plugin, resource, metadata):
    """Raise InvalidMetadata naming the resource and the first problem."""
    found = problems(plugin.metadata_schema, metadata)
    if not metadata and plugin.metadata_schema:
        found = ["metadata.json is missing or empty"]
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidMetadata(
            f"{resource}: the checkpoint's metadata.json is not what the "
            f"{resource.type} plugin reads: {found[0]}{more}")
