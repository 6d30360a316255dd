"""Re-infer every value's type, first filling unknown ("?") dimensions of graph inputs.

MXNet infers shapes in both directions: a FullyConnected weight declared without a shape
gets (num_hidden, in_units) from the data and attributes (src/operator/nn/fully_connected.cc,
FullyConnectedShape assigns the weight and bias shapes). hybrix marks such a dimension "?"
(as MXNet 1.x writes 0); `BACKWARD_RULES` states, per op, the input shapes its data and
attributes imply, and this pass fills the unknown dims of graph inputs from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybrix.ir import Graph, Node, ShapeError, TensorType, Value, get_op
from hybrix.ir.types import Dim, dim_prod
from hybrix.passes.manager import graph_pass, note

__all__ = ["BACKWARD_RULES", "UNKNOWN", "infer_types", "is_unknown"]

UNKNOWN = "?"
_Rule = Callable[[list[TensorType], dict[str, Any]], dict[int, tuple[Dim, ...]]]


def is_unknown(dim: Dim) -> bool:
    return dim == UNKNOWN


def _fc_rule(types: list[TensorType], attrs: dict[str, Any]) -> dict[int, tuple[Dim, ...]]:
    data, hidden = types[0], attrs["num_hidden"]
    in_units = dim_prod(data.shape[1:]) if attrs["flatten"] else data.shape[-1]
    return {1: (hidden, in_units), 2: (hidden,)}


def _conv_rule(types: list[TensorType], attrs: dict[str, Any]) -> dict[int, tuple[Dim, ...]]:
    data, filters, kernel = types[0], attrs["num_filter"], tuple(attrs["kernel"])
    layout = attrs.get("layout")
    if layout is not None and layout.endswith("C"):  # channels last: (F, *kernel, C/g)
        channels = _per_group(data.shape[-1], attrs["num_group"])
        return {1: (filters, *kernel, channels), 2: (filters,)}
    channels = _per_group(data.shape[1], attrs["num_group"])
    return {1: (filters, channels, *kernel), 2: (filters,)}


def _per_group(channels: Dim, groups: int) -> Dim:
    if isinstance(channels, int):
        return channels // groups
    return UNKNOWN if groups != 1 else channels


def _channel_rule(count: int) -> _Rule:
    def rule(types: list[TensorType], attrs: dict[str, Any]) -> dict[int, tuple[Dim, ...]]:
        data = types[0]
        axis = attrs.get("axis", 1) % max(data.rank, 1)
        return dict.fromkeys(range(1, 1 + count), (data.shape[axis],))

    return rule


def _embedding_rule(types: list[TensorType], attrs: dict[str, Any]) -> dict[int, tuple[Dim, ...]]:
    return {1: (attrs["input_dim"], attrs["output_dim"])}


BACKWARD_RULES: dict[str, _Rule] = {
    "FullyConnected": _fc_rule,
    "Convolution": _conv_rule,
    "BatchNorm": _channel_rule(4),
    "LayerNorm": _channel_rule(2),
    "InstanceNorm": _channel_rule(2),
    "Embedding": _embedding_rule,
}


@graph_pass(requires=(), invalidates=("memory_plan",))
def infer_types(graph: Graph) -> bool:
    """Fill "?" dims of inputs from their consumers, then re-infer every node's output types."""
    changed = False
    for node in graph.nodes:
        changed |= _fill_inputs(graph, node)
        changed |= _reinfer(node)
    return changed


def _fill_inputs(graph: Graph, node: Node) -> bool:
    rule = BACKWARD_RULES.get(node.op)
    if rule is None or not any(_has_unknown(v) for v in node.inputs):
        return False
    expected = rule([v.type for v in node.inputs], node.attrs)
    changed = False
    for position, shape in expected.items():
        if position >= len(node.inputs):
            continue
        value = node.inputs[position]
        if _has_unknown(value) and any(value is v for v in graph.inputs):
            changed |= _fill(value, shape, node)
    return changed


def _has_unknown(value: Value) -> bool:
    return any(is_unknown(d) for d in value.shape)


def _fill(value: Value, expected: tuple[Dim, ...], node: Node) -> bool:
    if len(expected) != len(value.shape):
        raise ShapeError(
            f"node {node.name} ({node.op}): input %{value.name} has shape {value.shape}, "
            f"expected rank {len(expected)} {expected}"
        )
    shape = tuple(e if is_unknown(d) else d for d, e in zip(value.shape, expected, strict=True))
    if shape == value.shape:
        return False
    note(f"%{value.name}: {value.type} -> {value.type.with_shape(shape)} from {node.name}")
    value.type = value.type.with_shape(shape)
    return True


def _reinfer(node: Node) -> bool:
    types = get_op(node.op).infer_types([v.type for v in node.inputs], node.attrs, node.name)
    changed = False
    for value, type in zip(node.outputs, types, strict=True):
        if value.type != type:
            note(f"%{value.name}: {value.type} -> {type}")
            value.type = type
            changed = True
    return changed
