"""The object model keeps use-lists right through Graph's mutation methods."""

from __future__ import annotations

import pytest

from hybrix.ir import GraphError, Node, ShapeError, Value, verify
from hybrix.tests.ir._graphs import diamond, mlp


def uses(value):
    return [(node.name, position) for node, position in value.uses]


def test_add_node_links_producers_and_uses():
    graph = mlp()
    x, w, b = graph.inputs
    h, y = (node.outputs[0] for node in graph.nodes)
    assert uses(x) == [("h", 0)]
    assert uses(w) == [("h", 1)]
    assert uses(b) == [("h", 2)]
    assert h.producer is graph.nodes[0]
    assert h.index == 0
    assert uses(h) == [("y", 0)]
    assert uses(y) == []
    assert all(node.graph is graph for node in graph.nodes)
    verify(graph)


def test_a_value_read_twice_by_one_node_has_two_uses():
    graph = diamond()
    x = graph.inputs[0]
    node = graph.add_node("elemwise_mul", [x, x], name="sq")
    assert uses(x) == [("a", 0), ("b", 0), ("sq", 0), ("sq", 1)]
    assert node.outputs[0].type == x.type
    verify(graph)


def test_multiple_outputs_know_their_index():
    graph = diamond()
    split = graph.nodes[-1]
    assert [(v.producer, v.index) for v in split.outputs] == [(split, 0), (split, 1)]


def test_set_input_moves_one_use():
    graph = diamond()
    x, add = graph.inputs[0], graph.nodes[2]
    a, b = add.inputs
    graph.set_input(add, 1, x)
    assert uses(b) == []
    assert uses(a) == [("s", 0)]
    assert uses(x) == [("a", 0), ("b", 0), ("s", 1)]
    verify(graph)


def test_replace_all_uses_moves_uses_and_graph_outputs():
    graph = diamond()
    a, s = graph.nodes[0].outputs[0], graph.nodes[2].outputs[0]
    graph.replace_all_uses(s, a)
    assert uses(s) == []
    assert uses(a) == [("s", 0), ("p", 0)]
    assert graph.outputs[-1] is a
    verify(graph)


def test_remove_drops_the_uses_of_the_removed_node():
    graph = diamond()
    x = graph.inputs[0]
    extra = graph.add_node("relu", [x], name="extra")
    graph.remove(extra)
    assert extra.graph is None
    assert extra not in graph.nodes
    assert uses(x) == [("a", 0), ("b", 0)]
    verify(graph)


def test_remove_refuses_a_node_whose_output_is_used():
    graph = diamond()
    with pytest.raises(GraphError, match="cannot remove node a: output %a is used"):
        graph.remove(graph.nodes[0])


def test_insert_before_keeps_order_and_uses():
    graph = diamond()
    x = graph.inputs[0]
    first = Node("negative", [x], [Value("neg", x.type)], {}, "neg")
    graph.insert_before(graph.nodes[0], first)
    assert graph.nodes[0] is first
    assert uses(x)[-1] == ("neg", 0)
    verify(graph)


def test_replace_all_uses_refuses_another_dtype_or_rank():
    graph = mlp()
    x, b = graph.inputs[0], graph.inputs[2]
    with pytest.raises(ShapeError, match="cannot replace %x"):
        graph.replace_all_uses(x, b)
    assert uses(x) == [("h", 0)]
