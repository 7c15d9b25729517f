"""``/``: version discovery (no token needed), ``/v1``, and
``/v1/openapi.json``."""

from protection.api import microversion
from protection.api import openapi


def _v1(host_url):
    return {
        "id": "v1.0",
        "status": "CURRENT",
        "min_version": str(microversion.MIN_VERSION),
        "max_version": str(microversion.MAX_VERSION),
        "links": [{"rel": "self", "href": f"{host_url}/v1/"},
                  {"rel": "describedby",
                   "href": f"{host_url}/v1/openapi.json"}],
    }


def root(request):
    return 200, {"versions": [_v1(request.host_url)]}


def show_v1(request):
    return 200, {"version": _v1(request.host_url)}


def openapi_document(request):
    return 200, openapi.document(request.host_url)
