"""SwiftBank against an in-memory object store shaped like openstacksdk's.

``FakeObjectStore`` (tests/fakes/fake_swift.py) stands in for
``conn.object_store``: the calls the bank makes, with Swift's behaviour
where the bank depends on it. The bank contract tests at the end run on
FileSystemBank too.
"""

import hashlib
import io
import os
import threading
import tracemalloc
import types

import mock
import pytest
import requests
from openstack import exceptions as sdk_exceptions
from requests import exceptions as requests_exceptions
from oslo_config import cfg

from protection import bank as bank_mod
from protection import config
from protection import exceptions
from protection.bank import base
from protection.bank.filesystem import FileSystemBank
from protection.bank.swift import SwiftBank
from tests.fakes.fake_swift import FakeObjectStore
from tests.fakes.fake_swift import http_error

MiB = 1024 * 1024


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store():
    return FakeObjectStore()


@pytest.fixture
def conn(store):
    return types.SimpleNamespace(object_store=store)


@pytest.fixture
def bank(conn):
    return SwiftBank(conn, container="sv", segment_size=4 * MiB,
                     page_size=3)


# -- configuration and loading ------------------------------------------------
def test_loaded_by_name_with_the_clis_connect(conn):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    conf.set_override("backend", "swift", group="bank")
    asked = []

    def connect(name):
        asked.append(name)
        return conn

    bank = bank_mod.load(conf, connect=connect)
    assert isinstance(bank, SwiftBank)
    assert asked == [None]                      # the CLI's own cloud
    assert bank.container == "stackvault"
    assert bank.segment_container == "stackvault_segments"
    assert bank.segment_size == 1024 * MiB
    assert bank.page_size == 1000


def test_from_config_names_its_own_cloud_and_container(conn):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    config.register_component_opts(conf, SwiftBank)
    conf.set_override("cloud", "backup-cloud", group="swift_bank")
    conf.set_override("container", "vault", group="swift_bank")
    conf.set_override("segment_size_mb", 8, group="swift_bank")
    conf.set_override("listing_page_size", 50, group="swift_bank")
    conf.set_override("segment_concurrency", 2, group="swift_bank")
    connect = mock.Mock(return_value=conn)
    bank = SwiftBank.from_config(conf, connect=connect)
    connect.assert_called_once_with("backup-cloud")
    assert (bank.container, bank.segment_size, bank.page_size,
            bank.segment_concurrency) == ("vault", 8 * MiB, 50, 2)


def test_from_config_without_connect_uses_clouds_yaml(conn):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    config.register_component_opts(conf, SwiftBank)
    with mock.patch("protection.cloud.connect",
                    return_value=conn) as connect:
        SwiftBank.from_config(conf)
    connect.assert_called_once_with(None, request_timeout=60.0)


@pytest.mark.parametrize("container", ["a/b", "", "..", "x y"])
def test_bad_container_names_are_refused(conn, container):
    with pytest.raises(exceptions.StackvaultError):
        SwiftBank(conn, container=container)


def test_describe_names_container_and_endpoint_only(bank):
    text = bank.describe()
    assert text == ("swift bank: container sv at "
                    "http://swift.test/v1/AUTH_p1")


def test_describe_never_fails(conn):
    conn.object_store = mock.Mock()
    conn.object_store.get_endpoint.side_effect = RuntimeError("no catalog")
    assert "container stackvault" in SwiftBank(conn).describe()


# -- put / get ----------------------------------------------------------------
def test_put_creates_the_container_once(bank, store):
    bank.put("a", b"1")
    bank.put("b", b"2")
    assert set(store.containers) == {"sv"}
    with mock.patch.object(store, "create_container") as create:
        bank.put("c", b"3")
    create.assert_not_called()


