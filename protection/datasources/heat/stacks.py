"""The small stack API of the Heat stack protectable: what a stack built
(:func:`stack_physical_resources`) and its description."""

import collections
import urllib.parse

from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.datasources.heat import resources
from protection.datasources.heat import rest


PhysicalResource = collections.namedtuple(
    "PhysicalResource",
    ["resource_type", "physical_resource_id", "name", "nested_path",
     "status"])
PhysicalResource.__doc__ = """A resource that a Heat stack built.

``resource_type`` (e.g. ``OS::Nova::Server``), ``physical_resource_id``
(the id in its own service), ``name`` (its logical name in the template),
``nested_path`` (names of the nested-stack resources from the stack down to
the one that owns it, joined by ``/``; empty for the stack's own) and
``status`` (e.g. ``CREATE_COMPLETE``).
"""


def stack_physical_resources(conn, stack_id, nested_depth=5,
                             stack_name=None):
    """What a stack built: a :class:`PhysicalResource` per resource.

    For the Heat stack protectable: the rows of the ``resources`` table of
    one stack (nested stacks followed down to ``nested_depth``) that have a
    physical resource, in Heat's order. Resources that built nothing (no
    ``physical_resource_id``) are left out; nested-stack resources
    themselves are kept (their type is the template's, their id the nested
    stack's): filter on ``resource_type``.

    Costs one call (``GET /stacks/NAME/ID/resources``) when ``stack_name``
    is given, two otherwise (the stack is looked up by id first). Read
    only. Raises :class:`~protection.exceptions.ResourceNotFound` when the
    stack does not exist; other failures are openstacksdk's exceptions.
    """
    proxy = conn.orchestration
    try:
        if stack_name is None:
            lookup = "/stacks/" + urllib.parse.quote(str(stack_id), safe="")
            stack = rest.unwrap(rest.get(proxy, lookup), "stack", lookup)
            stack_name, stack_id = stack["stack_name"], stack["id"]
        path = rest.stack_path(stack_name, stack_id) + "/resources"
        params = {"nested_depth": nested_depth} if nested_depth else None
        body = rest.get(proxy, path, params)
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"Heat stack {stack_id} does not exist") from None
    tables, _raw = resources.resource_rows(body, stack_id, stack_name, path)
    return [PhysicalResource(r["resource_type"], r["physical_resource_id"],
                             r["resource_name"], r["nested_path"],
                             r["resource_status"])
            for r in tables["resources"] if r["physical_resource_id"]]


stack_physical_resources.doc_types = (PhysicalResource,)


def stack_description(conn, stack_id, stack_name):
    """A stack's detail and template, as Heat returns them (two GETs).

    For the Heat stack protectable, which keeps them in the checkpoint for
    reference. Read only; a missing stack raises ResourceNotFound.
    """
    path = rest.stack_path(stack_name, stack_id)
    try:
        stack = rest.unwrap(rest.get(conn.orchestration, path), "stack", path)
        template = rest.get(conn.orchestration, path + "/template")
    except sdk_exceptions.NotFoundException:
        raise exceptions.ResourceNotFound(
            f"Heat stack {stack_id} does not exist") from None
    return {"stack": stack, "template": template}

