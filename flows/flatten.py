"""A plugin's flow as plain atoms and orderings, with its own symbols.

The builder puts every atom of every resource into one graph flow, so
that a task can be ordered after exactly the children it needs (TaskFlow
links only nodes of the same graph flow, never atoms nested in two
different subflows). Flattening keeps every ordering the plugin's patterns
expressed: a linear flow's steps, a graph flow's links (explicit or from
symbols), nothing for an unordered flow. Its symbols are then renamed
``TYPE#ID/symbol``: in one flat graph a parent's task could otherwise
read a symbol of the same name from one of its children.
"""

from taskflow import flow as tf_flow
from taskflow.types import sets

from flows import contract


def flatten(flow):
    """``(atoms, edges)`` of ``flow``: every atom once, and the pairs
    ``(before, after)`` that keep the orderings of its patterns."""
    edges = []
    _shape(flow, edges)
    atoms = []
    _collect(flow, atoms)
    return atoms, edges


def ends(atoms, edges):
    """``(sources, sinks)``: the atoms nothing precedes, and those nothing
    follows."""
    preceded = {id(after) for _, after in edges}
    followed = {id(before) for before, _ in edges}
    return ([a for a in atoms if id(a) not in preceded],
            [a for a in atoms if id(a) not in followed])


def _collect(node, atoms):
    if isinstance(node, tf_flow.Flow):
        for child, _meta in node.iter_nodes():
            _collect(child, atoms)
    else:
        atoms.append(node)


def _shape(node, edges):
    """Append ``node``'s inner orderings to ``edges``; return its
    ``(sources, sinks)``, or None when it holds no atom."""
    if not isinstance(node, tf_flow.Flow):
        return [node], [node]
    if node.retry is not None:
        raise contract.ContractError(
            f"flow {node.name!r} has a retry controller: a plugin retries "
            "inside its tasks (protection.plugin.wait), its flows are "
            "flattened")
    shapes = {}
    for child, _meta in node.iter_nodes():
        shapes[id(child)] = _shape(child, edges)
    links = [(id(u), id(v)) for u, v, _meta in node.iter_links()]
    for empty in [key for key, shape in shapes.items() if shape is None]:
        # an empty subflow orders what is on either side of it
        before = [u for u, v in links if v == empty]
        after = [v for u, v in links if u == empty]
        links = [link for link in links if empty not in link]
        links += [(u, v) for u in before for v in after]
        del shapes[empty]
    for u, v in links:
        edges.extend((a, b) for a in shapes[u][1] for b in shapes[v][0])
    if not shapes:
        return None
    preceded = {v for _, v in links}
    followed = {u for u, _ in links}
    sources = [a for key, shape in shapes.items() if key not in preceded
               for a in shape[0]]
    sinks = [a for key, shape in shapes.items() if key not in followed
             for a in shape[1]]
    return sources, sinks


def scope_symbols(atoms, prefix):
    """Rename every symbol these atoms provide to ``prefix/symbol``, in
    what they provide and in what any of them requires."""
    own = set()
    for atom in atoms:
        own.update(atom.provides)

    def rename(symbol):
        return f"{prefix}/{symbol}" if symbol in own else symbol

    def mapping(items):
        return type(items)((key, rename(value))
                           for key, value in items.items())

    for atom in atoms:
        atom.save_as = type(atom.save_as)(
            (rename(symbol), index) for symbol, index in atom.save_as.items())
        atom.provides = sets.OrderedSet(atom.save_as)
        atom.rebind = mapping(atom.rebind)
        atom.revert_rebind = mapping(atom.revert_rebind)
        for attr in ("requires", "optional", "revert_optional"):
            setattr(atom, attr, sets.OrderedSet(
                rename(symbol) for symbol in getattr(atom, attr)))


def children_needed(atom):
    """The resource labels (``TYPE#ID``) of the children ``atom`` names."""
    prefix = contract.CHILD_PREFIX
    return {symbol[len(prefix):] for symbol in atom.requires
            if symbol.startswith(prefix)}
