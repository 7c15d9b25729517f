"""FileSystemBank: streaming, atomic writes, listing, deleting, escapes."""

import hashlib
import io
import os
import tracemalloc

import mock
import pytest

from protection import exceptions
from protection.bank import base
from protection.bank import filesystem
from protection.bank.filesystem import FileSystemBank

MiB = 1024 * 1024


@pytest.fixture
def bank(tmp_path):
    return FileSystemBank(str(tmp_path / "bank"))


def files_under(path):
    found = []
    for dirpath, _dirs, names in os.walk(path):
        found += [os.path.relpath(os.path.join(dirpath, n), path)
                  for n in names]
    return sorted(found)


def sha(data):
    return hashlib.sha256(data).hexdigest()


# -- put / get ----------------------------------------------------------------
def test_creates_its_directory_private(tmp_path):
    root = tmp_path / "a" / "b"
    bank = FileSystemBank(str(root))
    assert root.is_dir()
    assert bank.root == os.path.realpath(root)
    assert oct(root.stat().st_mode & 0o777) == oct(0o700)
    assert str(root) in bank.describe()


def test_every_folder_and_object_it_writes_is_private(bank):
    # os.makedirs gives only the last folder its mode: the ones between
    # the root and it came out 0755 before (issue #23, item 10).
    old = os.umask(0o022)
    try:
        bank.put("checkpoints/c1/resources/r1/data/0", b"x")
    finally:
        os.umask(old)
    for dirpath, dirs, names in os.walk(bank.root):
        for name in dirs:
            mode = os.stat(os.path.join(dirpath, name)).st_mode & 0o777
            assert mode == 0o700, (name, oct(mode))
        for name in names:
            mode = os.stat(os.path.join(dirpath, name)).st_mode & 0o777
            assert mode == 0o600, (name, oct(mode))


def test_unusable_directory_is_a_bank_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(exceptions.BankError, match="cannot create bank"):
        FileSystemBank(str(blocker / "bank"))


def test_from_config_uses_filesystem_bank_path(tmp_path):
    conf = mock.Mock()
    conf.filesystem_bank.path = str(tmp_path / "cfg-bank")
    bank = FileSystemBank.from_config(conf, connect=object())
    assert bank.root == os.path.realpath(tmp_path / "cfg-bank")


def test_put_bytes_returns_size_and_sha256(bank):
    data = b"hello world" * 1000
    info = bank.put("a/b/c.bin", data)
    assert info == base.ObjectInfo(key="a/b/c.bin", size=len(data),
                                   sha256=sha(data))
    assert bank.get_bytes("a/b/c.bin") == data
    assert os.path.isfile(os.path.join(bank.root, "a", "b", "c.bin"))


def test_put_from_binary_file(bank, tmp_path):
    data = os.urandom(3 * 1024 + 7)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    with open(src, "rb") as handle:
        info = bank.put("obj", handle)
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert bank.get_bytes("obj") == data


def test_put_from_file_like_object(bank):
    info = bank.put("obj", io.BytesIO(b"xyz"))
    assert (info.size, info.sha256) == (3, sha(b"xyz"))


def test_put_from_iterator_skips_empty_chunks(bank):
    chunks = [b"ab", b"", b"cd", bytearray(b"ef")]
    info = bank.put("obj", iter(chunks))
    assert info.size == 6
    assert info.sha256 == sha(b"abcdef")
    assert bank.get_bytes("obj") == b"abcdef"


def test_put_empty_object(bank):
    info = bank.put("empty", b"")
    assert (info.size, info.sha256) == (0, sha(b""))
    assert bank.get_bytes("empty") == b""
    assert list(bank.get("empty")) == []


def test_put_replaces_existing_object(bank):
    bank.put("obj", b"old contents")
    bank.put("obj", b"new")
    assert bank.get_bytes("obj") == b"new"


def test_get_streams_in_chunks(bank):
    data = bytes(range(256)) * 40          # 10240 bytes
    bank.put("obj", data)
    chunks = list(bank.get("obj", chunk_size=4096))
    assert [len(c) for c in chunks] == [4096, 4096, 2048]
    assert b"".join(chunks) == data


def test_get_missing_is_object_not_found_at_call_time(bank):
    with pytest.raises(exceptions.ObjectNotFound) as err:
        bank.get("nope/never")
    assert err.value.key == "nope/never"


def test_get_of_a_directory_is_object_not_found(bank):
    bank.put("dir/obj", b"x")
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get("dir")