@pytest.mark.parametrize("kind", ["bytes", "file", "iterable"])
def test_put_returns_size_and_sha256(bank, store, kind):
    data = os.urandom(3 * MiB + 17)
    source = {"bytes": data, "file": io.BytesIO(data),
              "iterable": iter([data[:MiB], data[MiB:]])}[kind]
    info = bank.put("checkpoints/x/obj", source)
    assert info == base.ObjectInfo("checkpoints/x/obj", len(data), sha(data),
                                   "etag:" + hashlib.md5(data).hexdigest())
    assert store.containers["sv"]["checkpoints/x/obj"] == data
    assert b"".join(bank.get("checkpoints/x/obj")) == data


def test_put_streams_as_one_single_pass_body(bank, store):
    with mock.patch.object(store, "create_object",
                           wraps=store.create_object) as create:
        bank.put("k", iter([b"ab", b"cd"]))
    body = create.call_args.kwargs["data"]
    assert not isinstance(body, (bytes, bytearray))
    assert create.call_args.args == ("sv", "k")


def test_put_a_retried_body_fails_instead_of_storing_a_part(bank, store):
    store.replay_body = True
    with pytest.raises(Exception, match="sent once already"):
        bank.put("k", iter([b"ab", b"cd"]))
    assert "k" not in store.containers["sv"]


def test_put_source_error_is_raised_as_itself(bank, store):
    failure = OSError(5, "Input/output error")

    def source():
        yield b"ab"
        raise failure

    with pytest.raises(OSError) as err:
        bank.put("k", source())
    assert err.value is failure
    assert "k" not in store.containers["sv"]


def test_put_cloud_error_is_one_line_bank_error(bank, store):
    bank.put("first", b"x")
    store.fail_put_after = 1
    with pytest.raises(exceptions.BankError) as err:
        bank.put("k", b"data")
    message = str(err.value)
    assert "'k'" in message and "container sv" in message
    assert "HTTP 503" in message and "proxy overloaded" in message
    assert "\n" not in message


def test_no_object_store_service_is_a_clear_error(conn):
    conn.object_store = mock.Mock()
    conn.object_store.create_container.side_effect = \
        sdk_exceptions.EndpointNotFound("object-store")
    conn.object_store.get_container_metadata.side_effect = \
        sdk_exceptions.EndpointNotFound("object-store")
    with pytest.raises(exceptions.BankError, match="no object-store"):
        SwiftBank(conn).put("k", b"x")


def test_stream_of_unknown_length_over_swifts_limit_is_refused(bank, store):
    store.max_file_size = 10

    def source():
        yield b"x" * 6
        yield b"y" * 6

    with pytest.raises(exceptions.BankError,
                       match="must fit in one Swift object .10 bytes.; "
                             "nothing was stored"):
        bank.put("k", source())
    assert "k" not in store.containers["sv"]
    assert bank.put("small", b"z" * 10).size == 10


def test_swifts_limit_is_asked_once_with_a_default(conn, store):
    bank = SwiftBank(conn)
    with mock.patch.object(store, "get_info",
                           wraps=store.get_info) as info:
        bank.put("a", b"1")
        bank.put("b", b"2")
    assert info.call_count == 1
    broken = SwiftBank(conn)
    with mock.patch.object(store, "get_info", side_effect=RuntimeError):
        assert broken.max_object_size() == 5 * 1024 * MiB + 2


def test_get_missing_is_object_not_found(bank, store):
    store.create_container("sv")
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get("nope")


def test_get_of_an_empty_bank_is_object_not_found(bank):
    with pytest.raises(exceptions.ObjectNotFound):
        bank.get("nope")


def test_get_streams_in_the_asked_chunk_size(bank):
    bank.put("k", b"x" * 10)
    assert [len(c) for c in bank.get("k", chunk_size=4)] == [4, 4, 2]


def test_get_closes_the_stream_when_abandoned(bank, store):
    bank.put("k", b"x" * 10)
    closed = []

    def chunks():
        try:
            yield b"x"
            yield b"y"
        finally:
            closed.append(True)

    with mock.patch.object(store, "stream_object", return_value=chunks()):
        it = bank.get("k")
        next(it)
        it.close()
    assert closed == [True]


