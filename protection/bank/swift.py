"""SwiftBank: checkpoints in an OpenStack Object Storage (Swift) container.

Configuration (group ``[swift_bank]``): ``container`` (default
``stackvault``), ``cloud`` (the clouds.yaml entry to use; unset means the
cloud stackvault acts on: ``--os-cloud`` / ``OS_CLOUD``),
``segment_size_mb``, ``segment_concurrency`` and ``listing_page_size``.
Every call goes through openstacksdk's ``object_store`` proxy of that
connection; credentials stay in clouds.yaml and are never logged.

How objects are stored
    A bank key is the Swift object name in the container, unchanged: in
    request paths its ``%`` (the escape of key parts that name ids, see
    :func:`~protection.bank.keys.encode_part`) is sent as ``%25``, so Swift
    stores ``my%20key`` and never decodes it. A put
    streams the data as one chunked ``PUT`` (sha256 and size computed on the
    way, memory bounded by the chunk size), and Swift stores an object
    atomically: a reader sees the old object or the new one, never a part.
    A client that loses the connection never leaves a partial object.

Large objects
    Data whose size is known before the upload (bytes, a seekable file) and
    is larger than ``segment_size_mb`` is stored as a Static Large Object:
    segments of that size in the container ``<container>_segments`` (named
    ``<key>/<upload id>/<index>``), up to ``segment_concurrency`` segments
    uploading at once with bounded memory
    (:mod:`protection.transfer.pipeline`), then the SLO manifest at the key, so
    the key still appears at once and whole. The sha256 is of the whole object;
    each segment is checked by Swift against its md5 (the manifest names each
    segment's ETag). Deleting the key deletes its segments
    (``multipart-manifest=delete``); an overwritten SLO's segments are deleted
    after the new object is in place.

    A stream of unknown length (an iterable) cannot be split that way
    without buffering a segment, so it is stored as one object and must not
    exceed Swift's own object size limit (``max_file_size`` from
    ``/info``, 5 GiB by default): beyond that the put fails with a
    :class:`~protection.exceptions.BankError` and stores nothing. The
    plugins that stream (images) cut their data into objects far below that
    limit (``[image_data] object_size_mib``).

Listing
    By prefix, page by page (``limit`` = ``listing_page_size``, ``marker`` =
    the last name of the previous page), so containers larger than Swift's
    listing limit are listed whole.

Fingerprints
    Each entry of a listing carries the object's ``bytes`` and ``hash``:
    the md5 ETag Swift computed from the body it received. For an SLO the
    entry also carries ``slo_etag`` (the md5 of its segments' ETags, what
    the manifest PUT answered and a GET reports), while its ``hash`` is the
    md5 of the stored manifest. :meth:`SwiftBank.fingerprints` reports
    ``etag:<md5>`` for a plain object and ``slo:<slo etag>`` for an SLO,
    the same strings :meth:`SwiftBank.put` returned from the PUT responses
    (checked against devcloud's Swift by the fullstack tests); a symlink
    gets none. The two prefixes keep a plain object from ever standing in
    for an SLO. A DLO manifest lists as an empty object (0 bytes, the md5
    of nothing) whatever its segments hold: that is why a checkpoint's
    empty objects are always read
    (:func:`protection.checkpoint.verify.verify_objects`).
"""

import json
import logging
import os
import threading
import uuid

from openstack import exceptions as sdk_exceptions
from oslo_config import cfg
from requests import exceptions as requests_exceptions

from protection import cloud
from protection import exceptions
from protection.transfer import pipeline
from protection.transfer import streaming
from protection.bank import base
from protection.bank import keys

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_OBJECT_SIZE = 5 * 1024 * MiB + 2   # Swift's default
SEGMENTS_SUFFIX = "_segments"


