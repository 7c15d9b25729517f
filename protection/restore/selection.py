"""Selective restore: which of a checkpoint's resources a restore creates.

``only`` (``restore --only TYPE=ID``, repeatable) restores the named
resources and everything they need from the checkpoint (their
descendants); without it, every root. ``exclude`` (``--exclude TYPE=ID``)
leaves resources out, with whatever only they needed: a resource is
restored when a selected start reaches it without passing an excluded
one. A parent of an excluded resource then needs it mapped to an
existing resource through its parameters (for example the server's
``network_mapping``); its pre-flight says so when it is not.

Mistakes (a resource that is not in the checkpoint, one both selected and
excluded, nothing left to restore) raise :class:`SelectionError`, which
the CLI reports on one line with exit code 2.
"""

from protection import exceptions
from protection.model.resource import key_str


class SelectionError(exceptions.StackvaultError):
    pass


def _known(graph, refs, option):
    keys = []
    for rtype, rid in refs or ():
        key = (rtype, rid)
        if key not in graph:
            listed = ", ".join(sorted(key_str(r.key) for r in graph))
            raise SelectionError(
                f"{option} {rtype}={rid}: no such resource in this "
                f"checkpoint (it holds: {listed})")
        keys.append(key)
    return keys


def select(graph, only=(), exclude=()):
    """The subgraph to restore; the whole graph when neither is given."""
    if not only and not exclude:
        return graph
    wanted = _known(graph, only, "--only")
    left_out = set(_known(graph, exclude, "--exclude"))
    both = [key for key in wanted if key in left_out]
    if both:
        raise SelectionError(
            f"{key_str(both[0])} is both in --only and in --exclude")
    starts = wanted or [r.key for r in graph.roots]
    kept, todo = set(), [k for k in starts if k not in left_out]
    while todo:
        key = todo.pop()
        if key in kept:
            continue
        kept.add(key)
        todo.extend(child.key for child in
                    graph.children(graph.resource(key))
                    if child.key not in left_out)
    if not kept:
        raise SelectionError("nothing left to restore: every selected "
                             "resource is excluded")
    return graph.subgraph(kept)


def excluded(graph, selected):
    """The checkpoint's resources that ``selected`` leaves out, each with
    the kept parents that need it (those must map it)."""
    found = []
    for resource in graph:
        if resource.key in selected:
            continue
        parents = [key_str(p.key) for p in graph.parents(resource)
                   if p.key in selected]
        found.append({"resource": key_str(resource.key),
                      "needed_by": parents})
    return found


def as_args(only, exclude):
    """The selection as JSON for the operation's arguments (resume)."""
    return {"only": [list(k) for k in only or ()],
            "exclude": [list(k) for k in exclude or ()]}
