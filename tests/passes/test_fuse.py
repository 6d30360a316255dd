"""Elementwise fusion: groups, cut reasons, and the `_fused` op's infer/ref/lower."""

from __future__ import annotations

import numpy as np

from hybrix.ir import get_op, load, parse, save, structurally_equal, verify
from hybrix.passes import fuse_elementwise
from hybrix.tests.passes._helpers import assert_same_outputs, copy, run

CHAIN = """graph g(%x: f32[N,4], %w: f32[8,4], %b: f32[N,1]) {
  %h = FullyConnected(%x, %w) {num_hidden=8, no_bias=true}
  %a = broadcast_add(%h, %b)
  %t = tanh(%a)
  %m = _mul_scalar(%t) {scalar=2.0}
  %s = sum(%m) {axis=[1]}
  %z = _plus_scalar(%s) {scalar=1.0}
  return %z, %t
}"""


def test_fuse_groups_elementwise_ops_and_a_final_reduction():
    graph = parse(CHAIN)
    result = run(fuse_elementwise, graph)
    assert result.changed
    assert [n.op for n in graph.nodes] == ["FullyConnected", "_fused", "_fused", "_plus_scalar"]
    groups = {g["node"]: g for g in result.details["groups"]}
    first, second = (groups[n.name] for n in graph.nodes[1:3])
    assert first["ops"] == ["broadcast_add", "tanh"]
    assert second["ops"] == ["_mul_scalar", "sum"]
    assert "producer FullyConnected h is not elementwise" in first["cuts"]
    assert "value %t is a graph output" in second["cuts"]
    assert "producer sum s is a reduction (reductions end a group)" in groups["z"]["cuts"]


def test_fused_subgraph_is_shown_as_text_and_round_trips(tmp_path):
    graph = parse(CHAIN)
    run(fuse_elementwise, graph)
    text = str(graph)
    assert "_fused(%h, %b) {graph=graph" in text
    assert structurally_equal(parse(text), graph)
    save(graph, tmp_path / "g.hxir")
    assert structurally_equal(load(tmp_path / "g.hxir").graph, graph)


def test_fused_outputs_equal_unfused(rng):
    graph = parse(CHAIN)
    before = copy(graph)
    run(fuse_elementwise, graph)
    inputs = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (8, 4), (3, 1)]]
    assert_same_outputs(before, graph, inputs)


def test_value_read_outside_the_group_cuts_it():
    text = """graph g(%x: f32[3]) {
      %a = exp(%x)
      %b = negative(%a)
      %c = sin(%a)
      %d = elemwise_add(%b, %c)
      %e = Concat(%a, %d) {dim=0, num_args=2}
      return %e
    }"""
    graph = parse(text)
    result = run(fuse_elementwise, graph)
    ops = [n.op for n in graph.nodes]
    assert ops == ["exp", "_fused", "Concat"]
    assert any("value %a has 3 consumers, 1 outside the group" in s for s in result.skipped)


def test_diamond_inside_one_group(rng):
    text = """graph g(%x: f32[3]) {
      %a = exp(%x)
      %b = negative(%a)
      %c = sin(%a)
      %d = elemwise_add(%b, %c)
      return %d
    }"""
    graph = parse(text)
    before = copy(graph)
    run(fuse_elementwise, graph)
    (node,) = graph.nodes
    assert [n.op for n in node.attrs["graph"].nodes] == ["exp", "negative", "sin", "elemwise_add"]
    assert_same_outputs(before, graph, [rng.standard_normal(3).astype(np.float32)])


def test_fused_ref_reuses_dead_buffers(monkeypatch):
    graph = parse("""graph g(%x: f32[4]) {
      %a = exp(%x)
      %b = negative(%a)
      %c = tanh(%b)
      %d = abs(%c)
      return %d
    }""")
    run(fuse_elementwise, graph)
    node = graph.nodes[0]
    body = node.attrs["graph"]
    calls = []
    real_empty = np.empty

    def counting_empty(*args, **kwargs):
        calls.append(args)
        return real_empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", counting_empty)
    out = get_op("_fused").ref_fn(np.arange(4, dtype=np.float32), graph=body)
    monkeypatch.undo()
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(out, np.abs(np.tanh(-np.exp(x))))
    assert len(calls) == 1  # four nodes; each writes over its input's dead buffer


def test_fused_infer_checks_its_inputs():
    graph = parse(CHAIN)
    run(fuse_elementwise, graph)
    verify(graph)
    body = graph.nodes[1].attrs["graph"]
    op = get_op("_fused")
    import pytest

    from hybrix.ir import HybrixError, TensorType
    from hybrix.ir.dtypes import DType

    with pytest.raises(HybrixError, match="the subgraph declares"):
        op.infer_types(
            [TensorType(DType.float64, ("N", 8)), body.inputs[1].type], {"graph": body}, "f"
        )
