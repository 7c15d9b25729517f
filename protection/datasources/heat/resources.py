"""The columns the resources table derives from Heat's links: the stack
that owns each resource, the nested stack it is, its nested path."""

import collections.abc

from protection.datasources import translator as tr
from protection.datasources.heat import rest
from protection.datasources.heat.tables import CATALOG


def annotate_resources(resources, stack_id, stack_name):
    """Add what the resources table derives (under ``stackvault``).

    Returns new dicts; the owner stack comes from the ``stack`` link, the
    nested stack from the ``nested`` link, and the path from following
    owners up to the polled stack.
    """
    if not isinstance(resources, (list, tuple)):
        raise tr.MalformedData(
            f"resources of stack {stack_name}: expected a list")
    nested_owner = {}       # nested stack id -> (owner stack id, name)
    owners = []
    for res in resources:
        if not isinstance(res, collections.abc.Mapping):
            raise tr.MalformedData(
                f"resources of stack {stack_name}: expected objects")
        links = res.get("links")
        owner_name, owner_id = rest.stack_of(
            rest.link_path(links, "stack") or "")
        if owner_id is None:
            owner_name, owner_id = stack_name, stack_id
        _name, nested_id = rest.stack_of(rest.link_path(links, "nested") or "")
        if nested_id is not None:
            nested_owner[nested_id] = (owner_id, res.get("resource_name"))
        owners.append((owner_name, owner_id, nested_id))

    def path_of(owner_id, seen=()):
        if owner_id == stack_id or owner_id not in nested_owner or \
                owner_id in seen:
            return ""
        parent, name = nested_owner[owner_id]
        head = path_of(parent, seen + (owner_id,))
        return f"{head}/{name}" if head else str(name)

    annotated = []
    for res, (owner_name, owner_id, nested_id) in zip(resources, owners):
        path = path_of(owner_id)
        if not path and owner_id != stack_id:
            path = str(res.get("parent_resource") or "")
        item = dict(res)
        item["stackvault"] = {
            "owner_stack_id": owner_id, "owner_stack_name": owner_name,
            "nested_stack_id": nested_id, "nested_path": path}
        annotated.append(item)
    return annotated


def resource_rows(body, stack_id, stack_name, path):
    """The resources/resources_links tables of one resources answer, and
    the annotated raw resources, in the same order as the rows."""
    raw = annotate_resources(rest.unwrap(body, "resources", path), stack_id,
                              stack_name)
    return CATALOG["resources"].translate(raw, parent_id=stack_id), raw

