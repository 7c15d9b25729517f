"""Skipping a fullstack test that needs devcloud itself, not just a cloud:
reading and writing a volume's bytes as a guest sees them is possible only
there (``tools/cloudkit/volume_bytes.py``)."""

import pytest


def require_devcloud():
    """Skip the calling test (one line, with the reason) unless volume
    bytes can be read and written: only on devcloud."""
    from tools.cloudkit import volume_bytes as devcloud_volume

    try:
        devcloud_volume.require()
    except devcloud_volume.NotDevcloud as exc:
        pytest.skip(f"byte checks need devcloud: {exc}")
