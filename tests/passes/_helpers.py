"""Helpers for the pass tests: run one pass verified, compare outputs before and after."""

from __future__ import annotations

import numpy as np

from hybrix.compiler import compile_graph
from hybrix.ir import Graph, parse, structurally_equal
from hybrix.ir.serde import dumps, loads
from hybrix.passes import PassManager, PassResult
from hybrix.passes._evaluate import evaluate_graph


def copy(graph: Graph) -> Graph:
    return loads(dumps(graph)).graph


def run(graph_pass, graph: Graph) -> PassResult:
    """Run one pass once with verification; its result."""
    (result,) = PassManager([graph_pass], fixpoint=False, verify=True).run(graph)
    return result


def assert_rewrites(graph_pass, before: str, expected: str) -> PassResult:
    graph = parse(before)
    result = run(graph_pass, graph)
    assert result.changed
    want = parse(expected)
    assert structurally_equal(graph, want), f"got:\n{graph}\nexpected:\n{want}"
    return result


def assert_skips(graph_pass, before: str, reason: str) -> PassResult:
    """The pass leaves the graph as it is and says `reason` (a substring) why."""
    graph = parse(before)
    result = run(graph_pass, graph)
    assert not result.changed
    assert structurally_equal(graph, parse(before))
    assert any(reason in s for s in result.skipped), result.skipped
    return result


def assert_same_outputs(before: Graph, after: Graph, inputs: list, rtol: float = 1e-5) -> None:
    """Equal outputs from the numpy kernels node by node and from the JAX lowering."""
    expected = evaluate_graph(before, inputs)
    got = evaluate_graph(after, inputs)
    compiled = [np.asarray(a) for a in compile_graph(after)(*inputs)]
    assert len(got) == len(expected) == len(compiled)
    for e, g, c in zip(expected, got, compiled, strict=True):
        assert g.dtype == e.dtype
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(c, e, rtol=max(rtol, 1e-5), atol=1e-5)