def test_a_body_cut_short_is_a_bank_error_naming_the_object(bank, store):
    bank.put("cut", b"x" * 10)

    def chunks():
        yield b"x" * 4
        raise requests_exceptions.ChunkedEncodingError("connection broken")

    with mock.patch.object(store, "stream_object", return_value=chunks()):
        got = bank.get("cut", chunk_size=4)
        assert next(got) == b"xxxx"
        with pytest.raises(exceptions.BankError,
                           match="reading 'cut' in container .* was cut "
                                 "short: connection broken"):
            next(got)


def test_put_memory_is_constant(bank):
    def source():
        block = b"\1" * MiB
        for _ in range(32):
            yield block

    class Sink(FakeObjectStore):
        def create_object(self, container, name, data=None, **headers):
            for _ in data:
                pass
            return types.SimpleNamespace(etag=None)

    sink = Sink()
    sink.create_container("sv")
    streaming_bank = SwiftBank(types.SimpleNamespace(object_store=sink),
                               container="sv")
    tracemalloc.start()
    try:
        info = streaming_bank.put("big", source())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == 32 * MiB
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"


# -- large objects (SLO) ------------------------------------------------------
def test_large_known_size_data_becomes_an_slo(bank, store):
    data = os.urandom(9 * MiB + 5)
    info = bank.put("ckpt/big", io.BytesIO(data))
    assert (info.key, info.size, info.sha256) == ("ckpt/big", len(data),
                                                  sha(data))
    segments = sorted(store.containers["sv_segments"])
    assert len(segments) == 3
    assert all(s.startswith("ckpt/big/") for s in segments)
    assert [len(store.containers["sv_segments"][s]) for s in segments] == [
        4 * MiB, 4 * MiB, MiB + 5]
    assert b"".join(bank.get("ckpt/big")) == data
    assert bank.list("ckpt/") == ["ckpt/big"]        # segments not listed
    bank.delete("ckpt/big")
    assert store.containers["sv_segments"] == {}
    assert bank.list() == []


def test_segments_upload_concurrently(conn, store):
    bank = SwiftBank(conn, container="sv", segment_size=MiB,
                     segment_concurrency=3)
    # The first three segment PUTs meet at a barrier: only possible when
    # they run at once.
    barrier = threading.Barrier(3, timeout=10)
    real_create = store.create_object

    def create_object(container, name, data=None, **headers):
        if container == "sv_segments" and name.endswith(("0", "1", "2")):
            barrier.wait()
        return real_create(container, name, data=data, **headers)

    data = os.urandom(5 * MiB + 1)
    with mock.patch.object(store, "create_object",
                           side_effect=create_object):
        info = bank.put("big", io.BytesIO(data))
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert b"".join(bank.get("big")) == data       # segments in order
    assert len(store.containers["sv_segments"]) == 6


def test_an_slo_is_hashed_once_whole_not_per_segment(bank, store):
    with mock.patch.object(base, "HashingReader",
                           wraps=base.HashingReader) as hashing:
        bank.put("big", io.BytesIO(os.urandom(9 * MiB)))
    assert hashing.call_count == 1          # segments: Swift's md5 ETags


def test_small_and_unknown_length_data_is_one_object(bank, store):
    bank.put("a", b"x" * (4 * MiB))                  # at the limit
    bank.put("b", iter([b"y" * (5 * MiB)]))          # unknown length
    assert "sv_segments" not in store.containers
    assert "a" not in store.manifests and "b" not in store.manifests


def test_failed_segment_upload_removes_the_uploaded_segments(bank, store):
    store.fail_put_after = 2                        # third PUT fails
    with pytest.raises(exceptions.BankError, match="HTTP 503"):
        bank.put("big", io.BytesIO(os.urandom(9 * MiB)))
    assert store.containers["sv_segments"] == {}
    assert "big" not in store.containers["sv"]


