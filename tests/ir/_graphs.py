"""Small graphs built with real ops, shared by the IR tests."""

from __future__ import annotations

from hybrix.ir import DType, Graph, TensorType

F32 = DType.float32


def f32(*shape: int | str) -> TensorType:
    return TensorType(F32, tuple(shape))


def mlp() -> Graph:
    """The STYLE.md example: FullyConnected then relu, batch size symbolic."""
    graph = Graph("mlp")
    x = graph.add_input("x", f32("N", 4))
    w = graph.add_input("w", f32(8, 4))
    b = graph.add_input("b", f32(8))
    h = graph.add_node("FullyConnected", [x, w, b], {"num_hidden": 8}, name="h").outputs[0]
    y = graph.add_node("Activation", [h], {"act_type": "relu"}, name="y").outputs[0]
    graph.outputs = [y]
    return graph


def diamond() -> Graph:
    """x feeds two nodes whose results are added; split gives two outputs."""
    graph = Graph("diamond")
    x = graph.add_input("x", f32(2, 6))
    a = graph.add_node("relu", [x], name="a").outputs[0]
    b = graph.add_node("sigmoid", [x], name="b").outputs[0]
    s = graph.add_node("elemwise_add", [a, b], name="s").outputs[0]
    parts = graph.add_node("split", [s], {"num_outputs": 2}, name="p").outputs
    graph.outputs = [*parts, s]
    return graph
