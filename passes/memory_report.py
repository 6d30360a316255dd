"""A printable memory report: arena vs lower bound vs no reuse, in-place, the peak step.

`print(memory_report(graph, bindings={"N": 32}))` is what `hybrix inspect --memory` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hybrix.ir import Graph, HybrixError, Value
from hybrix.passes.inplace import InplaceCandidate, inplace_candidates
from hybrix.passes.memory import MemoryPlan, lifetimes, plan_memory, value_nbytes

__all__ = ["MemoryReport", "memory_report"]


@dataclass
class LiveValue:
    """A value live at the peak step, where the plan put it."""

    name: str
    type: str
    offset: int
    nbytes: int


@dataclass
class MemoryReport:
    """What `memory_report` found; `str()` gives the text the CLI prints."""

    graph: str
    num_nodes: int
    plan: MemoryPlan
    candidates: list[InplaceCandidate]
    peak_node: str  # "name (op)", or "" for a graph without nodes
    peak_values: list[LiveValue]
    external_bytes: int | None  # None: symbolic inputs and no bindings given

    def to_dict(self) -> dict[str, Any]:
        return {
            "graph": self.graph,
            "nodes": self.num_nodes,
            "arena_size": self.plan.arena_size,
            "lower_bound": self.plan.lower_bound,
            "no_reuse": self.plan.no_reuse,
            "external_bytes": self.external_bytes,
            "strategy": self.plan.strategy,
            "peak_step": self.plan.peak_step,
            "peak_node": self.peak_node,
            "peak_values": [v.name for v in self.peak_values],
            "inplace": dict(self.plan.inplace),
            "inplace_rejected": {
                f"{c.output}<-{c.input}": c.reason for c in self.candidates if c.reason
            },
        }

    def __str__(self) -> str:
        return "\n".join(self._summary() + self._inplace_lines() + self._peak_lines())

    def _summary(self) -> list[str]:
        plan = self.plan
        ratio = plan.arena_size / plan.lower_bound if plan.lower_bound else 1.0
        saved = 1 - plan.arena_size / plan.no_reuse if plan.no_reuse else 0.0
        return [
            f"memory of graph {self.graph}: {self.num_nodes} nodes, "
            f"{len(plan.offsets)} values in {len(plan.storages)} storages "
            f"({plan.strategy or 'given plan'}, {plan.alignment} B aligned)",
            f"  arena        {_size(plan.arena_size):>12}   {ratio:.3f} x lower bound",
            f"  lower bound  {_size(plan.lower_bound):>12}   live at step {plan.peak_step}"
            + (f", {self.peak_node}" if self.peak_node else ""),
            f"  no reuse     {_size(plan.no_reuse):>12}   arena saves {saved:.1%}",
            f"  external     {_size(self.external_bytes):>12}   "
            f"{len(plan.external)} inputs and constants, not in the arena",
        ]

    def _inplace_lines(self) -> list[str]:
        taken = [c for c in self.candidates if c.reason is None]
        lines = [f"in-place: {len(taken)} of {len(self.candidates)} pairs the ops offer"]
        for c in self.candidates:
            verdict = "reuses" if c.reason is None else "does not reuse"
            why = "" if c.reason is None else f": {c.reason}"
            lines.append(f"  %{c.output} {verdict} %{c.input} ({c.op} {c.node}){why}")
        return lines

    def _peak_lines(self) -> list[str]:
        total = sum(v.nbytes for v in self.peak_values)
        lines = [
            f"live at step {self.plan.peak_step}: {len(self.peak_values)} values, {_size(total)}"
        ]
        name_width = max((len(v.name) for v in self.peak_values), default=0) + 1
        type_width = max((len(v.type) for v in self.peak_values), default=0)
        for value in self.peak_values:
            lines.append(
                f"  {'%' + value.name:<{name_width}}  {value.type:<{type_width}}  "
                f"at {value.offset:>12,}  {_size(value.nbytes):>10}"
            )
        return lines


def memory_report(
    graph: Graph, plan: MemoryPlan | None = None, *, bindings: Mapping[str, int] | None = None
) -> MemoryReport:
    """Plan (unless `plan` is given) and describe the graph's memory.

    bindings: values of symbolic dimensions; needed to plan a graph that has any (and to
    count the bytes of symbolic inputs).
    """
    if plan is None:
        plan = plan_memory(graph, bindings=dict(bindings or {}))
    spans = lifetimes(graph)
    written = [v for node in graph.nodes for v in node.outputs]
    nbytes = {name: placement[2] for name, placement in plan.offsets.items()}
    candidates = [_as_planned(c, plan) for c in inplace_candidates(graph, spans, nbytes)]
    step = plan.peak_step
    handed_over = {source for output, source in plan.inplace.items() if spans[output][0] == step}
    peak_values = [
        LiveValue(v.name, str(v.type), plan.offsets[v.name][1], plan.offsets[v.name][2])
        for v in written
        if spans[v.name][0] <= step <= spans[v.name][1] and v.name not in handed_over
    ]
    peak_node = ""
    if step < len(graph.nodes):
        peak_node = f"node {graph.nodes[step].name} ({graph.nodes[step].op})"
    external = [*graph.inputs, *graph.constants]
    return MemoryReport(
        graph=graph.name,
        num_nodes=len(graph.nodes),
        plan=plan,
        candidates=candidates,
        peak_node=peak_node,
        peak_values=sorted(peak_values, key=lambda v: (v.offset, v.name)),
        external_bytes=_external_bytes(external, bindings),
    )


def _as_planned(candidate: InplaceCandidate, plan: MemoryPlan) -> InplaceCandidate:
    """The candidate as the plan decided it (a plan may be made with in-place off)."""
    if plan.inplace.get(candidate.output) == candidate.input:
        return replace(candidate, reason=None)
    if candidate.reason is None:
        return replace(candidate, reason="not taken by this plan (allow_inplace=False)")
    return candidate


def _external_bytes(values: list[Value], bindings: Mapping[str, int] | None) -> int | None:
    """Bytes of inputs and constants; None when a symbolic dimension has no binding."""
    try:
        return sum(value_nbytes(v, bindings) for v in values)
    except HybrixError:
        return None


def _size(nbytes: int | None) -> str:
    if nbytes is None:
        return "? (symbolic)"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes} B"
