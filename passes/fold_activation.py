"""Fold an activation into the Convolution, FullyConnected or `_fused` node that feeds it.

MXNet's inference backends fuse conv+relu (MKLDNN's subgraph `_sg_mkldnn_conv` with
`with_act`); hybrix's fused form is a `_fused` node holding the producer and the
activation, so the activation runs on the producer's output in the same kernel walk. A
producer whose output has other readers keeps its activation separate.
"""

from __future__ import annotations

from hybrix.ir import Graph, Node
from hybrix.passes._rewrite import consumers, inline_fused, is_output
from hybrix.passes.fuse import build_fused
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["ACTIVATIONS", "fold_activation"]

ACTIVATIONS = ("Activation", "relu", "sigmoid", "tanh", "softsign", "LeakyReLU")
_PRODUCERS = ("Convolution", "FullyConnected", "_fused")


@graph_pass(requires=(), invalidates=("memory_plan",))
def fold_activation(graph: Graph) -> bool:
    """Fold every foldable activation into its producer."""
    changed = False
    for node in list(graph.nodes):
        if node.op not in ACTIVATIONS or node.graph is not graph:
            continue
        reason = _why_not(graph, node)
        if reason is not None:
            skip(f"{node.name}: {reason}")
            continue
        producer = node.inputs[0].producer
        assert producer is not None
        fused = _fold(graph, producer, node)
        note(f"folded {node.op} {node.name} into {producer.op} {producer.name} as {fused.name}")
        changed = True
    return changed


def _why_not(graph: Graph, node: Node) -> str | None:
    if len(node.inputs) != 1:
        return f"{node.op} has a learned parameter input"
    producer = node.inputs[0].producer
    if producer is None:
        return "input is not produced by a node"
    if producer.op not in _PRODUCERS:
        return f"producer {producer.op} {producer.name} has no fused form"
    if len(producer.outputs) != 1:
        return f"producer {producer.name} has {len(producer.outputs)} outputs"
    value = producer.outputs[0]
    readers = len(consumers(value)) + (1 if is_output(graph, value) else 0)
    if readers > 1:
        return f"producer output %{value.name} has {readers} consumers"
    return None


def _fold(graph: Graph, producer: Node, activation: Node) -> Node:
    if producer.op != "_fused":
        return build_fused(graph, [producer, activation], activation)
    # NOTE: unpack the body back into the graph, then fuse body + activation as one group.
    inner = inline_fused(graph, producer)
    return build_fused(graph, [*inner, activation], activation)
