"""An in-memory Swift shaped like openstacksdk's ``conn.object_store``: the
calls SwiftBank makes, with Swift's behaviour where the bank depends on it
(chunked PUT bodies consumed, raw ``format=json`` listings paged by
``limit``/``marker`` with each object's ``bytes``, ``hash`` and an SLO's
``slo_etag``, SLO manifests and ``multipart-manifest=delete``, 404s as the
SDK's NotFoundException, object names in request paths percent-decoded,
SLO segment paths not)."""

import hashlib
import json
import types
import urllib.parse

import requests
from openstack import exceptions as sdk_exceptions

MiB = 1024 * 1024


def not_found(what):
    return sdk_exceptions.NotFoundException(f"{what} not found")


def http_error(status, details):
    resp = requests.Response()
    resp.status_code = status
    return sdk_exceptions.HttpException(message="error", details=details,
                                        response=resp)


class FakeObjectStore:
    def __init__(self):
        self.containers = {}          # name -> {object name: bytes}
        self.manifests = {}           # (container, name) -> [segment paths]
        self.list_requests = []       # (container, query) per page fetched
        self.puts = []
        self.fail_put_after = None    # fail the n-th PUT (0-based)
        self.max_file_size = 5 * 1024 * MiB + 2
        self.replay_body = False      # iterate a PUT body twice (a retry)

    # -- containers -----------------------------------------------------------
    def create_container(self, name):
        self.containers.setdefault(name, {})

    def get_container_metadata(self, name):
        if name not in self.containers:
            raise not_found(f"container {name}")
        return types.SimpleNamespace(name=name)

    def get_info(self):
        return types.SimpleNamespace(
            swift={"max_file_size": self.max_file_size})

    def get_endpoint(self):
        return "http://swift.test/v1/AUTH_p1"

    # -- objects --------------------------------------------------------------
    def _container(self, name):
        if name not in self.containers:
            raise not_found(f"container {name}")
        return self.containers[name]

    def create_object(self, container, name, data=None, **headers):
        name = urllib.parse.unquote(name)       # a request path
        store = self._container(container)
        self.puts.append((container, name))
        if self.fail_put_after is not None and \
                len(self.puts) > self.fail_put_after:
            raise http_error(503, "proxy overloaded")
        received = []
        try:
            if self.replay_body:
                next(iter(data))
            for chunk in data:
                received.append(chunk)
        except OSError as exc:          # requests wraps OSErrors
            raise requests.exceptions.ConnectionError(exc) from exc
        blob = b"".join(received)
        store[name] = blob
        self.manifests.pop((container, name), None)
        return types.SimpleNamespace(
            name=name, etag=hashlib.md5(blob).hexdigest())

    def put(self, url, params=None, data=None, **kwargs):
        """The raw PUT the bank uses for SLO manifests."""
        assert params == {"multipart-manifest": "put"}
        container, name = url.split("/", 1)
        name = urllib.parse.unquote(name)
        store = self._container(container)
        segments = json.loads(data)
        for seg in segments:
            seg_container, seg_name = seg["path"].lstrip("/").split("/", 1)
            stored = self.containers[seg_container][seg_name]
            assert len(stored) == seg["size_bytes"]
            assert hashlib.md5(stored).hexdigest() == seg["etag"]
        store[name] = b""
        self.manifests[(container, name)] = [s["path"] for s in segments]
        resp = requests.Response()
        resp.status_code = 201
        resp.headers["Etag"] = self._entry(container, name)["slo_etag"]
        return resp

    def _segment(self, path):
        seg_container, seg_name = path.lstrip("/").split("/", 1)
        return self.containers[seg_container][seg_name]

    def _data(self, container, name):
        manifest = self.manifests.get((container, name))
        if manifest is None:
            return self.containers[container][name]
        return b"".join(self._segment(path) for path in manifest)

    def stream_object(self, name, container=None, chunk_size=1024):
        name = urllib.parse.unquote(name)
        store = self._container(container)
        if name not in store:
            raise not_found(f"object {name}")
        data = self._data(container, name)

        def chunks():
            for start in range(0, len(data), chunk_size):
                yield data[start:start + chunk_size]
        return chunks()

    def get_object_metadata(self, name, container=None):
        name = urllib.parse.unquote(name)
        if name not in self._container(container):
            raise not_found(f"object {name}")
        return types.SimpleNamespace(name=name)

    def _entry(self, container, name):
        """A raw listing entry as Swift's shows it (see the bank's
        Fingerprints; checked against devcloud's Swift)."""
        manifest = self.manifests.get((container, name))
        if manifest is None:
            blob = self.containers[container][name]
            return {"name": name, "bytes": len(blob),
                    "hash": hashlib.md5(blob).hexdigest()}
        etags = "".join(hashlib.md5(self._segment(path)).hexdigest()
                        for path in manifest)
        return {"name": name, "bytes": len(self._data(container, name)),
                "hash": hashlib.md5(json.dumps(manifest).encode()).hexdigest(),
                "slo_etag": f'"{hashlib.md5(etags.encode()).hexdigest()}"'}

    def get(self, container, params=None):
        """The raw container listing (format=json) the bank pages."""
        query = dict(params)
        assert query.pop("format") == "json"
        self.list_requests.append(
            (container, {"prefix": query.get("prefix"),
                         "limit": query.get("limit"),
                         "marker": query.get("marker")}))
        resp = requests.Response()
        if container not in self.containers:
            resp.status_code = 404
            resp._content = b"<html>Not Found</html>"
            return resp
        prefix, mark = query.get("prefix") or "", query.get("marker")
        names = sorted(n for n in self.containers[container]
                       if n.startswith(prefix) and (mark is None or n > mark))
        page = names[:query["limit"]] if query.get("limit") else names
        resp.status_code = 200
        resp._content = json.dumps(
            [self._entry(container, n) for n in page]).encode()
        return resp

    def delete_object(self, name, container=None, ignore_missing=True):
        name = urllib.parse.unquote(name)
        store = self.containers.get(container, {})
        if name not in store:
            if ignore_missing:
                return None
            raise not_found(f"object {name}")
        for path in self.manifests.pop((container, name), []):
            seg_container, seg_name = path.lstrip("/").split("/", 1)
            self.containers[seg_container].pop(seg_name, None)
        del store[name]