def test_sha256_helper_streams_the_object(bank):
    data = os.urandom(10000)
    bank.put("obj", data)
    assert bank.sha256("obj") == (len(data), sha(data))


def test_json_helpers(bank):
    info = bank.put_json("m.json", {"b": [1, 2], "a": "x"})
    assert bank.get_json("m.json") == {"a": "x", "b": [1, 2]}
    assert info.sha256 == sha(bank.get_bytes("m.json"))


def test_exists(bank):
    bank.put("dir/obj", b"x")
    assert bank.exists("dir/obj")
    assert not bank.exists("dir")
    assert not bank.exists("dir/other")


# -- atomicity ----------------------------------------------------------------
class Boom(Exception):
    pass


def failing_after(chunks):
    yield from chunks
    raise Boom("source broke mid-stream")


def test_failed_put_keeps_previous_object_and_leaves_no_temp_file(bank):
    old = b"previous, complete object"
    bank.put("dir/obj", old)
    with pytest.raises(Boom):
        bank.put("dir/obj", failing_after([b"new-part-1", b"new-part-2"]))
    assert bank.get_bytes("dir/obj") == old
    assert files_under(bank.root) == [os.path.join("dir", "obj")]


def test_failed_first_put_leaves_nothing(bank):
    with pytest.raises(Boom):
        bank.put("dir/obj", failing_after([b"part"]))
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get("dir/obj")
    assert files_under(bank.root) == []
    assert bank.list() == []


def test_put_writes_a_temp_file_fsyncs_and_renames(bank):
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append((os.path.basename(src), os.path.dirname(src), dst))
        # The target is not there yet while the temp file is written.
        assert not os.path.exists(dst)
        return real_replace(src, dst)

    with mock.patch("protection.bank.filesystem.os.replace",
                    side_effect=replace), \
            mock.patch("protection.bank.filesystem.os.fsync",
                       wraps=os.fsync) as fsync:
        bank.put("d/obj", b"data")
    (tmp_name, tmp_dir, dst), = seen
    assert tmp_name.startswith(".tmp-")
    assert tmp_dir == os.path.dirname(dst)      # same filesystem: atomic
    assert dst == os.path.join(bank.root, "d", "obj")
    assert fsync.call_count >= 2                # the file and its directory


def test_list_ignores_temp_files_left_by_a_crash(bank):
    bank.put("d/obj", b"x")
    with open(os.path.join(bank.root, "d", ".tmp-crashed"), "wb") as f:
        f.write(b"half")
    assert bank.list() == ["d/obj"]
    assert bank.list("d/") == ["d/obj"]


# -- list --------------------------------------------------------------------
def test_list_by_prefix_only_that_prefix_sorted(bank):
    for key in ["checkpoints/c2/index.json", "checkpoints/c1/index.json",
                "checkpoints/c1/resources/OS::Cinder::Volume/v/data",
                "checkpoints/c10/index.json", "other/c1/index.json",
                "checkpointsX/y", "top"]:
        bank.put(key, b"x")
    assert bank.list("checkpoints/c1/") == [
        "checkpoints/c1/index.json",
        "checkpoints/c1/resources/OS::Cinder::Volume/v/data",
    ]
    # A prefix is a string prefix, not only a directory.
    assert bank.list("checkpoints/c1") == [
        "checkpoints/c1/index.json",
        "checkpoints/c1/resources/OS::Cinder::Volume/v/data",
        "checkpoints/c10/index.json",
    ]
    assert bank.list("checkpoints/") == [
        "checkpoints/c1/index.json",
        "checkpoints/c1/resources/OS::Cinder::Volume/v/data",
        "checkpoints/c10/index.json",
        "checkpoints/c2/index.json",
    ]
    everything = bank.list()
    assert everything == sorted(everything)
    assert len(everything) == 7
    assert bank.list("t") == ["top"]


def test_list_of_missing_prefix_is_empty(bank):
    assert bank.list("nothing/here/") == []


@pytest.mark.parametrize("prefix", ["../", "/etc/", "a/../../"])
def test_list_rejects_escaping_prefixes(bank, prefix):
    with pytest.raises(exceptions.InvalidBankKey):
        bank.list(prefix)


# -- delete -------------------------------------------------------------------
def test_delete_missing_key_is_fine(bank):
    bank.delete("never/was/here")
    bank.put("a/b", b"x")
    bank.delete("a/b")
    bank.delete("a/b")


