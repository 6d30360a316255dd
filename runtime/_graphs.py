"""Moving a bundle's parameters between graph constants and trailing graph inputs.

A bundle stores its graph with every constant turned into an input placed after the real
inputs (the data lives in params.bin), so the IR stays small and every executor calls the
program as f(*inputs, *params). `rebuild` converts both ways, keeping names and order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from hybrix.ir import Graph, GraphError, Node, Value

__all__ = ["rebuild"]


def rebuild(
    graph: Graph,
    *,
    to_inputs: Collection[str] = (),
    to_constants: Mapping[str, np.ndarray] | None = None,
) -> Graph:
    """A copy of `graph` with the constants in `to_inputs` made inputs (after the others)
    and the inputs in `to_constants` made constants holding those arrays."""
    to_constants = to_constants or {}
    names = {value.name for value in (*graph.inputs, *graph.constants)}
    unknown = sorted((set(to_inputs) | set(to_constants)) - names)
    if unknown:
        raise GraphError(f"graph {graph.name} has no input or constant named {unknown}")
    new = Graph(graph.name)
    mapping: dict[int, Value] = {}
    for value in graph.inputs:
        if value.name not in to_constants:
            mapping[id(value)] = new.add_input(value.name, value.type)
    for value in graph.constants:
        if value.name in to_inputs:
            mapping[id(value)] = new.add_input(value.name, value.type)
    for value in graph.inputs:
        if value.name in to_constants:
            mapping[id(value)] = _constant(new, value, to_constants[value.name])
    for value in graph.constants:
        if value.name not in to_inputs:
            mapping[id(value)] = new.add_constant(value.name, value.const)
    for node in graph.nodes:
        outputs = [Value(value.name, value.type) for value in node.outputs]
        inputs = [mapping[id(value)] for value in node.inputs]
        new.append(Node(node.op, inputs, outputs, node.attrs, node.name))
        mapping.update((id(old), out) for old, out in zip(node.outputs, outputs, strict=True))
    new.outputs = [mapping[id(value)] for value in graph.outputs]
    return new


def _constant(graph: Graph, value: Value, array: np.ndarray) -> Value:
    array = np.asarray(array)
    if array.shape != value.shape or array.dtype != value.dtype.numpy:
        raise GraphError(
            f"graph {graph.name}: parameter %{value.name} is {value.type}, "
            f"its data is {array.dtype}{list(array.shape)}"
        )
    return graph.add_constant(value.name, array)
