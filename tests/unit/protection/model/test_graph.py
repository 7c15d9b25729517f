"""The resource graph: DFS build, shared children, cycles, serialisation."""

import json

import pytest

from protection import exceptions
from protection.model import graph as graph_mod
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource


def R(rid, rtype="T::Node", **extra):
    return Resource(rtype, rid, f"name-{rid}", extra)


class Deps:
    """``dependencies()`` over a dict of id -> child ids; records calls."""

    def __init__(self, edges, types=None):
        self.edges = edges
        self.types = types or {}
        self.calls = []

    def res(self, rid):
        return R(rid, self.types.get(rid, "T::Node"))

    def __call__(self, resource):
        self.calls.append(resource.id)
        return [self.res(c) for c in self.edges.get(resource.id, [])]


def ids(resources):
    return [r.id for r in resources]


# Two servers share a network and an image; depth 4 (web -> vol -> img ->
# kernel).
APP = {
    "web": ["vol-web", "net"],
    "db": ["vol-db", "net"],
    "vol-web": ["img"],
    "vol-db": ["img"],
    "img": ["kernel"],
}


def test_depth_first_discovery_order():
    deps = Deps(APP)
    graph = ResourceGraph.build([R("web"), R("db")], deps)
    # DFS: a branch is followed to the bottom before the next sibling.
    assert ids(graph) == ["web", "vol-web", "img", "kernel", "net", "db",
                          "vol-db"]


def test_shared_children_appear_once_with_every_parent():
    deps = Deps(APP)
    graph = ResourceGraph.build([R("web"), R("db")], deps)
    assert len(graph) == 7
    assert ids(graph).count("net") == 1
    net = graph.resource(("T::Node", "net"))
    img = graph.resource(("T::Node", "img"))
    assert sorted(ids(graph.parents(net))) == ["db", "web"]
    assert sorted(ids(graph.parents(img))) == ["vol-db", "vol-web"]
    # Each resource's dependencies are asked for once, however many parents.
    assert sorted(deps.calls) == sorted(set(deps.calls))
    edges = [(p.id, c.id) for p, c in graph.edges()]
    assert len(edges) == len(set(edges)) == 7


def test_depth_of_at_least_three_and_children_order():
    graph = ResourceGraph.build([R("web"), R("db")], Deps(APP))
    depths = {r.id: d for d, r in graph.tree()}
    assert depths["kernel"] == 3
    assert ids(graph.children(graph.resource(("T::Node", "web")))) == \
        ["vol-web", "net"]
    assert graph.children(graph.resource(("T::Node", "kernel"))) == []


def test_tree_shows_shared_child_under_each_parent():
    graph = ResourceGraph.build([R("web"), R("db")], Deps(APP))
    tree = [(d, r.id) for d, r in graph.tree()]
    assert tree == [
        (0, "web"), (1, "vol-web"), (2, "img"), (3, "kernel"), (1, "net"),
        (0, "db"), (1, "vol-db"), (2, "img"), (3, "kernel"), (1, "net"),
    ]


def test_bottom_up_puts_every_child_before_its_parents():
    graph = ResourceGraph.build([R("web"), R("db")], Deps(APP))
    order = ids(graph.bottom_up())
    assert sorted(order) == sorted(ids(graph))
    for parent, child in graph.edges():
        assert order.index(child.id) < order.index(parent.id)


def test_levels_put_each_resource_one_level_above_its_deepest_child():
    graph = ResourceGraph.build([R("web"), R("db")], Deps(APP))
    levels = [sorted(ids(level)) for level in graph.levels()]
    assert levels == [["kernel", "net"], ["img"], ["vol-db", "vol-web"],
                      ["db", "web"]]


def test_levels_of_an_empty_graph_are_none():
    assert ResourceGraph().levels() == []


def test_roots_are_the_plan_in_order_without_duplicates():
    graph = ResourceGraph.build([R("db"), R("web"), R("db")], Deps(APP))
    assert ids(graph.roots) == ["db", "web"]


def test_a_root_may_also_be_a_child():
    graph = ResourceGraph.build([R("web"), R("net")], Deps(APP))
    assert ids(graph.roots) == ["web", "net"]
    assert ids(graph).count("net") == 1