def test_delete_prunes_empty_directories_but_not_the_root(bank):
    bank.put("a/b/c/one", b"1")
    bank.put("a/two", b"2")
    bank.delete("a/b/c/one")
    assert not os.path.exists(os.path.join(bank.root, "a", "b"))
    assert os.path.isdir(os.path.join(bank.root, "a"))
    assert bank.list() == ["a/two"]
    bank.delete("a/two")
    assert os.listdir(bank.root) == []
    assert os.path.isdir(bank.root)


# -- escapes ------------------------------------------------------------------
@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a/../../x",
                                 "a\\..\\x"])
def test_every_operation_validates_keys(bank, key):
    for call in (lambda: bank.put(key, b"x"), lambda: bank.get(key),
                 lambda: bank.delete(key), lambda: bank.exists(key)):
        with pytest.raises(exceptions.InvalidBankKey):
            call()


def test_symlinked_directory_inside_the_bank_is_refused(bank, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    os.symlink(outside, os.path.join(bank.root, "evil"))
    with pytest.raises(exceptions.InvalidBankKey, match="outside the bank"):
        bank.put("evil/planted", b"x")
    with pytest.raises(exceptions.InvalidBankKey, match="outside the bank"):
        bank.get("evil/secret")
    with pytest.raises(exceptions.InvalidBankKey, match="outside the bank"):
        bank.delete("evil/secret")
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_bytes() == b"not yours"


def test_symlinked_file_inside_the_bank_is_refused(bank, tmp_path):
    outside = tmp_path / "target"
    outside.write_bytes(b"secret")
    os.makedirs(os.path.join(bank.root, "d"))
    os.symlink(outside, os.path.join(bank.root, "d", "link"))
    with pytest.raises(exceptions.InvalidBankKey):
        bank.get("d/link")
    with pytest.raises(exceptions.InvalidBankKey):
        bank.put("d/link", b"overwrite")
    assert outside.read_bytes() == b"secret"


def test_bank_whose_path_is_a_symlink_works(tmp_path):
    # e.g. /var/lib/stackvault -> /srv/big-disk/stackvault
    real = tmp_path / "real-bank"
    real.mkdir()
    link = tmp_path / "bank-link"
    os.symlink(real, link)
    bank = FileSystemBank(str(link))
    bank.put("checkpoints/c1/index.json", b"{}")
    assert bank.list() == ["checkpoints/c1/index.json"]
    assert bank.get_bytes("checkpoints/c1/index.json") == b"{}"
    assert (real / "checkpoints" / "c1" / "index.json").is_file()
    bank.delete("checkpoints/c1/index.json")
    assert bank.list() == []
    assert os.listdir(real) == []


# -- memory ------------------------------------------------------------------
def test_put_of_a_large_generator_does_not_hold_it_in_memory(bank):
    total_chunks = 64                     # 64 MiB in 1 MiB chunks
    expected = hashlib.sha256()

    def source():
        for i in range(total_chunks):
            chunk = bytes([i]) * MiB
            expected.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        info = bank.put("big/object", source())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == total_chunks * MiB
    assert info.sha256 == expected.hexdigest()
    assert peak < 4 * MiB, f"put held {peak / MiB:.1f} MiB"

    tracemalloc.start()
    try:
        reader = base.HashingReader(bank.get("big/object", chunk_size=MiB))
        for _chunk in reader:
            pass
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (reader.size, reader.sha256) == (info.size, info.sha256)
    assert peak < 4 * MiB, f"get held {peak / MiB:.1f} MiB"


def test_listing_removes_old_leftovers_of_crashed_writes(bank):
    bank.put("checkpoints/c1/index.json", b"{}")
    directory = os.path.join(bank.root, "checkpoints", "c1")
    old = os.path.join(directory, ".tmp-crashed")
    fresh = os.path.join(directory, ".tmp-being-written")
    for path in (old, fresh):
        with open(path, "wb") as out:
            out.write(b"partial")
    stale = os.path.getmtime(old) - filesystem.TEMP_MAX_AGE - 1
    os.utime(old, (stale, stale))
    assert bank.list("checkpoints/") == ["checkpoints/c1/index.json"]
    assert not os.path.exists(old)
    assert os.path.exists(fresh)       # a writer may still be at it


def test_an_interrupted_put_leaves_no_temporary_file(bank):
    def chunks():
        yield b"first"
        raise OSError("source went away")
    with pytest.raises(OSError):
        bank.put("checkpoints/c1/data", chunks())
    assert os.listdir(os.path.join(bank.root, "checkpoints", "c1")) == []
