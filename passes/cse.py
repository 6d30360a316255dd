"""Common subexpression elimination: one node for each distinct (op, attrs, inputs).

Random ops are never merged (two draws are two samples even with equal attributes), nor
are nodes holding nested graphs (compared by identity, as their bodies may read outer
values). Nodes with no inputs (`_zeros`, `_arange`) merge like any other.
"""

from __future__ import annotations

from typing import Any

from hybrix.ir import Graph, Node, get_op
from hybrix.ir.compare import _attr_key
from hybrix.passes._rewrite import replace_node
from hybrix.passes.manager import graph_pass, note

__all__ = ["eliminate_common_subexpressions"]


@graph_pass(requires=(), invalidates=("memory_plan",))
def eliminate_common_subexpressions(graph: Graph) -> bool:
    """Replace each node that repeats an earlier one's computation with the earlier one."""
    seen: dict[Any, Node] = {}
    changed = False
    for node in list(graph.nodes):
        key = _key(node)
        if key is None:
            continue
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = node
            continue
        replace_node(graph, node, earlier.outputs)
        note(f"{node.op} node {node.name} repeats {earlier.name}")
        changed = True
    return changed


def _key(node: Node) -> Any:
    if get_op(node.op).rng or any(isinstance(a, Graph) for a in node.attrs.values()):
        return None
    attrs = tuple((name, _attr_key(node.attrs[name], True, ())) for name in sorted(node.attrs))
    types = tuple(str(v.type) for v in node.outputs)
    return (node.op, attrs, tuple(id(v) for v in node.inputs), types)