def test_identity_is_type_and_id():
    # A volume and an image with the same id are two nodes.
    deps = Deps({"s": ["x", "y"]})
    deps.res = lambda rid: R("same", "T::Volume" if rid == "x"
                             else "T::Image")
    graph = ResourceGraph.build([R("s", "T::Server")], deps)
    assert len(graph) == 3
    assert ("T::Volume", "same") in graph
    assert ("T::Image", "same") in graph


def test_cycle_error_names_the_resources_in_the_cycle():
    edges = {"top": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}
    with pytest.raises(exceptions.CycleError) as err:
        ResourceGraph.build([R("top")], Deps(edges))
    assert ids(err.value.cycle) == ["a", "b", "c", "a"]
    message = str(err.value)
    assert "T::Node a -> T::Node b -> T::Node c -> T::Node a" in message
    # The resource leading into the loop is not part of the cycle.
    assert "top" not in message
    assert isinstance(err.value, exceptions.StackvaultError)


def test_self_dependency_is_a_cycle():
    with pytest.raises(exceptions.CycleError) as err:
        ResourceGraph.build([R("a")], Deps({"a": ["a"]}))
    assert ids(err.value.cycle) == ["a", "a"]


def test_diamond_is_not_a_cycle():
    edges = {"a": ["b", "c"], "b": ["d"], "c": ["d"]}
    graph = ResourceGraph.build([R("a")], Deps(edges))
    assert len(graph) == 4


def _rich_graph():
    deps = Deps(APP, types={"web": "OS::Nova::Server",
                            "db": "OS::Nova::Server",
                            "vol-web": "OS::Cinder::Volume",
                            "vol-db": "OS::Cinder::Volume",
                            "net": "OS::Neutron::Network",
                            "img": "OS::Glance::Image",
                            "kernel": "OS::Glance::Image"})
    web = Resource("OS::Nova::Server", "web", "web server",
                   {"flavor": "m1.small", "ports": [{"ip": "10.0.0.5"}],
                    "boot": None})
    db = Resource("OS::Nova::Server", "db", "", {})

    def dependencies(resource):
        children = deps(resource)
        if resource.id == "web":
            children[0] = Resource("OS::Cinder::Volume", "vol-web", "v",
                                   {"boot": True, "size": 20})
        return children
    return ResourceGraph.build([db, web], dependencies)


def test_to_dict_from_dict_round_trip_is_lossless():
    graph = _rich_graph()
    data = graph.to_dict()
    back = ResourceGraph.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data
    assert ids(back.roots) == ["db", "web"]
    assert ids(back) == ids(graph)
    assert [(p.key, c.key) for p, c in back.edges()] == \
        [(p.key, c.key) for p, c in graph.edges()]
    for res in graph:
        other = back.resource(res.key)
        assert other.to_dict() == res.to_dict()
    vol = back.resource(("OS::Cinder::Volume", "vol-web"))
    assert vol.extra == {"boot": True, "size": 20}
    assert vol.name == "v"
    web = back.resource(("OS::Nova::Server", "web"))
    assert web.extra["ports"] == [{"ip": "10.0.0.5"}]
    assert [(d, r.key) for d, r in back.tree()] == \
        [(d, r.key) for d, r in graph.tree()]


def test_to_dict_records_the_format_version():
    assert _rich_graph().to_dict()["format_version"] == \
        graph_mod.FORMAT_VERSION


@pytest.mark.parametrize("version", [None, 0, graph_mod.FORMAT_VERSION + 1,
                                     "1"])
def test_from_dict_rejects_unknown_format_version(version):
    data = _rich_graph().to_dict()
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    with pytest.raises(exceptions.StackvaultError, match="format"):
        ResourceGraph.from_dict(data)


def test_empty_graph_round_trip():
    graph = ResourceGraph.build([], Deps({}))
    assert len(graph) == 0
    back = ResourceGraph.from_dict(graph.to_dict())
    assert len(back) == 0
    assert back.roots == []


def test_from_dict_rejects_edges_to_unknown_nodes():
    graph = ResourceGraph.build([Resource("OS::T::X", "a")], lambda r: [])
    data = graph.to_dict()
    data["nodes"][0]["children"] = [["OS::T::X", "ghost"]]
    with pytest.raises(exceptions.StackvaultError, match="ghost"):
        ResourceGraph.from_dict(data)
