"""Evaluate nodes and graphs with the ops' numpy `ref` kernels (constant folding, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hybrix.ir import Graph, HybrixError, Node, get_op

__all__ = ["evaluate_graph", "evaluate_node"]


def evaluate_node(node: Node, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The node's outputs from its op's numpy kernel, cast to the stored output dtypes."""
    opdef = get_op(node.op)
    if opdef.ref_fn is None:
        raise HybrixError(f"node {node.name}: {node.op} has no numpy kernel")
    result = opdef.ref_fn(*arrays, **node.attrs)
    outputs = list(result) if isinstance(result, tuple | list) else [result]
    if len(outputs) != len(node.outputs):
        raise HybrixError(
            f"node {node.name}: {node.op}'s kernel gave {len(outputs)} outputs, "
            f"expected {len(node.outputs)}"
        )
    return [
        np.asarray(array).astype(value.dtype.numpy, copy=False)
        for array, value in zip(outputs, node.outputs, strict=True)
    ]


def evaluate_graph(graph: Graph, inputs: Sequence[Any]) -> list[np.ndarray]:
    """Run the graph node by node with numpy kernels; returns the graph outputs."""
    if len(inputs) != len(graph.inputs):
        raise HybrixError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    env: dict[int, np.ndarray] = {}
    for value, array in zip(graph.inputs, inputs, strict=True):
        env[id(value)] = np.asarray(array)
    for value in graph.constants:
        env[id(value)] = np.asarray(value.const)
    for node in graph.nodes:
        outputs = evaluate_node(node, [env[id(v)] for v in node.inputs])
        for value, array in zip(node.outputs, outputs, strict=True):
            env[id(value)] = array
    return [env[id(v)] for v in graph.outputs]
