"""Editing a checkpoint the way a buggy plugin would have written it.

The bank's hashes protect a checkpoint against tampering, so a test that
wants a plugin-level check (a metadata schema, a consistency check) to be
what catches bad metadata must rewrite the hashes too: the manifest and
the index are saved again, exactly as protect would have.
"""


def resave_metadata(checkpoint, resource, metadata):
    """Replace ``resource``'s metadata.json, hashes and all."""
    checkpoint.section(resource).save_metadata(metadata)
    checkpoint.write_manifest()
    checkpoint.save_index()
