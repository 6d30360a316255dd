"""verify() accepts valid graphs and names the culprit of each broken invariant."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.ir import DType, Graph, GraphError, Node, TensorType, Value, verify
from hybrix.tests.ir._graphs import diamond, f32, mlp


def test_valid_graphs_pass():
    assert verify(mlp()) is None
    verify(diamond())
    graph = Graph("c")
    x = graph.add_input("x", f32(2))
    c = graph.add_constant("c", np.ones(2, np.float32))
    graph.outputs = [graph.add_node("elemwise_add", [x, c]).outputs[0], c, x]
    verify(graph)


def broken(mutate) -> Graph:
    graph = diamond()
    mutate(graph)
    return graph


def rename_b_to_a(graph):
    graph.nodes[1].outputs[0].name = "a"


def swap_first_and_third(graph):
    graph.nodes[0], graph.nodes[2] = graph.nodes[2], graph.nodes[0]


def read_a_foreign_value(graph):
    stranger = Value("stranger", f32(2, 6))
    graph.set_input(graph.nodes[2], 1, stranger)


def add_a_stale_use(graph):
    graph.inputs[0].uses.append((graph.nodes[2], 0))


def drop_a_use(graph):
    graph.inputs[0].uses.pop()


def detach_a_node(graph):
    graph.nodes[1].graph = None


def unknown_op(graph):
    graph.nodes[0].op = "NoSuchOp"


def too_many_inputs(graph):
    node = graph.nodes[0]
    node.inputs.append(graph.inputs[0])
    graph.inputs[0].uses.append((node, 1))


def missing_default(graph):
    del graph.nodes[3].attrs["axis"]


def float_for_an_int(graph):
    graph.nodes[3].attrs["axis"] = 1.0


def unknown_attribute(graph):
    graph.nodes[0].attrs["alpha"] = 0.5


def bad_attribute_value(graph):
    graph.nodes[3].attrs["num_outputs"] = "two"


def wrong_output_type(graph):
    graph.nodes[2].outputs[0].type = f32(2, 7)


def wrong_output_dtype(graph):
    graph.nodes[0].outputs[0].type = TensorType(DType.float64, (2, 6))


def inference_fails(graph):
    graph.nodes[3].attrs["num_outputs"] = 4


def undefined_graph_output(graph):
    graph.outputs.append(Value("ghost", f32(2)))


def wrong_producer(graph):
    graph.nodes[3].outputs[1].index = 0


def constant_without_data(graph):
    graph.add_constant("c", np.zeros(2, np.float32)).const = None


def constant_of_another_type(graph):
    graph.add_constant("c", np.zeros(2, np.float32)).type = f32(3)


def input_with_a_producer(graph):
    graph.inputs[0].producer = graph.nodes[0]


CASES = [
    (rename_b_to_a, r"graph diamond: value %a is defined twice"),
    (swap_first_and_third, r"node s \(elemwise_add\): input 0 %a is not defined before its use"),
    (read_a_foreign_value, r"node s \(elemwise_add\): input 1 %stranger is not defined"),
    (add_a_stale_use, r"use-list of %x is \[a\[0\], b\[0\], s\[0\]\], its actual uses are \[a"),
    (drop_a_use, r"use-list of %x is \[a\[0\]\], its actual uses are \[a\[0\], b\[0\]\]"),
    (detach_a_node, r"node b \(sigmoid\): node.graph is not this graph"),
    (unknown_op, r"node a \(NoSuchOp\): unknown operator 'NoSuchOp'"),
    (too_many_inputs, r"node a \(relu\): .*relu takes 1 inputs, got 2"),
    (missing_default, r"node p \(split\): attribute axis is missing"),
    (float_for_an_int, r"node p \(split\): attribute axis is 1.0, expected the int 1"),
    (unknown_attribute, r"node a \(relu\): .*relu has no attribute alpha"),
    (bad_attribute_value, r"node p \(split\): .*split.num_outputs: expected int, got 'two'"),
    (wrong_output_type, r"node s \(elemwise_add\): output %s is f32\[2,7\], inferred f32\[2,6\]"),
    (wrong_output_dtype, r"node a \(relu\): output %a is f64\[2,6\], inferred f32\[2,6\]"),
    (inference_fails, r"node p \(split\): (type inference fails|4 outputs|2 outputs)"),
    (undefined_graph_output, r"graph diamond: graph output %ghost is not defined"),
    (wrong_producer, r"node p \(split\): output 1 %p_1 does not name this node as its producer"),
    (constant_without_data, r"constant %c holds no data"),
    (constant_of_another_type, r"constant %c has type f32\[3\], data f32\[2\]"),
    (input_with_a_producer, r"input or constant %x has a producer node"),
]


@pytest.mark.parametrize(("mutate", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_broken_invariant_is_named(mutate, message):
    graph = broken(mutate)
    with pytest.raises(GraphError, match=message):
        verify(graph)


def test_a_node_built_by_hand_must_be_linked_through_the_graph():
    graph = mlp()
    y = graph.outputs[0]
    node = Node("relu", [y], [Value("z", y.type)], {}, "z")
    graph.nodes.append(node)  # bypasses Graph.append: no use recorded, node.graph unset
    with pytest.raises(GraphError, match=r"node z \(relu\): node.graph is not this graph"):
        verify(graph)
    node.graph = graph
    with pytest.raises(GraphError, match=r"output 0 %z does not name this node as its producer"):
        verify(graph)
    node.outputs[0].producer = node
    with pytest.raises(GraphError, match=r"use-list of %y is \[\], its actual uses are \[z\[0\]\]"):
        verify(graph)
