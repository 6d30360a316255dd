"""Dead code elimination: drop nodes and constants that no graph output depends on.

A node is live when one of its outputs reaches a graph output. That covers the nodes with
effects MXNet has: a BatchNorm whose moving-statistics updates are graph outputs (the
frontend writes them back) stays, and so does a random op whose sample is returned; a
random op whose sample is unused is dead, as its key is a graph input and nothing else
observes the draw. Graph inputs are never removed (they are the signature).
"""

from __future__ import annotations

from hybrix.ir import Graph, Node, Value
from hybrix.passes.manager import graph_pass, note

__all__ = ["eliminate_dead_code"]


@graph_pass(requires=(), invalidates=("memory_plan",))
def eliminate_dead_code(graph: Graph) -> bool:
    """Remove nodes whose outputs reach no graph output, then unused constants."""
    live = _live_nodes(graph)
    changed = False
    for node in reversed(list(graph.nodes)):
        if id(node) not in live:
            graph.remove(node)
            note(f"removed {node.op} node {node.name}")
            changed = True
    used = {id(v) for node in graph.nodes for v in _reads(node)} | {id(v) for v in graph.outputs}
    for value in list(graph.constants):
        if id(value) not in used:
            graph.constants.remove(value)
            note(f"removed unused constant %{value.name}")
            changed = True
    return changed


def _live_nodes(graph: Graph) -> set[int]:
    live: set[int] = set()
    stack = [v.producer for v in graph.outputs if v.producer is not None]
    while stack:
        node = stack.pop()
        if id(node) in live:
            continue
        live.add(id(node))
        stack.extend(v.producer for v in _reads(node) if v.producer is not None)
    return live


def _reads(node: Node) -> list[Value]:
    """The node's inputs and the outer values its nested graphs read."""
    values = list(node.inputs)
    for attr in node.attrs.values():
        if isinstance(attr, Graph):
            values += _outer_reads(attr)
    return values


def _outer_reads(graph: Graph) -> list[Value]:
    own = {id(v) for v in graph.values()}
    reads = [v for node in graph.nodes for v in _reads(node) if id(v) not in own]
    return reads + [v for v in graph.outputs if id(v) not in own]