def test_overwriting_an_slo_deletes_its_old_segments(bank, store):
    bank.put("big", io.BytesIO(os.urandom(9 * MiB)))
    bank.put("big", io.BytesIO(os.urandom(5 * MiB)))
    segments = store.containers["sv_segments"]
    assert len(segments) == 2
    bank.put("big", b"small now")
    assert store.containers["sv_segments"] == {}
    assert b"".join(bank.get("big")) == b"small now"


def test_segments_are_not_looked_up_when_there_are_none(conn, store):
    bank = SwiftBank(conn, container="sv", page_size=3)
    bank.put("a", b"1")
    bank.put("b", b"2")
    assert all(c == "sv" for c, _q in store.list_requests)


# -- fingerprints -------------------------------------------------------------
def test_fingerprints_are_what_put_returned(bank, store):
    small, big = os.urandom(100), os.urandom(9 * MiB + 5)
    infos = [bank.put("c/small", small), bank.put("c/big", io.BytesIO(big)),
             bank.put("c/empty", b""), bank.put("d/other", b"x")]
    assert infos[0].fingerprint == "etag:" + hashlib.md5(small).hexdigest()
    # An SLO's is the md5 of its segments' ETags, never its manifest's md5.
    etags = "".join(hashlib.md5(big[i:i + 4 * MiB]).hexdigest()
                    for i in range(0, len(big), 4 * MiB))
    assert infos[1].fingerprint == \
        "slo:" + hashlib.md5(etags.encode()).hexdigest()
    store.list_requests.clear()
    listed = bank.fingerprints("c/")
    assert listed == {info.key: base.Listed(info.size, info.fingerprint)
                      for info in infos[:3]}
    assert len(store.list_requests) == 2           # paged like list()


def test_fingerprint_changes_with_the_content(bank):
    before = bank.put("k", b"one").fingerprint
    bank.put("k", b"two")
    assert bank.fingerprints()["k"] == base.Listed(
        3, "etag:" + hashlib.md5(b"two").hexdigest())
    assert bank.fingerprints()["k"].fingerprint != before


def test_a_symlink_has_no_fingerprint(bank, store):
    bank.put("k", b"data")
    real_entry = store._entry
    with mock.patch.object(store, "_entry", side_effect=lambda c, n: {
            **real_entry(c, n), "symlink_path": "/v1/AUTH_p1/other/o"}):
        assert bank.fingerprints() == {"k": base.Listed(4, None)}


def test_fingerprints_of_a_missing_container_are_none_held(bank):
    assert bank.fingerprints() == {}


def test_fingerprints_errors_name_the_container(bank, store):
    store.create_container("sv")
    resp = requests.Response()
    resp.status_code = 503
    with mock.patch.object(store, "get", return_value=resp):
        with pytest.raises(exceptions.BankError, match="container sv"):
            bank.fingerprints()


def test_a_filesystem_bank_has_no_fingerprints(tmp_path):
    bank = FileSystemBank(str(tmp_path))
    assert bank.put("k", b"x").fingerprint is None
    assert bank.fingerprints() is None


# -- list ---------------------------------------------------------------------
def test_list_pages_with_limit_and_marker(bank, store):
    names = [f"p/{i:02d}" for i in range(10)] + ["q/0"]
    for name in names:
        bank.put(name, b"x")
    store.list_requests.clear()
    assert bank.list("p/") == names[:10]
    queries = [q for _c, q in store.list_requests]
    assert queries == [
        {"prefix": "p/", "limit": 3, "marker": None},
        {"prefix": "p/", "limit": 3, "marker": "p/02"},
        {"prefix": "p/", "limit": 3, "marker": "p/05"},
        {"prefix": "p/", "limit": 3, "marker": "p/08"},
    ]


def test_list_exact_multiple_of_the_page_size(bank, store):
    for i in range(6):
        bank.put(f"k{i}", b"x")
    store.list_requests.clear()
    assert len(bank.list()) == 6
    assert len(store.list_requests) == 3           # the last one is empty


def test_list_of_a_missing_container_is_empty(bank):
    assert bank.list() == []
    assert bank.list("checkpoints/") == []


