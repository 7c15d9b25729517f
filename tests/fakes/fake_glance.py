"""A small in-memory Glance behind the calls the image plugin makes.

It stands in for ``conn.image`` (openstacksdk's image proxy): raw ``get``,
``post`` and ``put`` return real ``requests.Response`` objects, so the SDK's
own ``raise_from_response`` and ``Image.upload`` run unchanged; the typed
calls return real ``openstack.image.v2.image.Image`` objects.
"""

import hashlib
import io
import itertools
import json
import threading
import types

import requests
from openstack import exceptions as sdk_exceptions
from openstack.image.v2 import image as sdk_image

DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "iso", "ami", "aki", "ari")


def response(status, body=None, data=None, reason=None):
    resp = requests.Response()
    resp.status_code = status
    resp.reason = reason or {200: "OK", 201: "Created", 204: "No Content",
                             400: "Bad Request", 404: "Not Found"}.get(
                                 status, "Error")
    if body is not None:
        resp._content = json.dumps(body).encode()
        resp.headers["content-type"] = "application/json"
    elif data is not None:
        resp.raw = io.BytesIO(data)
        resp.headers["content-type"] = "application/octet-stream"
    else:
        resp._content = b""
    resp.url = "http://glance.test/v2/images"
    return resp


def error(status, message):
    return response(status, body={"error": {"message": message}})


