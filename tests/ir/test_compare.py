"""structurally_equal and structural_hash: names ignored, everything else compared."""

from __future__ import annotations

import numpy as np

from hybrix.ir import DType, Graph, TensorType, structural_hash, structurally_equal
from hybrix.tests.ir._graphs import diamond, f32, mlp


def assert_same(a, b):
    assert structurally_equal(a, b)
    assert structural_hash(a) == structural_hash(b)
    assert structural_hash(a, include_constant_data=True) == structural_hash(
        b, include_constant_data=True
    )


def assert_different(a, b):
    assert not structurally_equal(a, b)
    assert structural_hash(a, include_constant_data=True) != structural_hash(
        b, include_constant_data=True
    )


def renamed_mlp() -> Graph:
    graph = Graph("other")
    x = graph.add_input("data", f32("N", 4))
    w = graph.add_input("fc_weight", f32(8, 4))
    b = graph.add_input("fc_bias", f32(8))
    h = graph.add_node("FullyConnected", [x, w, b], {"num_hidden": 8}).outputs[0]
    graph.outputs = [graph.add_node("Activation", [h], {"act_type": "relu"}).outputs[0]]
    return graph


def test_names_are_ignored():
    assert_same(mlp(), renamed_mlp())
    assert structurally_equal(diamond(), diamond())


def test_hash_is_a_hex_digest():
    digest = structural_hash(mlp())
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_attributes_differ():
    other = mlp()
    other.nodes[1].attrs["act_type"] = "tanh"
    assert_different(mlp(), other)


def test_int_and_float_attributes_differ():
    other = mlp()
    other.nodes[0].attrs["num_hidden"] = 8.0
    assert not structurally_equal(mlp(), other)


def test_input_types_differ_by_symbolic_dimension():
    other = renamed_mlp()
    other.inputs[0].type = f32("M", 4)
    assert_different(mlp(), other)


def test_wiring_differs():
    graph = Graph("g")
    x, y = graph.add_input("x", f32(3)), graph.add_input("y", f32(3))
    graph.outputs = [graph.add_node("broadcast_sub", [x, y]).outputs[0]]
    swapped = Graph("g")
    x, y = swapped.add_input("x", f32(3)), swapped.add_input("y", f32(3))
    swapped.outputs = [swapped.add_node("broadcast_sub", [y, x]).outputs[0]]
    assert_different(graph, swapped)


def test_node_order_and_output_order_differ():
    graph = diamond()
    reordered = diamond()
    reordered.nodes[0], reordered.nodes[1] = reordered.nodes[1], reordered.nodes[0]
    assert_different(graph, reordered)
    outputs = diamond()
    outputs.outputs = outputs.outputs[::-1]
    assert_different(graph, outputs)


def test_output_types_are_compared():
    other = mlp()
    other.nodes[1].outputs[0].type = TensorType(DType.float64, ("N", 8))
    assert_different(mlp(), other)


def with_constant(data) -> Graph:
    graph = Graph("c")
    x = graph.add_input("x", f32(2))
    c = graph.add_constant("c", np.asarray(data, np.float32))
    graph.outputs = [graph.add_node("elemwise_add", [x, c]).outputs[0]]
    return graph


def test_constant_data_counts_for_equality_but_not_for_the_default_hash():
    a, b = with_constant([1.0, 2.0]), with_constant([1.0, 3.0])
    assert not structurally_equal(a, b)
    assert structural_hash(a) == structural_hash(b)
    assert structural_hash(a, include_constant_data=True) != structural_hash(
        b, include_constant_data=True
    )
    assert_same(a, with_constant([1.0, 2.0]))


def test_constant_types_count_for_the_hash():
    graph = with_constant([1.0, 2.0])
    other = with_constant([1.0, 2.0])
    other.constants[0].type = TensorType(DType.float64, (2,))
    other.constants[0].const = np.array([1.0, 2.0])
    assert structural_hash(graph) != structural_hash(other)


def test_nan_attributes_and_constants_compare_equal_to_themselves():
    a, b = with_constant([np.nan, 1.0]), with_constant([np.nan, 1.0])
    assert_same(a, b)
