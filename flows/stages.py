"""What a built flow will do, read from the flow itself (for dry-runs).

:func:`stages` orders the resources' main flows (from their
``TYPE#ID/finished`` markers, see :mod:`flows.builder`) as the engine
would run them: stage 1 holds the resources whose main flow waits for no
other resource's; a resource is in the stage after the latest resource
whose main flow must finish before its own can finish, following every
link of the graph (through hooks and barriers too). Resources of one
stage may run in parallel; a pipelined parent (a server) is in the stage
after its children, though its first steps (creating the server) overlap
theirs. Nothing here is written by hand: a change of ordering in the
builder shows up here.
"""

from flows import contract


def _links(flow):
    """``node -> [successor]`` of the top-level graph."""
    following = {}
    for node, _meta in flow.iter_nodes():
        following.setdefault(node, [])
    for before, after, _meta in flow.iter_links():
        following[before].append(after)
    return following


def _main_nodes(built):
    """resource key -> its ``finished`` marker."""
    by_name = {node.name: node for node, _meta in built.flow.iter_nodes()}
    found = {}
    for key, ctx in built.contexts.items():
        label = contract.resource_label(ctx.resource)
        found[key] = by_name[f"{label}/finished"]
    return found


def _reaches(following, start):
    seen, todo = set(), list(following[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(following[node])
    return seen


def stages(built):
    """``[[resource, ...], ...]``: resources in the order their main flows
    can run; one inner list may run in parallel."""
    following = _links(built.flow)
    mains = _main_nodes(built)
    resources = {key: ctx.resource for key, ctx in built.contexts.items()}
    before = {key: set() for key in mains}
    for key, finished in mains.items():
        later = _reaches(following, finished)
        for other, other_finished in mains.items():
            if other_finished in later:
                before[other].add(key)
    depth = {}

    def stage_of(key):
        if key not in depth:
            depth[key] = 1 + max((stage_of(k) for k in before[key]),
                                 default=0)
        return depth[key]

    found = {}
    for key in mains:
        found.setdefault(stage_of(key), []).append(resources[key])
    return [sorted(found[n], key=lambda r: r.key) for n in sorted(found)]


def steps(built):
    """``TYPE#ID -> [step, ...]``: each resource's plugin steps, in the
    order they were added to its flow (hooks and markers left out)."""
    framework = set(contract.HOOKS) | {"start", "finish"}
    found = {contract.resource_label(ctx.resource): []
             for ctx in built.contexts.values()}
    for resource, step in built.owners.values():
        if step not in framework:
            found[contract.resource_label(resource)].append(step)
    return found
