"""Remove Dropout that does nothing: not training (MXNet's predict mode) or p == 0.

MXNet's Dropout is the identity unless it runs in training or with mode='always'
(src/operator/nn/dropout-inl.h); an unused PRNG key input stays a graph input.
"""

from __future__ import annotations

from hybrix.ir import Graph, Node
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["remove_dropout"]


@graph_pass(requires=(), invalidates=("memory_plan",))
def remove_dropout(graph: Graph) -> bool:
    """Replace every inactive Dropout by its input."""
    changed = False
    for node in list(graph.nodes):
        if node.op != "Dropout":
            continue
        reason = _why_not(node)
        if reason is not None:
            skip(f"{node.name}: {reason}")
            continue
        graph.replace_all_uses(node.outputs[0], node.inputs[0])
        graph.remove(node)
        note(f"removed Dropout {node.name}")
        changed = True
    return changed


def _why_not(node: Node) -> str | None:
    attrs = node.attrs
    if attrs["p"] == 0:
        return None
    if attrs["mode"] == "always":
        return "Dropout mode='always' drops at inference too"
    if attrs["training"]:
        return "Dropout runs in training mode (training=True)"
    return None