def _known_size(data):
    """The number of bytes ``data`` will yield, when it can be told."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return memoryview(data).nbytes
    if hasattr(data, "seek") and hasattr(data, "tell"):
        try:
            if hasattr(data, "seekable") and not data.seekable():
                return None
            here = data.tell()
            end = data.seek(0, os.SEEK_END)
            data.seek(here)
            return end - here
        except (OSError, ValueError):
            return None
    return None


def _fingerprint(etag, slo=False):
    """The bank's fingerprint for an ETag (quoted or not), or None."""
    if not etag:
        return None
    return f"{'slo' if slo else 'etag'}:{etag.strip(chr(34))}"


def _listed(entry):
    """:class:`~protection.bank.base.Listed` for one raw listing entry."""
    if entry.get("symlink_path") is not None:
        fingerprint = None      # its listing says nothing of the target
    elif entry.get("slo_etag"):
        fingerprint = _fingerprint(entry["slo_etag"], slo=True)
    else:
        fingerprint = _fingerprint(entry.get("hash"))
    return base.Listed(size=entry["bytes"], fingerprint=fingerprint)


def _in_path(name):
    """``name`` as a request path needs it: openstacksdk puts object names
    into URLs as they are and Swift decodes them. A valid bank key's only
    character that a path does not carry literally is ``%``."""
    return name.replace("%", "%25")


