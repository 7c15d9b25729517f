"""A tampered bank object is refused before restore creates anything.

Protect a small volume into a filesystem bank, flip one byte of its
``metadata.json`` in the bank (a byte inside the volume's description, so
the JSON stays valid and only the hash can tell), then run ``stackvault
restore`` through the CLI: it must exit 1 with one line naming the object,
and the project must have exactly the volumes it had before.
"""

import io
import secrets

from protection.cli import main as cli
from tools.cloudkit.waits import wait_status
from tests.fullstack.service_fixtures import make_service, protect_one
from tools.cloudkit.teardown import delete_volume

VOLUME = "OS::Cinder::Volume"


def _volume_ids(conn, marker):
    """The project's volumes named after this test (others share the
    project, so a sweep of everything would see their volumes come and
    go); a restore names its volume after the original."""
    return {v.id for v in conn.block_storage.volumes()
            if marker in (v.name or "")}


def _flip_byte_in(path, marker):
    """Change one character of ``marker`` inside the file; returns the
    original bytes."""
    original = path.read_bytes()
    at = original.index(marker.encode())
    tampered = bytearray(original)
    tampered[at] ^= 0x01          # 'b' <-> 'c': still valid JSON
    path.write_bytes(bytes(tampered))
    return original


def test_restore_refuses_a_flipped_metadata_byte_and_creates_nothing(
        conn, cleanup, tmp_path, cloud_name):
    bank_dir = tmp_path / "bank"
    service = make_service(bank_dir)
    marker = f"bank-integrity-{secrets.token_hex(4)}"
    volume = conn.block_storage.create_volume(
        size=1, name=f"fullstack-{marker}", description=marker)
    cleanup(delete_volume, conn, volume.id)
    wait_status(lambda: conn.block_storage.get_volume(volume.id),
                "available", what=f"volume {volume.id}")
    checkpoint_id = protect_one(service, conn, cleanup, VOLUME, volume.id)

    metadata = (bank_dir / "checkpoints" / checkpoint_id / "resources" /
                VOLUME / volume.id / "metadata.json")
    original = _flip_byte_in(metadata, marker)
    # Put the object back before the checkpoint (and its backup) is deleted.
    cleanup(metadata.write_bytes, original)

    conf = tmp_path / "stackvault.conf"
    conf.write_text(f"[filesystem_bank]\npath = {bank_dir}\n")
    before = _volume_ids(conn, marker)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--os-cloud", cloud_name, "--config-file", str(conf),
                     "restore", checkpoint_id], out, err)
    after = _volume_ids(conn, marker)

    assert code == 1, err.getvalue()
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"resources/{VOLUME}/{volume.id}/metadata.json: sha256 " \
           "mismatch" in lines[0]
    assert "nothing was restored" in lines[0]
    assert before == {volume.id}
    assert after == before, f"restore created volumes: {after - before}"
