"""Before/Expected IR for the cleanup passes (DCE, CSE, folding, simplify, type inference)."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.ir import DType, Graph, ShapeError, TensorType, parse, verify
from hybrix.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_constants,
    infer_types,
    simplify,
)
from hybrix.passes.fold_constants import FOLD_LIMIT
from hybrix.tests.passes._helpers import assert_rewrites, assert_skips, run


# -- dead code -------------------------------------------------------------------------------
def test_dce_removes_unused_nodes_and_constants():
    assert_rewrites(
        eliminate_dead_code,
        """graph g(%x: f32[3]) {
          const %k: f32[3] = [1.0, 2.0, 3.0]
          %a = broadcast_add(%x, %k)
          %b = exp(%x)
          return %b
        }""",
        """graph g(%x: f32[3]) {
          %b = exp(%x)
          return %b
        }""",
    )


def test_dce_keeps_batchnorm_whose_updates_are_outputs():
    text = """graph g(%x: f32[2,3], %gamma: f32[3], %beta: f32[3], %mean: f32[3], %var: f32[3]) {
      %y, %new_mean, %new_var = BatchNorm(%x, %gamma, %beta, %mean, %var) {training=true}
      return %new_mean, %new_var
    }"""
    graph = parse(text)
    assert not run(eliminate_dead_code, graph).changed
    assert [n.op for n in graph.nodes] == ["BatchNorm"]


def test_dce_keeps_returned_random_draws_and_drops_unused_ones():
    text = """graph g(%key: u32[2], %key2: u32[2]) {
      %kept = _random_uniform(%key) {shape=[2]}
      %unused = _random_normal(%key2) {shape=[2]}
      return %kept
    }"""
    graph = parse(text)
    result = run(eliminate_dead_code, graph)
    assert [n.op for n in graph.nodes] == ["_random_uniform"]
    assert result.changes == ["removed _random_normal node unused"]


# -- common subexpressions -------------------------------------------------------------------
def test_cse_merges_equal_nodes():
    assert_rewrites(
        eliminate_common_subexpressions,
        """graph g(%x: f32[3]) {
          %a = _mul_scalar(%x) {scalar=2.0}
          %b = _mul_scalar(%x) {scalar=2.0}
          %c = elemwise_add(%a, %b)
          return %c
        }""",
        """graph g(%x: f32[3]) {
          %a = _mul_scalar(%x) {scalar=2.0}
          %c = elemwise_add(%a, %a)
          return %c
        }""",
    )


def test_cse_keeps_different_attrs_and_random_ops():
    text = """graph g(%x: f32[3], %key: u32[2]) {
      %a = _mul_scalar(%x) {scalar=2.0}
      %b = _mul_scalar(%x) {scalar=3.0}
      %r1 = _random_uniform(%key) {shape=[3]}
      %r2 = _random_uniform(%key) {shape=[3]}
      return %a, %b, %r1, %r2
    }"""
    graph = parse(text)
    assert not run(eliminate_common_subexpressions, graph).changed
    assert len(graph.nodes) == 4


# -- constant folding ------------------------------------------------------------------------
def test_fold_constants_evaluates_constant_subgraphs():
    assert_rewrites(
        fold_constants,
        """graph g(%x: f32[2]) {
          const %k: f32[2] = [1.0, 4.0]
          %s = sqrt(%k)
          %t = _plus_scalar(%s) {scalar=1.0}
          %y = elemwise_mul(%x, %t)
          return %y
        }""",
        """graph g(%x: f32[2]) {
          const %k: f32[2] = [1.0, 4.0]
          const %t: f32[2] = [2.0, 3.0]
          %y = elemwise_mul(%x, %t)
          return %y
        }""",
    )


def test_fold_constants_folds_zero_input_ops():
    graph = parse("graph g() {\n %z = _ones() {shape=[2,2]}\n return %z\n}")
    assert run(fold_constants, graph).changed
    assert not graph.nodes
    np.testing.assert_array_equal(graph.outputs[0].const, np.ones((2, 2), np.float32))


def test_fold_constants_caps_the_result_size():
    side = int(np.sqrt(FOLD_LIMIT)) + 1
    assert_skips(
        fold_constants,
        f"graph g() {{\n %z = _zeros() {{shape=[{side},{side}]}}\n return %z\n}}",
        "exceeds the fold limit",
    )


def test_fold_constants_never_folds_random_ops():
    assert_skips(
        fold_constants,
        """graph g() {
          const %key: u32[2] = [1, 2]
          %r = _random_uniform(%key) {shape=[2]}
          return %r
        }""",
        "random op",
    )


# -- simplification --------------------------------------------------------------------------
SIMPLIFIED = """graph g(%x: f32[2,3]) {
  %y = exp(%x)
  return %y
}"""


@pytest.mark.parametrize(
    "body",
    [
        "%a = Reshape(%x) {shape=[2,3]}",
        "%t = transpose(%x)\n%a = transpose(%t)",
        "%a = transpose(%x) {axes=[0,1]}",
        "%c = Cast(%x) {dtype=f64}\n%a = Cast(%c) {dtype=f32}",
        "%a = Cast(%x) {dtype=f32}",
        "%a = _mul_scalar(%x) {scalar=1.0}",
        "%a = _plus_scalar(%x) {scalar=0.0}",
        "%a = _div_scalar(%x) {scalar=1.0}",
        "%n = negative(%x)\n%a = negative(%n)",
        "%a = identity(%x)",
        "%r = Reshape(%x) {shape=[-1]}\n%a = Reshape(%r) {shape=[3,2]}\n"
        "%b = Reshape(%a) {shape=[2,3]}",
    ],
    ids=[
        "reshape",
        "transpose_pair",
        "transpose_id",
        "cast_pair",
        "cast_same",
        "mul_one",
        "plus_zero",
        "div_one",
        "neg_neg",
        "identity",
        "reshape_chain",
    ],
)
def test_simplify_removes_identities(body):
    last = body.strip().split("\n")[-1].split("=")[0].strip()
    graph = parse(f"graph g(%x: f32[2,3]) {{\n{body}\n%y = exp({last})\nreturn %y\n}}")
    for _ in range(3):
        run(simplify, graph)
    run(eliminate_dead_code, graph)
    from hybrix.ir import structurally_equal

    assert structurally_equal(graph, parse(SIMPLIFIED)), str(graph)


def test_simplify_neutral_constant_operands():
    assert_rewrites(
        simplify,
        """graph g(%x: f32[2,3]) {
          const %one: f32[3] = [1.0, 1.0, 1.0]
          %a = broadcast_mul(%one, %x)
          %y = exp(%a)
          return %y
        }""",
        """graph g(%x: f32[2,3]) {
          const %one: f32[3] = [1.0, 1.0, 1.0]
          %y = exp(%x)
          return %y
        }""",
    )


def test_simplify_composes_transposes_and_reshapes():
    assert_rewrites(
        simplify,
        """graph g(%x: f32[2,3,4]) {
          %a = transpose(%x) {axes=[1,0,2]}
          %b = transpose(%a) {axes=[0,2,1]}
          return %b
        }""",
        """graph g(%x: f32[2,3,4]) {
          %b = transpose(%x) {axes=[1,2,0]}
          return %b
        }""",
    )
    assert_rewrites(
        simplify,
        """graph g(%x: f32[N,3,4]) {
          %a = Reshape(%x) {shape=[0,-1]}
          %b = Reshape(%a) {shape=[-1,4,3]}
          return %b
        }""",
        """graph g(%x: f32[N,3,4]) {
          %b = Reshape(%x) {shape=[-1,4,3]}
          return %b
        }""",
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("%a = Cast(%x) {dtype=f16}\n%b = Cast(%a) {dtype=f32}", "Cast through float16 loses"),
        ("%b = _mul_scalar(%x) {scalar=2.0}", "_mul_scalar scalar is 2.0, not 1.0"),
        ("%b = Reshape(%x) {shape=[3,2]}", "Reshape changes the shape"),
        ("%b = transpose(%x)", "transpose permutes the axes (1, 0)"),
    ],
)
def test_simplify_says_why_not(body, reason):
    assert_skips(simplify, f"graph g(%x: f32[2,3]) {{\n{body}\nreturn %b\n}}", reason)


def test_simplify_keeps_broadcasting_neutral_operands():
    assert_skips(
        simplify,
        """graph g(%x: f32[3]) {
          const %zero: f32[2,3] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
          %b = broadcast_add(%x, %zero)
          return %b
        }""",
        "broadcasts (3,) to a larger shape",
    )


# -- type inference --------------------------------------------------------------------------
def test_infer_types_fills_unknown_weight_shapes():
    graph = Graph("g")
    f32 = DType.float32
    x = graph.add_input("x", TensorType(f32, ("N", 3, 8, 8)))
    w = graph.add_input("w", TensorType(f32, ("?", "?", "?", "?")))
    conv = graph.add_node(
        "Convolution", [x, w], {"kernel": (3, 3), "num_filter": 4, "no_bias": True}
    )
    fc_w = graph.add_input("fc_w", TensorType(f32, ("?", "?")))
    flat = graph.add_node("Flatten", conv.outputs)
    fc = graph.add_node(
        "FullyConnected", [flat.outputs[0], fc_w], {"num_hidden": 5, "no_bias": True}
    )
    graph.outputs = list(fc.outputs)
    result = run(infer_types, graph)
    assert result.changed
    assert w.shape == (4, 3, 3, 3)
    assert fc_w.shape == (5, 144)
    verify(graph)


def test_infer_types_rejects_a_wrong_rank():
    graph = Graph("g")
    x = graph.add_input("x", TensorType(DType.float32, (2, 4)))
    w = graph.add_input("w", TensorType(DType.float32, ("?",)))
    with pytest.raises(ShapeError):
        graph.add_node("FullyConnected", [x, w], {"num_hidden": 3, "no_bias": True})
    node = graph.add_node("relu", [x])
    graph.outputs = list(node.outputs)
    assert not run(infer_types, graph).changed
