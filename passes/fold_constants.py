"""Constant folding: evaluate nodes whose inputs are all constants with the ops' numpy kernels.

A folded result becomes a new graph constant. Results are capped: a node is folded only
when its outputs hold at most `FOLD_LIMIT` elements or no more than its constant inputs
together, so folding never blows a small `_zeros`/`broadcast_to` up into a large parameter.
Random ops are never folded, nor ops with symbolic output shapes.
"""

from __future__ import annotations

import numpy as np

from hybrix.ir import Graph, HybrixError, Node, get_op
from hybrix.ir.types import is_static
from hybrix.passes._evaluate import evaluate_node
from hybrix.passes._rewrite import replace_node
from hybrix.passes.manager import graph_pass, note, skip

__all__ = ["FOLD_LIMIT", "fold_constants"]

FOLD_LIMIT = 1 << 16


@graph_pass(requires=(), invalidates=("memory_plan",))
def fold_constants(graph: Graph) -> bool:
    """Replace every foldable node by constants holding its outputs."""
    changed = False
    created = []
    for node in list(graph.nodes):
        if not all(v.is_constant for v in node.inputs):
            continue
        reason = _why_not(node)
        if reason is not None:
            skip(f"{node.name} ({node.op}): {reason}")
            continue
        try:
            with np.errstate(all="ignore"):
                arrays = evaluate_node(node, [np.asarray(v.const) for v in node.inputs])
        except (HybrixError, ArithmeticError, ValueError, TypeError) as e:
            skip(f"{node.name} ({node.op}): its kernel failed: {e}")
            continue
        constants = [
            graph.add_constant(graph.fresh_name(value.name), array)
            for value, array in zip(node.outputs, arrays, strict=True)
        ]
        replace_node(graph, node, constants)
        created += constants
        note(f"folded {node.op} node {node.name} into {len(constants)} constant(s)")
        changed = True
    # NOTE: intermediate results of a folded chain have no readers left; drop them.
    for value in created:
        if not value.uses and all(value is not v for v in graph.outputs):
            graph.constants.remove(value)
    return changed


def _why_not(node: Node) -> str | None:
    """None when the node may be folded, else why not."""
    opdef = get_op(node.op)
    if opdef.rng:
        return "random op (each run draws anew)"
    if opdef.ref_fn is None:
        return "no numpy kernel"
    if not all(is_static(v.shape) for v in node.outputs):
        return "output shape is symbolic"
    size = sum(int(np.prod(v.shape, dtype=np.int64)) for v in node.outputs)
    inputs = sum(int(np.asarray(v.const).size) for v in node.inputs)
    if size > max(FOLD_LIMIT, inputs):
        return f"result of {size} elements exceeds the fold limit {FOLD_LIMIT}"
    return None
