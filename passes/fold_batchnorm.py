"""Fold an inference BatchNorm into the Convolution or FullyConnected that feeds it.

BatchNorm with moving statistics is y = (x - mean) * s + beta with s = gamma / sqrt(var +
eps) (gamma taken as 1 under fix_gamma), per output channel. When x = conv(data, W) + b,
y = conv(data, W * s) + (b - mean) * s + beta: one node and two new constants. This needs
the parameters as constants (`freeze_params`), and the conv's output must have no other
reader. BatchNorm's hidden new_moving_* outputs are the moving statistics passed through
in inference, so their readers read those constants instead.
"""

from __future__ import annotations

import numpy as np

from hybrix.ir import Graph, Node, Value
from hybrix.passes._rewrite import consumers, is_output, make_node
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["fold_batchnorm"]

_PRODUCERS = ("Convolution", "FullyConnected")


@graph_pass(requires=(), invalidates=("memory_plan",))
def fold_batchnorm(graph: Graph) -> bool:
    """Fold every foldable inference BatchNorm into its producer."""
    changed = False
    for node in list(graph.nodes):
        if node.op != "BatchNorm" or node.graph is not graph:
            continue
        reason = _why_not(graph, node)
        if reason is not None:
            skip(f"{node.name}: {reason}")
            continue
        producer = node.inputs[0].producer
        assert producer is not None  # checked by _why_not
        _fold(graph, node, producer)
        note(f"folded BatchNorm {node.name} into {producer.op} {producer.name}")
        changed = True
    return changed


def _why_not(graph: Graph, node: Node) -> str | None:
    """None when the BatchNorm can be folded, else why not."""
    attrs = node.attrs
    if attrs["training"] and not attrs["use_global_stats"]:
        return "BatchNorm uses batch statistics (training=True)"
    if attrs["output_mean_var"]:
        return "BatchNorm shows its mean and var (output_mean_var=True)"
    for value in node.inputs[1:]:
        if not value.is_constant:
            return f"BatchNorm parameter %{value.name} is not a constant (freeze_params first)"
    producer = node.inputs[0].producer
    if producer is None or producer.op not in _PRODUCERS:
        what = "a graph input" if producer is None else producer.op
        return f"producer {what} is not Convolution or FullyConnected"
    return _producer_reason(graph, node, producer)


def _producer_reason(graph: Graph, node: Node, producer: Node) -> str | None:
    output = producer.outputs[0]
    users = len(consumers(output)) + (1 if is_output(graph, output) else 0)
    if users > 1:
        return f"{producer.op} output %{output.name} has {users} consumers"
    for value in producer.inputs[1:]:
        if not value.is_constant:
            return f"{producer.op} parameter %{value.name} is not a constant"
    if not output.dtype.is_float:
        return f"{producer.op} output is {output.dtype.name}, expected a float dtype"
    axis = node.attrs["axis"] % output.type.rank
    if axis != _channel_axis(producer):
        return f"BatchNorm axis {node.attrs['axis']} is not the {producer.op} channel axis"
    return None


def _channel_axis(producer: Node) -> int:
    rank = producer.outputs[0].type.rank
    if producer.op == "FullyConnected":
        return rank - 1
    layout = producer.attrs.get("layout")
    return rank - 1 if layout is not None and layout.endswith("C") else 1


def _fold(graph: Graph, node: Node, producer: Node) -> None:
    gamma, beta, mean, var = (np.asarray(v.const, np.float64) for v in node.inputs[1:])
    if node.attrs["fix_gamma"]:
        gamma = np.ones_like(gamma)
    scale = gamma / np.sqrt(var + node.attrs["eps"])
    weight_value = producer.inputs[1]
    dtype = weight_value.dtype.numpy
    # NOTE: per-channel statistics in float64; the (large) weight is scaled in its own dtype
    weight = weight_value.const * scale.astype(dtype).reshape(
        (-1,) + (1,) * (weight_value.const.ndim - 1)
    )
    bias = np.zeros_like(scale) if producer.attrs["no_bias"] else producer.inputs[2].const
    bias = (np.asarray(bias, np.float64) - mean) * scale + beta
    new_weight = graph.add_constant(graph.fresh_name(f"{producer.name}_folded_weight"), weight)
    new_bias = graph.add_constant(
        graph.fresh_name(f"{producer.name}_folded_bias"), bias.astype(dtype)
    )
    attrs = {**producer.attrs, "no_bias": False}
    inputs = [producer.inputs[0], new_weight, new_bias]
    folded = make_node(graph, producer.op, inputs, attrs, node, producer.name)
    _rewire(graph, node, folded.outputs[0])
    graph.remove(node)
    graph.remove(producer)


def _rewire(graph: Graph, node: Node, output: Value) -> None:
    graph.replace_all_uses(node.outputs[0], output)
    # NOTE: in inference new_moving_mean/var are the moving statistics passed through.
    moving_mean, moving_var = node.inputs[3], node.inputs[4]
    graph.replace_all_uses(node.outputs[-2], moving_mean)
    graph.replace_all_uses(node.outputs[-1], moving_var)