def test_list_validates_the_prefix(bank):
    with pytest.raises(exceptions.InvalidBankKey):
        bank.list("../x")


# -- delete / exists ----------------------------------------------------------
def test_delete_missing_is_fine(bank, store):
    bank.delete("nope")
    store.create_container("sv")
    bank.delete("nope")


def test_delete_error_is_a_bank_error(bank, store):
    with mock.patch.object(store, "delete_object",
                           side_effect=http_error(409, "conflict")):
        with pytest.raises(exceptions.BankError, match="HTTP 409"):
            bank.delete("k")


def test_exists(bank):
    assert not bank.exists("k")
    bank.put("k", b"1")
    assert bank.exists("k")


# -- the bank contract, on both banks -----------------------------------------
@pytest.fixture(params=["filesystem", "swift"])
def any_bank(request, tmp_path):
    if request.param == "filesystem":
        return FileSystemBank(str(tmp_path / "fs"))
    return SwiftBank(types.SimpleNamespace(object_store=FakeObjectStore()),
                     container="c", segment_size=MiB, page_size=2)


@pytest.mark.parametrize("key", [
    "../x", "/abs", "a//b", "a/./b", "sp ace", "new\nline", "",
])
def test_contract_invalid_keys(any_bank, key):
    with pytest.raises(exceptions.InvalidBankKey):
        any_bank.put(key, b"x")
    with pytest.raises(exceptions.InvalidBankKey):
        any_bank.get(key)
    with pytest.raises(exceptions.InvalidBankKey):
        any_bank.delete(key)


def test_contract_round_trip_and_json(any_bank):
    key = "checkpoints/1/resources/OS::Glance::Image/abc/data/00000000"
    data = os.urandom(MiB + 3)
    assert any_bank.put(key, data).sha256 == sha(data)
    assert any_bank.get_bytes(key) == data
    assert any_bank.sha256(key) == (len(data), sha(data))
    any_bank.put_json("checkpoints/1/index.json", {"a": 1})
    assert any_bank.get_json("checkpoints/1/index.json") == {"a": 1}


def test_contract_overwrite_replaces(any_bank):
    any_bank.put("k", b"old")
    any_bank.put("k", b"new")
    assert any_bank.get_bytes("k") == b"new"


def test_contract_list_sorted_by_prefix(any_bank):
    for name in ["b/2", "a/1", "b/1", "b/10", "bb/1", "c"]:
        any_bank.put(name, b"x")
    assert any_bank.list("b/") == ["b/1", "b/10", "b/2"]
    assert any_bank.list() == ["a/1", "b/1", "b/10", "b/2", "bb/1", "c"]
    assert any_bank.list("zzz/") == []


def test_contract_delete_and_exists(any_bank):
    any_bank.put("a/b", b"x")
    assert any_bank.exists("a/b")
    any_bank.delete("a/b")
    any_bank.delete("a/b")
    assert not any_bank.exists("a/b")
    with pytest.raises(exceptions.ObjectNotFound):
        any_bank.get("a/b")
    assert any_bank.list() == []


def test_contract_encoded_key_parts_keep_their_literal_name(any_bank):
    # "my%20key%2F..%25" is the key part of the id "my key/..%": a bank
    # stores the '%' escapes as they are (Swift would decode a request
    # path's "%2F" into a "/"), small objects and SLOs alike.
    key = "checkpoints/1/resources/OS::Nova::KeyPair/my%20key%2F..%25/x"
    big = os.urandom(MiB + 3)
    any_bank.put(key, b"small")
    any_bank.put(key + "-big", io.BytesIO(big))
    assert any_bank.list("checkpoints/1/resources/OS::Nova::KeyPair/") == \
        [key, key + "-big"]
    assert any_bank.get_bytes(key) == b"small"
    assert any_bank.get_bytes(key + "-big") == big
    assert any_bank.exists(key)
    any_bank.delete(key)
    any_bank.delete(key + "-big")
    assert any_bank.list() == []
    assert not any_bank.exists(key)