class FakeGlance:
    """``conn.image`` of one project."""

    def __init__(self, project_id="project-1"):
        self.project_id = project_id
        self.records = {}
        self.data = {}
        self.hash_algo = "sha512"
        self.corrupt_download = False     # serve different bytes
        self.upload_status = None         # e.g. 500: fail after reading
        self.upload_chunks_seen = 0
        self.ids = (f"img-{i}" for i in itertools.count(1))
        self.lock = threading.Lock()
        self.downloads = []
        # /v2/info/usage: Glance's unified limits ({} when it enforces none)
        self.usage = {}

    # -- helpers for tests ----------------------------------------------------
    def add(self, data, status="active", **attrs):
        image_id = attrs.pop("id", None) or next(self.ids)
        record = {
            "id": image_id, "name": attrs.pop("name", image_id),
            "status": status, "visibility": "private", "protected": False,
            "os_hidden": False, "owner": self.project_id,
            "disk_format": "raw", "container_format": "bare",
            "min_disk": 0, "min_ram": 0, "tags": [],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "file": f"/v2/images/{image_id}/file",
            "schema": "/v2/schemas/image", "self": f"/v2/images/{image_id}",
            "virtual_size": None, "stores": "fs",
        }
        record.update(attrs)
        self.records[image_id] = record
        if data is not None:
            self._store(image_id, data)
        else:
            record.update(size=None, checksum=None, os_hash_algo=None,
                          os_hash_value=None)
        return image_id

    def _store(self, image_id, data):
        self.data[image_id] = data
        self.records[image_id].update(
            size=len(data),
            checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            os_hash_algo=self.hash_algo,
            os_hash_value=hashlib.new(self.hash_algo, data).hexdigest()
            if self.hash_algo else None)

    def _id_from(self, url):
        parts = url.strip("/").split("/")
        assert parts[0] == "images", url
        return parts[1]

    # -- raw REST (the proxy is a keystoneauth Adapter) -----------------------
    def get(self, url, params=None, **kwargs):
        if url == "/info/usage":
            return response(200, body={"usage": dict(self.usage)})
        if url == "/images":        # a listing filtered by properties
            return response(200, body={"images": [
                dict(r) for r in self.records.values()
                if all(r.get(k) == v for k, v in (params or {}).items())]})
        image_id = self._id_from(url)
        record = self.records.get(image_id)
        if record is None:
            return error(404, f"No image found with ID {image_id}")
        return response(200, body=dict(record))

    def post(self, url, json=None, **kwargs):
        assert url == "/images"
        body = dict(json)
        if body.get("disk_format") not in DISK_FORMATS:
            return error(400, f"Invalid disk format "
                              f"'{body.get('disk_format')}' for image.")
        for key, value in body.items():
            if key.startswith("os_glance_"):
                return error(403, f"Attribute '{key}' is reserved.")
            if key not in ("min_disk", "min_ram", "tags", "protected",
                           "os_hidden") and not isinstance(value, str):
                return error(400, f"{value!r} is not of type 'string'")
        with self.lock:
            image_id = next(self.ids)
        self.add(None, status="queued", id=image_id, **body)
        return response(201, body=self.records[image_id])

    def patch(self, url, json=None, headers=None, **kwargs):
        """JSON patch: only ``remove`` of a property (what restore does)."""
        assert headers["Content-Type"].endswith("json-patch"), headers
        record = self.records.get(self._id_from(url))
        if record is None:
            return error(404, "no such image")
        keys = []
        for change in json:
            assert change["op"] == "remove", change
            keys.append(change["path"].lstrip("/"))
        for key in keys:        # all or nothing, as Glance does
            if key not in record:
                return error(409, f"Property {key} does not exist.")
        for key in keys:
            del record[key]
        return response(200, body=dict(record))

    def put(self, url, data=None, headers=None, **kwargs):
        image_id = self._id_from(url)
        assert url.endswith("/file"), url
        if image_id not in self.records:
            return error(404, "no such image")
        received = []
        self.records[image_id]["status"] = "saving"
        try:
            for chunk in data:
                received.append(chunk)
                self.upload_chunks_seen += 1
        except OSError as exc:    # what urllib3/requests do to OSErrors
            self.records[image_id]["status"] = "queued"
            raise requests.exceptions.ConnectionError(exc) from exc
        except BaseException:
            self.records[image_id]["status"] = "queued"
            raise
        if self.upload_status:
            self.records[image_id]["status"] = "queued"
            return error(self.upload_status, "Error in store configuration. "
                                             "Adding images to store is "
                                             "disabled.")
        expected = (headers or {}).get("X-OpenStack-Image-Size")
        blob = b"".join(received)
        if expected is not None and int(expected) != len(blob):
            self.records[image_id]["status"] = "queued"
            return error(400, "size mismatch")
        self._store(image_id, blob)
        self.records[image_id]["status"] = "active"
        return response(204)

    # -- typed proxy calls ----------------------------------------------------
    def get_image(self, image):
        image_id = getattr(image, "id", image)
        record = self.records.get(image_id)
        if record is None:
            raise sdk_exceptions.NotFoundException(
                f"No Image found for {image_id}")
        return _typed(record)

    def images(self, **query):
        for record in list(self.records.values()):
            if all(record.get(k) == v for k, v in query.items()):
                yield _typed(record)

    def download_image(self, image, stream=False, **kwargs):
        image_id = getattr(image, "id", image)
        self.downloads.append(image_id)
        if image_id not in self.records:
            return error(404, "no such image")
        data = self.data.get(image_id)
        if data is None:
            return response(204)
        if self.corrupt_download:
            data = bytes([data[0] ^ 1]) + data[1:]
        return response(200, data=data)

    def delete_image(self, image, ignore_missing=True):
        image_id = getattr(image, "id", image)
        record = self.records.get(image_id)
        if record is None:
            if ignore_missing:
                return None
            raise sdk_exceptions.NotFoundException(image_id)
        if record.get("protected"):
            raise sdk_exceptions.ForbiddenException(
                f"Image {image_id} is protected and cannot be deleted.")
        del self.records[image_id]
        self.data.pop(image_id, None)

    def update_image(self, image, **attrs):
        image_id = getattr(image, "id", image)
        if image_id not in self.records:
            raise sdk_exceptions.NotFoundException(image_id)
        self.records[image_id].update(attrs)
        return self.get_image(image_id)


def _typed(record):
    # Resource.list pops "self" the same way: it clashes with __init__.
    return sdk_image.Image.existing(
        **{k: v for k, v in record.items() if k != "self"})


def connection(glance=None):
    glance = glance or FakeGlance()
    return types.SimpleNamespace(image=glance,
                                 current_project_id=glance.project_id)
