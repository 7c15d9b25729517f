"""The resource graph: which resource depends on which.

A parent depends on its children (a server on its volumes, image and
networks). The graph is built once, from the plan's resources, by asking each
resource's plugin for its dependencies, and is saved in the checkpoint so that
restore never needs the original cloud.
"""

from protection import exceptions
from protection.model.resource import Resource

FORMAT_VERSION = 1


class ResourceGraph:
    """A directed acyclic graph of resources; edges go parent -> child.

    ``roots`` are the resources that were asked for (the plan); a shared
    child is one node with several parents.
    """

    def __init__(self):
        self._nodes = {}          # key -> Resource, in discovery order
        self._children = {}       # key -> [child key, ...]
        self._roots = []

    # -- building ---------------------------------------------------------
    @classmethod
    def build(cls, resources, dependencies):
        """Build the graph from ``resources`` by depth-first search.

        ``dependencies(resource)`` returns the resource's children. A cycle
        raises :class:`~protection.exceptions.CycleError` naming the
        resources in it.
        """
        graph = cls()
        visiting = []             # the DFS path, to name a cycle
        done = set()

        def visit(resource):
            if resource.key in done:
                return
            if resource.key in (r.key for r in visiting):
                start = [r.key for r in visiting].index(resource.key)
                raise exceptions.CycleError(visiting[start:] + [resource])
            visiting.append(resource)
            graph._add_node(resource)
            for child in dependencies(resource):
                visit(child)
                graph._add_edge(resource.key, child.key)
            visiting.pop()
            done.add(resource.key)

        for resource in resources:
            visit(resource)
            if resource.key not in graph._roots:
                graph._roots.append(resource.key)
        return graph

    def _add_node(self, resource):
        self._nodes.setdefault(resource.key, resource)
        self._children.setdefault(resource.key, [])

    def _add_edge(self, parent_key, child_key):
        if child_key not in self._children[parent_key]:
            self._children[parent_key].append(child_key)

    # -- reading ----------------------------------------------------------
    def __len__(self):
        return len(self._nodes)

    def __contains__(self, key):
        return key in self._nodes

    def __iter__(self):
        return iter(self._nodes.values())

    def resource(self, key):
        return self._nodes[key]

    @property
    def roots(self):
        return [self._nodes[k] for k in self._roots]

    def children(self, resource):
        return [self._nodes[k] for k in self._children[resource.key]]

    def parents(self, resource):
        return [self._nodes[p] for p, kids in self._children.items()
                if resource.key in kids]

    def edges(self):
        """Yield ``(parent, child)`` pairs."""
        for parent_key, kids in self._children.items():
            for child_key in kids:
                yield self._nodes[parent_key], self._nodes[child_key]

    def bottom_up(self):
        """Resources with every child before its parents."""
        order, seen = [], set()

        def visit(key):
            if key in seen:
                return
            seen.add(key)
            for child in self._children[key]:
                visit(child)
            order.append(self._nodes[key])

        for key in self._nodes:
            visit(key)
        return order

    def levels(self):
        """``[[resource, ...], ...]``: level 1 holds the resources without
        children, each later level those whose children are all in
        earlier ones; in :meth:`bottom_up` order within a level."""
        order, depth = self.bottom_up(), {}
        for resource in order:
            depth[resource.key] = 1 + max(
                (depth[k] for k in self._children[resource.key]), default=0)
        found = [[] for _ in range(max(depth.values(), default=0))]
        for resource in order:
            found[depth[resource.key] - 1].append(resource)
        return found

    def tree(self, resource=None, _depth=0):
        """Yield ``(depth, resource)`` pairs, depth-first, for display.

        A shared child is shown under each of its parents.
        """
        starts = [resource] if resource is not None else self.roots
        for start in starts:
            yield _depth, start
            for child in self.children(start):
                yield from self.tree(child, _depth + 1)

    def subgraph(self, keys):
        """The graph of the resources whose keys are in ``keys`` and the
        edges between them; its roots are those no kept resource needs."""
        keys = set(keys)
        sub = ResourceGraph()
        for key, resource in self._nodes.items():
            if key in keys:
                sub._add_node(resource)
        for parent, child in self.edges():
            if parent.key in keys and child.key in keys:
                sub._add_edge(parent.key, child.key)
        needed = {child for kids in sub._children.values() for child in kids}
        sub._roots = [key for key in sub._nodes if key not in needed]
        return sub

    # -- (de)serialisation --------------------------------------------------
    def to_dict(self):
        return {
            "format_version": FORMAT_VERSION,
            "roots": [list(k) for k in self._roots],
            "nodes": [
                {"resource": r.to_dict(),
                 "children": [list(k) for k in self._children[r.key]]}
                for r in self._nodes.values()
            ],
        }

    @classmethod
    def from_dict(cls, data):
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise exceptions.StackvaultError(
                f"resource graph format {version!r} is not supported "
                f"(this stackvault reads format {FORMAT_VERSION})")
        graph = cls()
        for node in data["nodes"]:
            graph._add_node(Resource.from_dict(node["resource"]))
        for node in data["nodes"]:
            parent = Resource.from_dict(node["resource"]).key
            for child in node["children"]:
                graph._add_edge(parent, graph._known(child))
        graph._roots = [graph._known(k) for k in data["roots"]]
        return graph

    def _known(self, key):
        key = tuple(key)
        if key not in self._nodes:
            raise exceptions.StackvaultError(
                f"resource graph refers to {key[0]} {key[1]}, which is not "
                "one of its nodes (damaged checkpoint?)")
        return key
