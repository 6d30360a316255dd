"""hybrix.explain(graph): what each pass of a pipeline does to a graph, and why fusion cut.

The pipeline runs on a copy, so the graph passed in is left as it is. The report lists,
per pass run: the node count before and after, each change, each rewrite that did not
apply with its reason, and for fusion every group and why each of its boundaries was cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrix.compiler.pipelines import run_pipeline
from hybrix.ir import Graph
from hybrix.ir.serde import dumps, loads
from hybrix.passes.manager import PassResult

__all__ = ["Explanation", "explain"]


@dataclass
class Explanation:
    """The results of one pipeline run and the optimized copy of the graph."""

    level: str
    inference: bool
    results: list[PassResult]
    graph: Graph

    def __str__(self) -> str:
        mode = ", inference" if self.inference else ""
        lines = [f"pipeline {self.level}{mode} on graph {self.graph.name}"]
        for result in self.results:
            lines += _result_lines(result)
        lines.append(f"result: {len(self.graph.nodes)} nodes")
        return "\n".join(lines)


def _result_lines(result: PassResult) -> list[str]:
    state = "changed" if result.changed else "no change"
    lines = [
        f"{result.name} (round {result.round}): {result.nodes_before} -> "
        f"{result.nodes_after} nodes, {state}, {result.seconds * 1e3:.2f} ms"
    ]
    lines += [f"  + {change}" for change in result.changes]
    groups = result.details.get("groups", [])
    for group in groups:
        kind = "group" if group["fused"] else "not fused"
        lines.append(f"  {kind} {group['node']}: {' -> '.join(group['ops'])}")
        lines += [f"    cut: {cut}" for cut in group["cuts"]]
    if not groups:
        lines += [f"  - {reason}" for reason in result.skipped]
    return lines


def explain(
    graph: Graph, level: str = "O2", *, inference: bool = False, show: bool = True
) -> Explanation:
    """Run the `level` pipeline on a copy of `graph`; print (when `show`) and return the report."""
    copy = loads(dumps(graph)).graph
    results = run_pipeline(copy, level, inference=inference)
    explanation = Explanation(level, inference, results, copy)
    if show:
        print(explanation)
    return explanation
