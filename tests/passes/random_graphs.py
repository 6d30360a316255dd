"""A hypothesis strategy of random valid graphs of registered ops, with matching inputs.

`random_graphs()` draws (ir.Graph, list of input arrays): a DAG over float32 inputs of a
few broadcast-compatible shapes, built from elementwise, broadcast, scalar, shape,
reduction, Cast, Dropout (inactive) and constant operands, with several outputs. Values
stay in a moderate range (tanh/sigmoid squash, no exp/log) so numpy and XLA agree closely.
Used by the pass tests and the memory-planning tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from hybrix.ir import DType, Graph, HybrixError, TensorType, Value, verify

__all__ = ["random_graphs"]

SHAPES = [(2, 3), (3,), (1, 3), (2, 1)]
_UNARY = ["tanh", "sigmoid", "negative", "abs", "relu", "sin", "identity", "square"]
_BINARY = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_maximum"]
_SAME = ["elemwise_add", "elemwise_mul", "elemwise_sub"]
_SCALAR = [
    ("_mul_scalar", 1.0),
    ("_mul_scalar", 0.5),
    ("_plus_scalar", 0.0),
    ("_plus_scalar", 1.5),
    ("_minus_scalar", 0.25),
]


def _f32(shape: tuple[int, ...]) -> TensorType:
    return TensorType(DType.float32, shape)


def _step(draw: Callable[..., Any], graph: Graph, pool: list[Value]) -> None:
    """Append one random node (and maybe a constant) reading values of `pool`."""
    kind = draw(
        st.sampled_from(
            [
                "unary",
                "binary",
                "same",
                "scalar",
                "shape",
                "cast",
                "reduce",
                "const",
                "dropout",
                "activation",
            ]
        )
    )
    x = draw(st.sampled_from(pool))
    if kind == "unary":
        node = graph.add_node(draw(st.sampled_from(_UNARY)), [x])
    elif kind == "activation":
        node = graph.add_node(
            "Activation", [x], {"act_type": draw(st.sampled_from(["relu", "tanh", "sigmoid"]))}
        )
    elif kind == "binary":
        node = graph.add_node(draw(st.sampled_from(_BINARY)), [x, draw(st.sampled_from(pool))])
    elif kind == "same":
        partners = [v for v in pool if v.type == x.type]
        node = graph.add_node(draw(st.sampled_from(_SAME)), [x, draw(st.sampled_from(partners))])
    elif kind == "scalar":
        op, scalar = draw(st.sampled_from(_SCALAR))
        node = graph.add_node(op, [x], {"scalar": scalar})
    elif kind == "shape":
        node = _shape_node(draw, graph, x)
    elif kind == "cast":
        wide = graph.add_node("Cast", [x], {"dtype": "float64"})
        node = graph.add_node("Cast", wide.outputs, {"dtype": "float32"})
    elif kind == "reduce":
        node = graph.add_node(
            draw(st.sampled_from(["sum", "max", "mean"])),
            [x],
            {"axis": (len(x.shape) - 1,), "keepdims": True},
        )
    elif kind == "dropout":
        node = graph.add_node("Dropout", [x], {"p": 0.5})
    else:
        value = draw(st.sampled_from([0.0, 1.0, 0.5, -2.0]))
        const = graph.add_constant(graph.fresh_name("c"), np.full(x.shape, value, np.float32))
        if draw(st.booleans()):  # a constant subexpression, for constant folding
            const = graph.add_node(draw(st.sampled_from(_UNARY)), [const]).outputs[0]
        op = draw(st.sampled_from(["broadcast_mul", "broadcast_add", "elemwise_sub"]))
        node = graph.add_node(op, [x, const] if draw(st.booleans()) else [const, x])
    pool.extend(node.outputs)


def _shape_node(draw: Callable[..., Any], graph: Graph, x: Value) -> Any:
    if len(x.shape) == 2 and draw(st.booleans()):
        inner = graph.add_node("transpose", [x])
        return graph.add_node("transpose", inner.outputs) if draw(st.booleans()) else inner
    flat = graph.add_node("Reshape", [x], {"shape": (-1,)})
    return graph.add_node("Reshape", flat.outputs, {"shape": x.shape})


@st.composite
def random_graphs(draw: Callable[..., Any], max_nodes: int = 8) -> tuple[Graph, list]:
    """(graph, inputs): a random valid graph and float32 inputs in [-2, 2]."""
    graph = Graph("random")
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    pool = [graph.add_input(f"x{i}", _f32(shape)) for i, shape in enumerate(shapes)]
    for _ in range(draw(st.integers(1, max_nodes))):
        try:
            _step(draw, graph, pool)
        except HybrixError:
            continue  # shapes that do not broadcast: draw another node
    produced = [v for v in pool if v.producer is not None] or pool
    extra = draw(st.lists(st.sampled_from(produced), max_size=2))
    graph.outputs = [produced[-1], *[v for v in extra if v is not produced[-1]]]
    verify(graph)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-2, 2, v.shape).astype(np.float32) for v in graph.inputs]
    return graph, inputs
