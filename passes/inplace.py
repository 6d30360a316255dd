"""In-place reuse: which op outputs may take over the buffer of an input that dies there.

An op declares the pairs it supports in `OpDef.inplace` ({output index: input index}, as
MXNet's FInplaceOption); fused elementwise nodes offer theirs too (see offered_pairs). The
first pair of an output that passes is taken, as in MXNet's nnvm PlanMemory, when:
- the input lives in the arena (graph inputs and constants are external, never written);
- the input's buffer dies at this node: no later node reads it, and it is no graph output
  (graph outputs are read at the end of the program, see passes/memory.py);
- no other output of the node already took that input;
- the output has the input's element count and item size (so the same bytes).
The output then joins the input's storage, and the storage lives on until the output dies.
NOTE: a chain a -> b -> c is safe because each link is taken only where its input dies, so
every earlier value of a storage is dead when the next one is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hybrix.ir import Graph, Node, get_op
from hybrix.passes.fuse import REDUCTIONS

__all__ = ["InplaceCandidate", "inplace_candidates", "offered_pairs"]


@dataclass(frozen=True)
class InplaceCandidate:
    """One in-place pair an op offers; `reason` is None when taken, else why not."""

    node: str
    op: str
    output: str
    input: str
    reason: str | None = None

    @property
    def taken(self) -> bool:
        return self.reason is None


def inplace_candidates(
    graph: Graph,
    lifetimes: Mapping[str, tuple[int, int]],
    nbytes: Mapping[str, int],
) -> list[InplaceCandidate]:
    """Every in-place pair the graph's ops offer, in node order, taken or not (with why).

    lifetimes: arena value name -> (step that writes it, last step that reads it), graph
    outputs read at step len(graph.nodes); nbytes: arena value name -> bytes. Values absent
    from `lifetimes` are external (inputs, constants).
    """
    result = []
    for step, node in enumerate(graph.nodes):
        taken_inputs: set[int] = set()
        done_outputs: set[int] = set()
        for out_index, in_index in offered_pairs(node):
            if out_index in done_outputs:
                continue
            pair = (out_index, in_index)
            candidate = _decide(node, step, pair, lifetimes, nbytes, taken_inputs)
            if candidate.reason is None:
                taken_inputs.add(in_index)
                done_outputs.add(out_index)
            result.append(candidate)
    return result


def offered_pairs(node: Node) -> list[tuple[int, int]]:
    """(output index, input index) pairs the node may run in place, in preference order.

    An op's own `OpDef.inplace`; for a `_fused` node (passes/fuse.py) whose subgraph has
    no reduction, every input of the output's exact type: its ops are all position-wise,
    so writing output element i over input element i is safe, as for one elementwise op.
    """
    pairs = [
        (out_index, in_index)
        for out_index, in_index in sorted(get_op(node.op).inplace.items())
        if out_index < len(node.outputs) and in_index < len(node.inputs)
    ]
    subgraph = node.attrs.get("graph") if node.op == "_fused" else None
    if isinstance(subgraph, Graph) and not any(n.op in REDUCTIONS for n in subgraph.nodes):
        for out_index, output in enumerate(node.outputs):
            pairs += [
                (out_index, in_index)
                for in_index, value in enumerate(node.inputs)
                if value.type == output.type
            ]
    return pairs


def _decide(
    node: Node,
    step: int,
    pair: tuple[int, int],
    lifetimes: Mapping[str, tuple[int, int]],
    nbytes: Mapping[str, int],
    taken_inputs: set[int],
) -> InplaceCandidate:
    out_index, in_index = pair
    source, target = node.inputs[in_index], node.outputs[out_index]

    def candidate(reason: str | None) -> InplaceCandidate:
        return InplaceCandidate(node.name, node.op, target.name, source.name, reason)

    if source.name not in lifetimes:
        return candidate("input is external (graph input or constant)")
    if in_index in taken_inputs:
        return candidate("input already taken by another output of this node")
    last_read = lifetimes[source.name][1]
    if last_read != step:
        return candidate(f"input is still read after this node (until step {last_read})")
    if source.dtype.itemsize != target.dtype.itemsize:
        return candidate(
            f"item sizes differ ({source.dtype.short} input, {target.dtype.short} output)"
        )
    if nbytes[source.name] != nbytes[target.name]:
        return candidate(
            f"sizes differ ({nbytes[source.name]} B input, {nbytes[target.name]} B output)"
        )
    return candidate(None)
