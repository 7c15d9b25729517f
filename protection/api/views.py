"""What the API shows of checkpoints, operations and plans, and list
pages.

A list is filtered, sorted (``created_at`` by default, oldest first) and
cut into pages of ``limit`` after the item named by ``marker``; when more
follow, the answer carries a ``next`` link with the same query and the
last item of the page as marker.
"""

import urllib.parse

from protection.api import errors
from protection.operations import store as ops


def checkpoint_summary(checkpoint):
    return checkpoint.to_summary()


def checkpoint_detail(checkpoint):
    """A checkpoint as ``GET /v1/checkpoints/{id}`` shows it."""
    data = checkpoint.to_summary()
    index = checkpoint.index if checkpoint.index_readable else {}
    data.update({
        "user_id": index.get("user_id"),
        "updated_at": index.get("updated_at"),
        "plan": index.get("plan"),
        "resource_status": index.get("resources", {}),
        "errors": index.get("errors", []),
        "damage": checkpoint.damage,
        "graph": index.get("graph"),
    })
    return data


def operation(op):
    """An operation: never its owner process or its stored arguments
    (these name hosts and clouds of the service, not the caller's)."""
    return {
        "id": op.id, "kind": op.kind, "checkpoint_id": op.checkpoint,
        "status": op.shown_status, "project_id": op.project_id,
        "user_id": op.user_id,
        "created_at": ops.iso(op.created_at),
        "updated_at": ops.iso(op.updated_at),
        "created": op.journal, "restored": op.restored,
        "left_behind": op.left_behind, "result": op.result,
    }


def plan(row):
    """A plan (:class:`protection.plans.store.Plan`): its id is the
    table's ``name``, its name the caller's (``title``)."""
    data = row.to_dict()
    data.update({"id": row.name, "name": row.display_name,
                 "resources": [{"type": t, "id": i} for t, i in row.roots]})
    for key in ("title", "cloud"):
        data.pop(key)
    return data


def _matches(item, filters):
    return all(item.get(key) == value for key, value in filters.items())


def _sort_key(key):
    def value(item):
        found = item.get(key)
        return ("" if found is None else str(found), item["id"])
    return value


def page_limit(query, conf):
    """A page's size: ``limit``, or ``[api] default_limit``, at most
    ``[api] max_limit``."""
    return min(query.get("limit", conf.api.default_limit),
               conf.api.max_limit)


def next_link(query, last_id, limit, url):
    """The link to the page after the one that ended with ``last_id``:
    the same query with that id as marker."""
    following = dict(query, marker=last_id, limit=limit)
    following = {k: str(v).lower() if isinstance(v, bool) else v
                 for k, v in following.items()}
    return f"{url}?{urllib.parse.urlencode(following)}"


def page(items, query, filter_names, url, conf):
    """``{"items": [...], "next": url or None}`` of one page."""
    filters = {name: query[name] for name in filter_names if name in query}
    chosen = [item for item in items if _matches(item, filters)]
    key, _, direction = query.get("sort", "created_at").partition(":")
    chosen.sort(key=_sort_key(key), reverse=direction == "desc")
    start = 0
    if "marker" in query:
        ids = [item["id"] for item in chosen]
        if query["marker"] not in ids:
            raise errors.BadRequest(f"marker {query['marker']} is not in "
                                    "this list")
        start = ids.index(query["marker"]) + 1
    limit = page_limit(query, conf)
    shown = chosen[start:start + limit]
    following = None
    if start + limit < len(chosen):
        following = next_link(query, shown[-1]["id"], limit, url)
    return {"items": shown, "next": following}
