"""One GET to Heat's API and the small helpers that read its answers:
unwrapping, links, stack paths, failure reasons."""

import collections.abc
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from protection.datasources import translator as tr

CALL_ERRORS = (sdk_exceptions.SDKException, ks_exceptions.ClientException,
               tr.MalformedData, ValueError)



def reason(exc):
    if isinstance(exc, sdk_exceptions.HttpException) and \
            exc.status_code is not None:
        text = f"HTTP {exc.status_code}: {exc.details or exc.message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


def get(proxy, path, params=None):
    """One GET through the orchestration proxy; the decoded JSON body."""
    response = proxy.get(path, params=params or None, raise_exc=False)
    sdk_exceptions.raise_from_response(response)
    return response.json()


def unwrap(body, key, path):
    if not isinstance(body, collections.abc.Mapping) or key not in body:
        raise tr.MalformedData(f"GET {path}: the answer has no {key!r}")
    return body[key]


def link_path(links, rel):
    """The API path (from ``/stacks/``) of the link ``rel``, or None.

    Heat's links are absolute URLs built from the request's host; keeping
    only the path lets the proxy send it to its own endpoint.
    """
    for link in links or ():
        if isinstance(link, collections.abc.Mapping) and \
                link.get("rel") == rel:
            path = urllib.parse.urlsplit(str(link.get("href", ""))).path
            at = path.find("/stacks/")
            if at >= 0:
                return path[at:]
    return None


def stack_of(path):
    """``(name, id)`` of a ``/stacks/NAME/ID[...]`` path."""
    parts = path.split("/")
    if len(parts) >= 4:
        return urllib.parse.unquote(parts[2]), parts[3]
    return None, None


def stack_path(name, stack_id):
    return (f"/stacks/{urllib.parse.quote(str(name), safe='')}/"
            f"{urllib.parse.quote(str(stack_id), safe='')}")



def listed(body, key, path):
    items = unwrap(body, key, path)
    if not isinstance(items, list) or not all(
            isinstance(i, collections.abc.Mapping) and i.get("id")
            for i in items):
        raise tr.MalformedData(f"GET {path}: {key!r} is not a list of "
                               f"objects with an id")
    return items