class SwiftBank(base.Bank):
    name = "swift"

    config_group = "swift_bank"
    config_opts = [
        cfg.StrOpt("container", default="stackvault",
                   help="Swift container of the bank (created on first "
                        "write). Large objects' segments go to "
                        "'<container>_segments'."),
        cfg.StrOpt("cloud",
                   help="clouds.yaml entry whose Swift holds the bank. "
                        "Unset: the cloud stackvault acts on (--os-cloud "
                        "or OS_CLOUD)."),
        cfg.IntOpt("segment_size_mb", default=1024, min=1, max=5120,
                   help="Data of known size larger than this (MiB) is "
                        "stored as a Static Large Object with segments of "
                        "this size."),
        cfg.IntOpt("segment_concurrency", default=4, min=1, max=16,
                   help="Segments of one Static Large Object uploaded at "
                        "the same time. Memory: up to this x 12 MiB "
                        "(queues of two 4 MiB chunks), whatever the "
                        "segment size."),
        cfg.IntOpt("listing_page_size", default=1000, min=1, max=10000,
                   help="Names asked per container listing request "
                        "(at most Swift's container_listing_limit)."),
    ]

    def __init__(self, connection, container="stackvault",
                 segment_size=1024 * MiB, page_size=1000,
                 max_object_size=None, segment_concurrency=4):
        keys.validate_key(container)
        if "/" in container:
            raise exceptions.ConfigError(
                f"swift bank container {container!r} must not contain '/'")
        self.conn = connection
        self.container = container
        self.segment_container = container + SEGMENTS_SUFFIX
        self.segment_size = segment_size
        self.segment_concurrency = segment_concurrency
        self.page_size = page_size
        self._max_object_size = max_object_size
        self._created = set()
        self._has_segments = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, conf, connect=None, **kwargs):
        group = conf.swift_bank
        if connect is None:
            def connect(name):
                return cloud.connect(
                    name, request_timeout=conf.timeouts.request)
        return cls(connect(group.cloud), container=group.container,
                   segment_size=group.segment_size_mb * MiB,
                   page_size=group.listing_page_size,
                   segment_concurrency=group.segment_concurrency)

    @property
    def _store(self):
        return self.conn.object_store

    def describe(self):
        try:
            where = self._store.get_endpoint()
        except Exception:        # describing must never fail
            where = "object store"
        return f"swift bank: container {self.container} at {where}"

    # -- errors ---------------------------------------------------------------
    def _error(self, action, key, exc):
        if isinstance(exc, sdk_exceptions.EndpointNotFound):
            return exceptions.BankError(
                "swift bank: the cloud has no object-store (Swift) "
                "service")
        detail = getattr(exc, "details", None) or str(exc)
        status = getattr(exc, "status_code", None)
        code = f" (HTTP {status})" if status else ""
        return exceptions.BankError(
            f"swift bank: cannot {action} {key!r} in container "
            f"{self.container}{code}: {detail}")

    def max_object_size(self):
        """Swift's largest single object (``/info``), asked once."""
        if self._max_object_size is None:
            try:
                info = self._store.get_info()
                limit = int(info.swift.get("max_file_size"))
            except Exception:
                limit = DEFAULT_MAX_OBJECT_SIZE
            self._max_object_size = limit
        return self._max_object_size

    def _ensure_container(self, name):
        if name in self._created:
            return
        with self._lock:
            if name not in self._created:
                self._store.create_container(name)
                self._created.add(name)

    # -- put ------------------------------------------------------------------
    def put(self, key, data):
        keys.validate_key(key)
        size = _known_size(data)
        try:
            old_segments = self._segments_of(key)
            self._ensure_container(self.container)
            if size is not None and size > self.segment_size:
                info = self._put_large(key, data)
            else:
                size, sha256, etag = self._put_stream(
                    self.container, key, base.iter_chunks(data))
                info = base.ObjectInfo(key=key, size=size, sha256=sha256,
                                       fingerprint=_fingerprint(etag))
        except sdk_exceptions.SDKException as exc:
            raise self._error("store", key, exc) from None
        # The new object is in place: an SLO it replaced leaves segments.
        self._delete_segments(old_segments)
        return info

    def _put_stream(self, container, name, chunks, hashed=True):
        """One chunked PUT; returns ``(size, sha256, etag)`` (sha256 None
        unless ``hashed``)."""
        reader = base.HashingReader(chunks) if hashed else \
            base.CountingReader(chunks)
        limit = self.max_object_size()
        body = streaming.SinglePass(reader, limit=limit)
        try:
            obj = self._store.create_object(container, _in_path(name),
                                            data=body)
        except Exception as exc:
            if isinstance(body.error, streaming.SinglePass.TooLarge):
                raise exceptions.BankError(
                    f"swift bank: cannot store {name!r}: a stream of "
                    f"unknown length must fit in one Swift object ({limit} "
                    "bytes); nothing was stored") from None
            # The source's own error is the reason; the HTTP library
            # reports it as a broken connection.
            if body.error is not None and body.error is not exc:
                raise body.error from exc
            raise
        return (reader.size, reader.sha256 if hashed else None,
                getattr(obj, "etag", None))

    def _put_large(self, key, data):
        """Segments, up to ``segment_concurrency`` at once, then the SLO
        manifest at ``key``."""
        self._ensure_container(self.segment_container)
        self._has_segments = True
        upload = uuid.uuid4().hex
        reader = base.HashingReader(base.iter_chunks(data))
        names = []

        def put_segment(index, chunks):
            name = f"{key}/{upload}/{index:08d}"
            names.append(name)
            size, _sha, etag = self._put_stream(
                self.segment_container, name, chunks, hashed=False)
            entry = {"path": f"/{self.segment_container}/{name}",
                     "size_bytes": size}
            if etag:
                entry["etag"] = etag.strip('"')
            return entry

        try:
            manifest = pipeline.put_pieces(
                streaming.split(reader, self.segment_size), put_segment,
                self.segment_concurrency, name="stackvault-swift-segment")
            response = self._store.put(
                f"{self.container}/{_in_path(key)}",
                params={"multipart-manifest": "put"},
                data=json.dumps(manifest))
            sdk_exceptions.raise_from_response(response)
        except BaseException:
            # Every worker has ended: these are all the segments stored.
            self._delete_segments(names)
            raise
        return base.ObjectInfo(
            key=key, size=reader.size, sha256=reader.sha256,
            fingerprint=_fingerprint(response.headers.get("Etag"), slo=True))

    def _segments_of(self, key):
        """Segments of an SLO now at ``key`` (deleted after an overwrite).

        Asked only when the segments container exists (checked once), so a
        bank that never stored a large object pays nothing per put.
        """
        if self._has_segments is None:
            try:
                self._store.get_container_metadata(self.segment_container)
                self._has_segments = True
            except sdk_exceptions.NotFoundException:
                self._has_segments = False
        if not self._has_segments:
            return []
        try:
            return self._list(self.segment_container, key + "/")
        except sdk_exceptions.NotFoundException:
            return []

    def _delete_segments(self, names):
        for name in names:
            try:
                self._store.delete_object(
                    _in_path(name), container=self.segment_container,
                    ignore_missing=True)
            except sdk_exceptions.SDKException as exc:
                LOG.warning("swift bank: segment %s/%s left behind: %s",
                            self.segment_container, name, exc)

    # -- get ------------------------------------------------------------------
    def get(self, key, chunk_size=base.DEFAULT_CHUNK_SIZE):
        keys.validate_key(key)
        try:
            chunks = self._store.stream_object(
                _in_path(key), container=self.container,
                chunk_size=chunk_size)
        except sdk_exceptions.NotFoundException:
            raise exceptions.ObjectNotFound(key) from None
        except sdk_exceptions.SDKException as exc:
            raise self._error("read", key, exc) from None
        return self._read(key, chunks)

    def _read(self, key, chunks):
        """The object's chunks; a body cut short (Swift stops a Static Large
        Object at a segment that is not what its manifest recorded, a
        connection drops) is a BankError naming the object, not the HTTP
        library's exception."""
        try:
            yield from chunks
        except requests_exceptions.RequestException as exc:
            raise exceptions.BankError(
                f"swift bank: reading {key!r} in container {self.container} "
                f"was cut short: {exc}") from None
        finally:
            streaming.close(chunks)

    # -- list -----------------------------------------------------------------
    def _entries(self, container, prefix):
        """Every raw listing entry (``name``, ``bytes``, ``hash`` ...)
        under ``prefix``, one request per page."""
        entries, marker = [], None
        while True:
            query = {"format": "json", "prefix": prefix,
                     "limit": self.page_size}
            if marker is not None:
                query["marker"] = marker
            response = self._store.get(container, params=query)
            sdk_exceptions.raise_from_response(response)
            page = response.json() if response.content else []
            entries.extend(page)
            if len(page) < self.page_size:
                return entries
            marker = page[-1]["name"]

    def _list(self, container, prefix):
        return [entry["name"] for entry in self._entries(container, prefix)]

    def list(self, prefix=""):
        keys.validate_prefix(prefix)
        try:
            names = self._list(self.container, prefix)
        except sdk_exceptions.NotFoundException:
            return []       # no container yet: an empty bank
        except sdk_exceptions.SDKException as exc:
            raise self._error("list", prefix, exc) from None
        return sorted(names)

    def fingerprints(self, prefix=""):
        """From the same listing as :meth:`list` (see Fingerprints)."""
        keys.validate_prefix(prefix)
        try:
            entries = self._entries(self.container, prefix)
        except sdk_exceptions.NotFoundException:
            return {}
        except sdk_exceptions.SDKException as exc:
            raise self._error("list", prefix, exc) from None
        return {entry["name"]: _listed(entry) for entry in entries}

    def exists(self, key):
        keys.validate_key(key)
        try:
            self._store.get_object_metadata(_in_path(key),
                                            container=self.container)
        except sdk_exceptions.NotFoundException:
            return False
        except sdk_exceptions.SDKException as exc:
            raise self._error("look up", key, exc) from None
        return True

    # -- delete ---------------------------------------------------------------
    def delete(self, key):
        keys.validate_key(key)
        try:
            # The SDK asks whether the object is an SLO and, if so, deletes
            # its segments with it (multipart-manifest=delete).
            self._store.delete_object(_in_path(key), container=self.container,
                                      ignore_missing=True)
        except sdk_exceptions.SDKException as exc:
            raise self._error("delete", key, exc) from None
