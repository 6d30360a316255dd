"""Algebraic simplification: identity reshapes, transposes and casts, x*1, x+0, -(-x), pairs.

Each rule looks at one node and returns the values that replace its outputs, a reason it
does not apply (recorded with `skip`, so `explain` and the tests can show it), or None when
the node is not its business. Replaced nodes are removed when nothing else reads them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hybrix.ir import DType, Graph, HybrixError, Node, Value
from hybrix.passes._rewrite import make_node, remove_dead
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["RULES", "simplify"]

_Result = list[Value] | str | None
_Rule = Callable[[Graph, Node], _Result]

_RESHAPES = ("Reshape", "Flatten")
_ONE_SCALAR = ("_mul_scalar", "_div_scalar", "_power_scalar")
_ZERO_SCALAR = ("_plus_scalar", "_minus_scalar")
_MUL = ("elemwise_mul", "broadcast_mul")
_ADD = ("elemwise_add", "broadcast_add")
_SUB = ("elemwise_sub", "broadcast_sub")
# NOTE: every value of the key dtype is exactly representable in each listed wider dtype,
# so Cast there and back is the identity (f32 -> f64 -> f32 is exact; f32 -> f16 is not).
_WIDER: dict[DType, tuple[DType, ...]] = {
    DType.float16: (DType.float32, DType.float64),
    DType.bfloat16: (DType.float32, DType.float64),
    DType.float32: (DType.float64,),
    DType.int8: (DType.int16, DType.int32, DType.int64, DType.float32, DType.float64),
    DType.uint8: (DType.int16, DType.int32, DType.int64, DType.float32, DType.float64),
    DType.int16: (DType.int32, DType.int64, DType.float32, DType.float64),
    DType.int32: (DType.int64, DType.float64),
    DType.bool: (DType.int8, DType.uint8, DType.int32, DType.int64, DType.float32),
}


def _producer(value: Value, ops: tuple[str, ...]) -> Node | None:
    node = value.producer
    return node if node is not None and node.op in ops else None


def identity_reshape(graph: Graph, node: Node) -> _Result:
    if node.op not in _RESHAPES:
        return None
    source = node.inputs[0]
    if node.outputs[0].type != source.type:
        return f"{node.op} changes the shape {source.shape} -> {node.outputs[0].shape}"
    return [source]


def identity_transpose(graph: Graph, node: Node) -> _Result:
    if node.op != "transpose":
        return None
    perm = _permutation(node)
    if perm != tuple(range(len(perm))):
        if _producer(node.inputs[0], ("transpose",)) is None:
            return f"transpose permutes the axes {perm}"
        return None  # transpose_pair handles it
    return [node.inputs[0]]


def _permutation(node: Node) -> tuple[int, ...]:
    rank = len(node.inputs[0].shape)
    axes = tuple(node.attrs["axes"]) or tuple(reversed(range(rank)))
    return tuple(a % rank for a in axes)


def transpose_pair(graph: Graph, node: Node) -> _Result:
    inner = _producer(node.inputs[0], ("transpose",)) if node.op == "transpose" else None
    if inner is None:
        return None
    first, second = _permutation(inner), _permutation(node)
    combined = tuple(first[a] for a in second)
    if combined == tuple(range(len(combined))):
        return [inner.inputs[0]]
    merged = make_node(graph, "transpose", [inner.inputs[0]], {"axes": combined}, node, node.name)
    return list(merged.outputs)


def identity_cast(graph: Graph, node: Node) -> _Result:
    if node.op != "Cast":
        return None
    source = node.inputs[0]
    if source.dtype == node.attrs["dtype"]:
        return [source]
    inner = _producer(source, ("Cast",))
    if inner is None:
        return None
    original = inner.inputs[0]
    if original.dtype != node.attrs["dtype"]:
        return None
    if source.dtype not in _WIDER.get(original.dtype, ()):
        return f"Cast through {source.dtype.name} loses {original.dtype.name} values"
    return [original]


def neutral_scalar(graph: Graph, node: Node) -> _Result:
    if node.op in _ONE_SCALAR:
        neutral = 1.0
    elif node.op in _ZERO_SCALAR:
        neutral = 0.0
    else:
        return None
    if node.attrs["scalar"] != neutral:
        return f"{node.op} scalar is {node.attrs['scalar']}, not {neutral}"
    return [node.inputs[0]]


def neutral_operand(graph: Graph, node: Node) -> _Result:
    """x * ones, ones * x, x + zeros, zeros + x, x - zeros with a constant neutral operand."""
    if node.op in _MUL:
        neutral, sides = 1, (0, 1)
    elif node.op in _ADD:
        neutral, sides = 0, (0, 1)
    elif node.op in _SUB:
        neutral, sides = 0, (1,)
    else:
        return None
    reason = None
    for side in sides:
        operand, other = node.inputs[side], node.inputs[1 - side]
        if not operand.is_constant:
            continue
        if not np.all(np.asarray(operand.const) == neutral):
            reason = f"constant operand %{operand.name} is not all {neutral}"
        elif other.type != node.outputs[0].type:
            reason = f"constant operand %{operand.name} broadcasts {other.shape} to a larger shape"
        else:
            return [other]
    return reason


def double_negation(graph: Graph, node: Node) -> _Result:
    if node.op != "negative":
        return None
    inner = _producer(node.inputs[0], ("negative",))
    return None if inner is None else [inner.inputs[0]]


def remove_identity(graph: Graph, node: Node) -> _Result:
    return [node.inputs[0]] if node.op == "identity" else None


def reshape_pair(graph: Graph, node: Node) -> _Result:
    inner = _producer(node.inputs[0], _RESHAPES) if node.op in _RESHAPES else None
    if inner is None:
        return None
    target = node.outputs[0].shape
    symbolic = [d for d in target if not isinstance(d, int)]
    if len(symbolic) > 1:
        return f"target shape {target} has {len(symbolic)} symbolic dims (Reshape infers one)"
    shape = tuple(d if isinstance(d, int) else -1 for d in target)
    try:
        merged = make_node(graph, "Reshape", [inner.inputs[0]], {"shape": shape}, node, node.name)
    except HybrixError as e:
        return f"Reshape to {shape} fails: {e}"
    if merged.outputs[0].type != node.outputs[0].type:
        graph.remove(merged)
        return f"Reshape to {shape} does not give {node.outputs[0].type}"
    return list(merged.outputs)


RULES: list[_Rule] = [
    remove_identity,
    identity_reshape,
    reshape_pair,
    transpose_pair,
    identity_transpose,
    identity_cast,
    neutral_scalar,
    neutral_operand,
    double_negation,
]


@graph_pass(requires=(), invalidates=("memory_plan",))
def simplify(graph: Graph) -> bool:
    """Apply every rule of RULES to every node once (the pass manager repeats to a fixpoint)."""
    changed = False
    for node in list(graph.nodes):
        if node.graph is not graph:
            continue
        for rule in RULES:
            result = rule(graph, node)
            if isinstance(result, str):
                skip(f"{rule.__name__}: {node.name}: {result}")
            elif result is not None:
                _replace(graph, node, result)
                note(f"{rule.__name__}: {node.op} node {node.name}")
                changed = True
                break
    return changed


def _replace(graph: Graph, node: Node, values: list[Value]) -> None:
    inner = [v.producer for v in node.inputs if v.producer is not None]
    for old, new in zip(node.outputs, values, strict=True):
        graph.replace_all_uses(old, new)
    graph.remove(node)
    for producer in inner:
        remove_dead(graph, producer)
