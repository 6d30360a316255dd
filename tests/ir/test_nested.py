"""Nested graphs (graph attributes): compare, save/load, print/parse and verify see inside."""

from __future__ import annotations

import pytest

from hybrix.ir import (
    Graph,
    GraphError,
    load,
    parse,
    print_graph,
    save,
    structural_hash,
    structurally_equal,
    verify,
)
from hybrix.tests.ir._graphs import f32

NESTED_TEXT = """\
graph outer(%x: f32[2,3], %w: f32[2,3]) {
  %h = relu(%x) : f32[2,3]
  %y = identity(%h) {body=graph body(%a: f32[2,3]) {
      %s = elemwise_add(%a, %w) : f32[2,3]
      %t = identity(%s) {body=graph inner(%b: f32[2,3]) {
          %u = elemwise_mul(%b, %h) : f32[2,3]
          return %u
        }} : f32[2,3]
      return %t
    }} : f32[2,3]
  return %y
}
"""


def nested(op: str, scale: str = "elemwise_mul") -> Graph:
    """`outer` holds `body`, which reads outer %w and holds `inner`, which reads outer %h."""
    graph = Graph("outer")
    x, w = graph.add_input("x", f32(2, 3)), graph.add_input("w", f32(2, 3))
    h = graph.add_node("relu", [x], name="h").outputs[0]
    inner = Graph("inner")
    b = inner.add_input("b", f32(2, 3))
    inner.outputs = inner.add_node(scale, [b, h], name="u").outputs
    body = Graph("body")
    a = body.add_input("a", f32(2, 3))
    s = body.add_node("elemwise_add", [a, w], name="s").outputs[0]
    body.outputs = body.add_node(op, [s], {"body": inner}, name="t").outputs
    graph.outputs = graph.add_node(op, [h], {"body": body}, name="y").outputs
    return graph


def test_nested_graphs_print_as_indented_blocks(graph_attr_op):
    graph = nested(graph_attr_op)
    verify(graph)
    assert print_graph(graph) == NESTED_TEXT


def test_nested_graphs_parse_back(graph_attr_op):
    graph = parse(NESTED_TEXT)
    verify(graph)
    assert structurally_equal(graph, nested(graph_attr_op))
    w = graph.inputs[1]
    body = graph.nodes[1].attrs["body"]
    assert [(node.name, i) for node, i in w.uses] == [("s", 1)]
    assert body.nodes[0].inputs[1] is w


def test_nested_graphs_save_and_load(graph_attr_op, tmp_path):
    graph = nested(graph_attr_op)
    save(graph, tmp_path / "nested.hxir")
    loaded = load(tmp_path / "nested.hxir").graph
    verify(loaded)
    assert structurally_equal(loaded, graph)
    assert print_graph(loaded) == NESTED_TEXT


def test_nested_graphs_are_compared(graph_attr_op):
    graph, other = nested(graph_attr_op), nested(graph_attr_op, scale="elemwise_sub")
    assert not structurally_equal(graph, other)
    assert structural_hash(graph) != structural_hash(other)
    assert structural_hash(graph) == structural_hash(nested(graph_attr_op))


def test_verify_looks_inside_nested_graphs(graph_attr_op):
    graph = nested(graph_attr_op)
    inner = graph.nodes[1].attrs["body"].nodes[1].attrs["body"]
    inner.nodes[0].outputs[0].type = f32(2, 4)
    with pytest.raises(GraphError, match=r"graph inner: node u \(elemwise_mul\): output %u is f32"):
        verify(graph)


def test_a_nested_graph_may_not_read_a_later_value(graph_attr_op):
    graph = nested(graph_attr_op)
    graph.nodes.reverse()  # y, holding the body that reads %h, now comes before h
    with pytest.raises(GraphError, match=r"is not defined before its use"):
        verify(graph)


def test_a_nested_graph_may_not_shadow_a_name_it_reads(graph_attr_op):
    graph = nested(graph_attr_op)
    body = graph.nodes[1].attrs["body"]
    body.inputs[0].name = "w"
    with pytest.raises(GraphError, match=r"graph body: reads %w of an enclosing graph"):
        verify(graph)
