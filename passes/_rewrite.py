"""Small graph-editing helpers shared by the passes: build a node in place, count uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybrix.ir import Graph, Node, Value, get_op

__all__ = [
    "consumers",
    "inline_fused",
    "is_output",
    "make_node",
    "remove_dead",
    "replace_node",
    "single_use",
]


def make_node(
    graph: Graph,
    op: str,
    inputs: Sequence[Value],
    attrs: Mapping[str, Any],
    anchor: Node | None,
    name: str,
) -> Node:
    """A node of `op` inserted before `anchor` (at the end when None), types inferred."""
    opdef = get_op(op)
    node_name = graph.fresh_name(name)
    full_attrs = opdef.check_attrs(attrs, node_name)
    types = opdef.infer_types([v.type for v in inputs], full_attrs, node_name)
    names: list[str] = []
    for i in range(len(types)):
        base = node_name if i == 0 else f"{node_name}_{i}"
        candidate = graph.fresh_name(base)
        while candidate in names:  # NOTE: fresh_name does not reserve the names it gives
            candidate = graph.fresh_name(f"{candidate}_")
        names.append(candidate)
    outputs = [Value(n, type) for n, type in zip(names, types, strict=True)]
    node = Node(opdef.name, inputs, outputs, full_attrs, node_name)
    graph.insert_before(anchor, node)
    return node


def consumers(value: Value) -> list[Node]:
    """The distinct nodes reading `value`, in first-use order."""
    seen: dict[int, Node] = {}
    for node, _ in value.uses:
        seen.setdefault(id(node), node)
    return list(seen.values())


def is_output(graph: Graph, value: Value) -> bool:
    return any(v is value for v in graph.outputs)


def single_use(graph: Graph, value: Value) -> bool:
    """Read by exactly one node (at one or more positions) and not a graph output."""
    return len(consumers(value)) == 1 and not is_output(graph, value)


def replace_node(graph: Graph, old: Node, new_outputs: Sequence[Value]) -> None:
    """Make every use of old's outputs read `new_outputs`, then remove `old`."""
    for value, new in zip(old.outputs, new_outputs, strict=True):
        if value is not new:
            graph.replace_all_uses(value, new)
    graph.remove(old)


def remove_dead(graph: Graph, node: Node) -> bool:
    """Remove `node` when none of its outputs is used; whether it was removed."""
    if node.graph is not graph:
        return False
    if any(v.uses or is_output(graph, v) for v in node.outputs):
        return False
    graph.remove(node)
    return True


def inline_fused(graph: Graph, fused: Node) -> list[Node]:
    """Copy a `_fused` node's body into `graph` in its place; returns the copies."""
    body: Graph = fused.attrs["graph"]
    mapping = {id(v): outer for v, outer in zip(body.inputs, fused.inputs, strict=True)}
    copies = []
    for node in body.nodes:
        inputs = [mapping[id(v)] for v in node.inputs]
        copy = make_node(graph, node.op, inputs, node.attrs, fused, node.name)
        mapping.update({id(v): c for v, c in zip(node.outputs, copy.outputs, strict=True)})
        copies.append(copy)
    for old, new in zip(fused.outputs, body.outputs, strict=True):
        graph.replace_all_uses(old, mapping[id(new)])
    graph.remove(fused)
    return copies
