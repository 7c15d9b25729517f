"""devcloud's root disk files (tools/devcloud_impl/nova_root_disk.py), the
part of its Nova driver that has no Nova import."""

import os
import types
from pathlib import Path
from unittest import mock

import pytest

from tools.devcloud_impl import nova_root_disk

UUID = "6f1c7e2a-0000-4000-8000-000000000001"


def _fetch(data):
    def fetch(path):
        with open(path, "wb") as f:
            f.write(data)
    return fetch


def test_create_writes_the_image_bytes(tmp_path):
    path = nova_root_disk.create(str(tmp_path), UUID, _fetch(b"image"))
    assert path == os.path.join(tmp_path, "devcloud-disks", UUID, "disk")
    assert Path(path).read_bytes() == b"image"
    assert nova_root_disk.existing(str(tmp_path), UUID) == path


def test_create_again_keeps_what_the_guest_wrote(tmp_path):
    path = nova_root_disk.create(str(tmp_path), UUID, _fetch(b"image"))
    Path(path).write_bytes(b"written by the guest")
    fetch = mock.Mock()
    assert nova_root_disk.create(str(tmp_path), UUID, fetch) == path
    fetch.assert_not_called()
    assert Path(path).read_bytes() == b"written by the guest"


def test_failed_fetch_leaves_no_disk(tmp_path):
    def fetch(path):
        Path(path).write_bytes(b"half")
        raise RuntimeError("glance went away")
    with pytest.raises(RuntimeError):
        nova_root_disk.create(str(tmp_path), UUID, fetch)
    assert nova_root_disk.existing(str(tmp_path), UUID) is None
    assert os.listdir(nova_root_disk.disk_dir(str(tmp_path), UUID)) == []


def test_upload_sends_formats_then_the_file(tmp_path):
    path = nova_root_disk.create(str(tmp_path), UUID, _fetch(b"disk bytes"))
    api = mock.Mock()
    sent = []
    api.update.side_effect = lambda ctx, image_id, meta, data: sent.append(
        (image_id, meta, data.read()))
    nova_root_disk.upload(api, "ctx", "img-1", path, ("qcow2", "bare"))
    assert sent == [("img-1", {"disk_format": "qcow2",
                               "container_format": "bare"}, b"disk bytes")]


def test_snapshot_formats_from_image_meta():
    class Meta:
        disk_format = "qcow2"

        def obj_attr_is_set(self, name):
            return name == "disk_format"
    assert nova_root_disk.snapshot_formats(Meta()) == ("qcow2", "bare")
    assert nova_root_disk.snapshot_formats({}) == ("raw", "bare")
    assert nova_root_disk.snapshot_formats(
        types.MappingProxyType({"container_format": "ovf"})) == ("raw", "ovf")


def test_remove(tmp_path):
    nova_root_disk.create(str(tmp_path), UUID, _fetch(b"x"))
    nova_root_disk.remove(str(tmp_path), UUID)
    assert nova_root_disk.existing(str(tmp_path), UUID) is None
    nova_root_disk.remove(str(tmp_path), UUID)      # nothing there: fine
