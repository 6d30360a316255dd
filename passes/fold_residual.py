"""Fold a Convolution into the add + relu group that reads it: a residual block's end.

ResNet blocks end `relu(conv(x) + shortcut)`. After elementwise fusion that is a Convolution
feeding a `_fused` (add -> relu) group; folded, the group is Convolution -> add -> relu, which
the native CPU kernel runs as one convolution with the shortcut added in its epilogue
(compiler/autotune `conv_relu_group`), and anything else lowers by walking the body as
before. MXNet's oneDNN backend fuses the same pattern (`_sg_mkldnn_conv` with `with_sum`).
A Convolution whose output has other readers, or an add that broadcasts, is left alone.
"""

from __future__ import annotations

from hybrix.ir import Graph, Node, Value, get_op
from hybrix.passes._rewrite import consumers, inline_fused, is_output
from hybrix.passes.fuse import build_fused
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["ADDS", "fold_residual", "is_relu"]

ADDS = ("elemwise_add", "broadcast_add")  # canonical names of the adds a group may end with


@graph_pass(requires=(), invalidates=("memory_plan",))
def fold_residual(graph: Graph) -> bool:
    """Fold every Convolution that only feeds an add -> relu group into that group."""
    changed = False
    for node in list(graph.nodes):
        if node.op != "_fused" or node.graph is not graph:
            continue
        conv, reason = _foldable(graph, node)
        if conv is None:
            if reason:
                skip(f"{node.name}: {reason}")
            continue
        inner = inline_fused(graph, node)
        fused = build_fused(graph, [conv, *inner], inner[-1])
        note(f"folded Convolution {conv.name} into the add -> relu group {fused.name}")
        changed = True
    return changed


def is_relu(node: Node) -> bool:
    return node.op == "relu" or (node.op == "Activation" and node.attrs.get("act_type") == "relu")


def _foldable(graph: Graph, node: Node) -> tuple[Node | None, str | None]:
    """(the Convolution to fold, None), or (None, why not; None when it is no add -> relu)."""
    body = node.attrs.get("graph")
    if not isinstance(body, Graph) or body.constants or len(body.outputs) != 1:
        return None, None
    nodes = list(body.nodes)
    if len(nodes) != 2 or get_op(nodes[0].op).name not in ADDS or not is_relu(nodes[1]):
        return None, None
    add, relu = nodes
    if relu.inputs[0] is not add.outputs[0] or len(add.inputs) != 2:
        return None, None
    if add.inputs[0].type.shape != add.inputs[1].type.shape:
        return None, "the add broadcasts"
    for inner in add.inputs:
        outer = _outer(body, node, inner)
        producer = outer.producer if outer is not None else None
        if producer is None or producer.op != "Convolution" or producer.graph is not graph:
            continue
        if len(consumers(outer)) == 1 and not is_output(graph, outer) and len(inner.uses) == 1:
            return producer, None
    return None, "no addend is a Convolution read only here"


def _outer(body: Graph, node: Node, inner: Value) -> Value | None:
    """The outer value a body input stands for."""
    for value, outer in zip(body.inputs, node.inputs, strict=True):
        if value is inner:
            return outer
    return None
