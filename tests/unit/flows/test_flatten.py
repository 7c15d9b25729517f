"""A plugin's flow as atoms and orderings (flows/flatten.py)."""

import pytest
from taskflow import retry
from taskflow import task
from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow

from flows import contract
from flows import flatten


class T(task.Task):
    def execute(self):
        pass


class Gives(task.Task):
    default_provides = "x"

    def execute(self):
        return 1


class Takes(task.Task):
    def execute(self, x):
        pass


def names(edges):
    return sorted((a.name, b.name) for a, b in edges)


def test_linear_graph_and_unordered_patterns_keep_their_orderings():
    a, b, c, d, e = (T(name=n) for n in "abcde")
    inner = unordered_flow.Flow("u").add(b, c)
    flow = linear_flow.Flow("l").add(a, inner, graph_flow.Flow("g").add(
        d, e).link(d, e))
    atoms, edges = flatten.flatten(flow)
    assert [x.name for x in atoms] == list("abcde")
    assert names(edges) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"),
                            ("d", "e")]
    sources, sinks = flatten.ends(atoms, edges)
    assert [x.name for x in sources] == ["a"]
    assert [x.name for x in sinks] == ["e"]


def test_an_empty_subflow_still_orders_what_surrounds_it():
    a, b = T(name="a"), T(name="b")
    flow = linear_flow.Flow("l").add(a, linear_flow.Flow("empty"), b)
    assert names(flatten.flatten(flow)[1]) == [("a", "b")]


def test_symbols_are_scoped_to_the_resource():
    gives, takes = Gives(name="g"), Takes(name="t")
    flatten.scope_symbols([gives, takes], "OS::X#1")
    assert list(gives.provides) == ["OS::X#1/x"]
    assert takes.rebind["x"] == "OS::X#1/x"
    assert set(takes.requires) == {"OS::X#1/x"}


def test_children_named_by_a_task():
    needs = Takes(name="t", rebind={"x": contract.restored_child(
        "OS::Cinder::Volume", "v1")})
    assert flatten.children_needed(needs) == {"OS::Cinder::Volume#v1"}


def test_a_retry_controller_is_refused():
    flow = linear_flow.Flow("l", retry=retry.Times(3)).add(T(name="a"))
    with pytest.raises(contract.ContractError, match="retry"):
        flatten.flatten(flow)
