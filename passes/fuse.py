"""Elementwise fusion: maximal groups of elementwise/broadcast ops become one `_fused` node.

Groups grow from their last node (the root) towards their producers, as XLA's loop fusion
does: a producer joins when it is elementwise and every reader of its output is already
in the group (so the group has one way out, through the root, and stays convex). A
reduction may be a group's root, never inside one. Every place a group stops growing is a
cut, recorded with its reason; `explain` prints them.
"""

from __future__ import annotations

from hybrix.ir import Graph, Node, Value
from hybrix.ir.ops.fused import _UFUNCS
from hybrix.passes._rewrite import consumers, is_output, make_node
from hybrix.passes.manager import detail, graph_pass, note, skip

__all__ = ["ELEMENTWISE", "REDUCTIONS", "build_fused", "fuse_elementwise"]

_BINARY = (
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "power",
    "maximum",
    "minimum",
    "hypot",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "lesser",
    "lesser_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
)
_SAME_SHAPE = {
    "add": "elemwise_add",
    "sub": "elemwise_sub",
    "mul": "elemwise_mul",
    "div": "elemwise_div",
}
_SCALAR = (
    "plus",
    "minus",
    "rminus",
    "mul",
    "div",
    "rdiv",
    "power",
    "rpower",
    "maximum",
    "minimum",
    "mod",
    "rmod",
    "hypot",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "lesser",
    "lesser_equal",
)
_UNARY = (
    "reciprocal",
    "sign",
    "rsqrt",
    "rcbrt",
    "round",
    "fix",
    "sigmoid",
    "relu",
    "softsign",
    "erf",
    "erfinv",
    "gamma",
    "gammaln",
    "ones_like",
    "zeros_like",
    "identity",
    "logical_not",
    "BlockGrad",
    "clip",
    "where",
    "Cast",
    "add_n",
    "smooth_l1",
    "Activation",
    "LeakyReLU",
)

# NOTE: the ops that map each output element to input elements at the same (broadcast)
# index; fusing them changes no value, only how many nodes run.
ELEMENTWISE: frozenset[str] = frozenset(
    [f"broadcast_{k}" for k in _BINARY]
    + [_SAME_SHAPE.get(k, f"_{k}") for k in _BINARY]
    + [f"_{k}_scalar" for k in _SCALAR]
    + [op for op, (_, form) in _UFUNCS.items() if form == "a"]
    + list(_UNARY)
)
REDUCTIONS: frozenset[str] = frozenset(("sum", "mean", "prod", "max", "min", "nansum", "nanprod"))


@graph_pass(requires=(), invalidates=("memory_plan",))
def fuse_elementwise(graph: Graph) -> bool:
    """Replace every group of two or more fusible nodes by one `_fused` node."""
    assigned: set[int] = set()
    groups = []
    for root in reversed(list(graph.nodes)):
        if id(root) in assigned or not _fusible(root):
            continue
        members, cuts = _grow(graph, root, assigned)
        assigned.update(id(n) for n in members)
        cuts += _consumer_cuts(graph, root)
        groups.append((root, members, cuts))
    changed = False
    report = []
    for root, members, cuts in reversed(groups):
        for cut in cuts:
            skip(f"{root.name}: {cut}")
        if len(members) < 2:
            report.append({"node": root.name, "ops": [root.op], "cuts": cuts, "fused": False})
            continue
        node = build_fused(graph, members, root)
        ops = [n.op for n in members]
        note(f"fused {len(members)} nodes ({', '.join(ops)}) into {node.name}")
        report.append({"node": node.name, "ops": ops, "cuts": cuts, "fused": True})
        changed = True
    detail("groups", report)
    return changed


def _fusible(node: Node) -> bool:
    return node.op in ELEMENTWISE or node.op in REDUCTIONS


def _grow(graph: Graph, root: Node, assigned: set[int]) -> tuple[list[Node], list[str]]:
    """The group grown from `root` (in graph order) and why it stops at each input."""
    group = {id(root): root}
    grew = True
    while grew:
        grew = False
        for member in list(group.values()):
            for value in member.inputs:
                producer = value.producer
                if producer is None or id(producer) in group or id(producer) in assigned:
                    continue
                if _cut_reason(graph, value, group) is None:
                    group[id(producer)] = producer
                    grew = True
    cuts = []
    for member in group.values():
        for value in member.inputs:
            producer = value.producer
            if producer is not None and id(producer) not in group:
                reason = _cut_reason(graph, value, group) or f"producer {producer.name} is taken"
                cuts.append(reason)
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    return sorted(group.values(), key=lambda n: order[id(n)]), sorted(set(cuts))


def _cut_reason(graph: Graph, value: Value, group: dict[int, Node]) -> str | None:
    """Why `value`'s producer cannot join the group; None when it can."""
    producer = value.producer
    assert producer is not None
    if producer.op in REDUCTIONS:
        return f"producer {producer.op} {producer.name} is a reduction (reductions end a group)"
    if producer.op not in ELEMENTWISE:
        return f"producer {producer.op} {producer.name} is not elementwise"
    for output in producer.outputs:
        if is_output(graph, output):
            return f"value %{output.name} is a graph output"
        outside = [n for n in consumers(output) if id(n) not in group]
        if outside:
            count = len(consumers(output))
            return f"value %{output.name} has {count} consumers, {len(outside)} outside the group"
    return None


def _consumer_cuts(graph: Graph, root: Node) -> list[str]:
    cuts = []
    for value in root.outputs:
        readers = consumers(value)
        for reader in readers:
            if not _fusible(reader):
                cuts.append(f"consumer {reader.op} {reader.name} is not elementwise")
            elif root.op in REDUCTIONS:
                cuts.append(f"root {root.op} {root.name} is a reduction (reductions end a group)")
        if len(readers) > 1:
            cuts.append(f"value %{value.name} has {len(readers)} consumers")
    return sorted(set(cuts))


def build_fused(graph: Graph, members: list[Node], root: Node) -> Node:
    """Replace `members` (in graph order, all but `root` read only inside) by one `_fused`."""
    inside = {id(v) for n in members for v in n.outputs}
    external: list[Value] = []
    for member in members:
        for value in member.inputs:
            if id(value) not in inside and all(value is not v for v in external):
                external.append(value)
    body = Graph(f"{root.name}_body")
    mapping: dict[int, Value] = {}
    for value in external:
        mapping[id(value)] = body.add_input(body.fresh_name(value.name), value.type)
    for member in members:
        outputs = [Value(body.fresh_name(v.name), v.type) for v in member.outputs]
        copy = Node(
            member.op,
            [mapping[id(v)] for v in member.inputs],
            outputs,
            dict(member.attrs),
            member.name,
        )
        body.append(copy)
        for old, new in zip(member.outputs, outputs, strict=True):
            mapping[id(old)] = new
    body.outputs = [mapping[id(v)] for v in root.outputs]
    fused = make_node(graph, "_fused", external, {"graph": body}, root, f"fused_{root.name}")
    for old, new in zip(root.outputs, fused.outputs, strict=True):
        graph.replace_all_uses(old, new)
    for member in reversed(members):
        graph.remove(member)
    return fused
