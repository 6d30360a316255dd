"""Inference rewrites: freeze_params, BatchNorm folding, Dropout removal, activation and
residual folding."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.compiler.pipelines import optimize
from hybrix.ir import GraphError, parse
from hybrix.passes import (
    fold_activation,
    fold_batchnorm,
    fold_residual,
    freeze_params,
    fuse_elementwise,
    remove_dropout,
)
from hybrix.tests.passes._helpers import (
    assert_rewrites,
    assert_same_outputs,
    assert_skips,
    copy,
    run,
)

CONV_BN = """graph g(%x: f32[2,3,6,6], %w: f32[4,3,3,3], %b: f32[4], %gamma: f32[4], %beta: f32[4],
                     %mean: f32[4], %var: f32[4]) {
  %c = Convolution(%x, %w, %b) {kernel=[3,3], num_filter=4}
  %y, %nm, %nv = BatchNorm(%c, %gamma, %beta, %mean, %var) {fix_gamma=false, eps=0.001}
  %r = Activation(%y) {act_type="relu"}
  return %r
}"""


def _params(rng, names_shapes):
    values = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in names_shapes}
    values["var"] = np.abs(values["var"]) + 0.5
    return values


@pytest.mark.parametrize("no_bias", [False, True])
def test_fold_batchnorm_into_convolution(rng, no_bias):
    text = (
        CONV_BN
        if not no_bias
        else CONV_BN.replace(
            "%c = Convolution(%x, %w, %b) {kernel=[3,3], num_filter=4}",
            "%c = Convolution(%x, %w) {kernel=[3,3], num_filter=4, no_bias=true}",
        )
    )
    graph = parse(text)
    params = _params(
        rng,
        [
            ("w", (4, 3, 3, 3)),
            ("b", (4,)),
            ("gamma", (4,)),
            ("beta", (4,)),
            ("mean", (4,)),
            ("var", (4,)),
        ],
    )
    freeze_params(graph, params)
    before = copy(graph)
    result = run(fold_batchnorm, graph)
    assert result.changed
    assert [n.op for n in graph.nodes] == ["Convolution", "Activation"]
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    assert_same_outputs(before, graph, [x], rtol=1e-4)


def test_fold_batchnorm_into_fully_connected(rng):
    text = """graph g(%x: f32[5,6], %w: f32[4,6], %b: f32[4], %gamma: f32[4], %beta: f32[4],
                       %mean: f32[4], %var: f32[4]) {
      %h = FullyConnected(%x, %w, %b) {num_hidden=4}
      %y, %nm, %nv = BatchNorm(%h, %gamma, %beta, %mean, %var) {axis=-1}
      return %y, %nm
    }"""
    graph = parse(text)
    freeze_params(
        graph,
        _params(
            rng,
            [
                ("w", (4, 6)),
                ("b", (4,)),
                ("gamma", (4,)),
                ("beta", (4,)),
                ("mean", (4,)),
                ("var", (4,)),
            ],
        ),
    )
    before = copy(graph)
    assert run(fold_batchnorm, graph).changed
    assert [n.op for n in graph.nodes] == ["FullyConnected"]
    assert graph.outputs[1].is_constant  # new_moving_mean is the moving mean, passed through
    assert_same_outputs(before, graph, [rng.standard_normal((5, 6)).astype(np.float32)], 1e-4)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda t: t, "is not a constant (freeze_params first)"),
        (lambda t: t.replace("eps=0.001", "eps=0.001, training=true"), "batch statistics"),
        (lambda t: t.replace("return %r", "return %r, %c"), "has 2 consumers"),
        (
            lambda t: t.replace("eps=0.001", "eps=0.001, output_mean_var=true").replace(
                "%y, %nm", "%y, %m, %v, %nm"
            ),
            "output_mean_var=True",
        ),
    ],
    ids=["not_frozen", "training", "shared_conv", "mean_var"],
)
def test_fold_batchnorm_says_why_not(rng, edit, reason):
    text = edit(CONV_BN)
    if reason != "is not a constant (freeze_params first)":
        graph = parse(text)
        freeze_params(
            graph,
            _params(
                rng,
                [
                    ("w", (4, 3, 3, 3)),
                    ("b", (4,)),
                    ("gamma", (4,)),
                    ("beta", (4,)),
                    ("mean", (4,)),
                    ("var", (4,)),
                ],
            ),
        )
        result = run(fold_batchnorm, graph)
        assert not result.changed
        assert any(reason in s for s in result.skipped), result.skipped
    else:
        assert_skips(fold_batchnorm, text, reason)


def test_fold_batchnorm_needs_a_conv_producer():
    assert_skips(
        fold_batchnorm,
        """graph g(%x: f32[2,4]) {
          const %p: f32[4] = [1.0, 1.0, 1.0, 1.0]
          %y, %nm, %nv = BatchNorm(%x, %p, %p, %p, %p)
          return %y
        }""",
        "producer a graph input is not Convolution or FullyConnected",
    )


def test_freeze_params_checks_types():
    graph = parse(CONV_BN)
    with pytest.raises(GraphError, match="parameter %w is declared f32"):
        freeze_params(graph, {"w": np.zeros((4, 3, 3), np.float32)})
    assert freeze_params(graph, {"b": np.zeros(4, np.float32), "other": 1}) == ["b"]
    assert [v.name for v in graph.inputs][:2] == ["x", "w"]


def test_remove_dropout():
    assert_rewrites(
        remove_dropout,
        """graph g(%x: f32[3]) {
          %d = Dropout(%x) {p=0.5}
          %y = exp(%d)
          return %y
        }""",
        """graph g(%x: f32[3]) {
          %y = exp(%x)
          return %y
        }""",
    )
    assert_skips(
        remove_dropout,
        """graph g(%x: f32[3], %key: u32[2]) {
          %d = Dropout(%x, %key) {p=0.5, mode="always"}
          return %d
        }""",
        "mode='always' drops at inference too",
    )


def test_fold_activation_into_convolution(rng):
    graph = parse(CONV_BN)
    freeze_params(
        graph,
        _params(
            rng,
            [
                ("w", (4, 3, 3, 3)),
                ("b", (4,)),
                ("gamma", (4,)),
                ("beta", (4,)),
                ("mean", (4,)),
                ("var", (4,)),
            ],
        ),
    )
    before = copy(graph)
    run(fold_batchnorm, graph)
    assert run(fold_activation, graph).changed
    (node,) = graph.nodes
    assert node.op == "_fused"
    assert [n.op for n in node.attrs["graph"].nodes] == ["Convolution", "Activation"]
    assert_same_outputs(before, graph, [rng.standard_normal((2, 3, 6, 6)).astype(np.float32)], 1e-4)


def test_fold_activation_says_why_not():
    assert_skips(
        fold_activation,
        """graph g(%x: f32[2,3,4,4]) {
          %p = Pooling(%x) {kernel=[2,2], pool_type="max"}
          %r = Activation(%p) {act_type="relu"}
          return %r
        }""",
        "producer Pooling p has no fused form",
    )
    assert_skips(
        fold_activation,
        """graph g(%x: f32[2,3], %w: f32[4,3]) {
          %h = FullyConnected(%x, %w) {num_hidden=4, no_bias=true}
          %r = Activation(%h) {act_type="relu"}
          return %r, %h
        }""",
        "producer output %h has 2 consumers",
    )


def test_optimize_inference_with_params(rng):
    graph = parse(CONV_BN)
    params = _params(
        rng,
        [
            ("w", (4, 3, 3, 3)),
            ("b", (4,)),
            ("gamma", (4,)),
            ("beta", (4,)),
            ("mean", (4,)),
            ("var", (4,)),
        ],
    )
    reference = copy(graph)
    optimize(graph, "O2", inference=True, params=params, layout=False)
    assert [n.op for n in graph.nodes] == ["_fused"]
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    freeze_params(reference, params)
    assert_same_outputs(reference, graph, [x], rtol=1e-4)


# a residual block's end: relu(conv(x) + shortcut), the shortcut a second convolution
RESIDUAL = """graph g(%x: f32[2,4,6,6], %w: f32[4,4,3,3], %b: f32[4], %v: f32[4,4,1,1]) {
  %c = Convolution(%x, %w, %b) {kernel=[3,3], pad=[1,1], num_filter=4}
  %s = Convolution(%x, %v) {kernel=[1,1], num_filter=4, no_bias=true}
  %a = broadcast_add(%s, %c)
  %r = Activation(%a) {act_type="relu"}
  return %r
}"""


def test_fold_residual_puts_the_convolution_in_the_add_relu_group(rng):
    graph = parse(RESIDUAL)
    before = copy(graph)
    assert run(fuse_elementwise, graph).changed
    result = run(fold_residual, graph)
    assert result.changed
    assert any("folded Convolution s" in change for change in result.changes)
    fused = [n for n in graph.nodes if n.op == "_fused"]
    assert len(fused) == 1
    assert [n.op for n in fused[0].attrs["graph"].nodes] == [
        "Convolution",
        "broadcast_add",
        "Activation",
    ]
    # the first addend that qualifies is folded; the other stays outside, read by the group
    assert [n.op for n in graph.nodes] == ["Convolution", "_fused"]
    inputs = [rng.standard_normal(v.type.shape).astype(np.float32) for v in before.inputs]
    assert_same_outputs(before, graph, inputs, 1e-4)
    assert not run(fold_residual, graph).changed, "a folded group is not folded again"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [  # both conv outputs are read elsewhere too (graph outputs); an addend that broadcasts
        ("  return %r\n", "  return %r, %c, %s\n", "no addend is a Convolution read only here"),
        ("%v: f32[4,4,1,1])", "%v: f32[4,4,1,1], %t: f32[1,4,1,1])", "the add broadcasts"),
    ],
)
def test_fold_residual_says_why_not(old, new, expected):
    text = RESIDUAL.replace(old, new)
    if "%t" in text:
        text = text.replace("broadcast_add(%s, %c)", "broadcast_add(%t, %c)")
    graph = parse(text)
    run(fuse_elementwise, graph)
    result = run(fold_residual, graph)
    assert not result.changed
    assert any(expected in line for line in result.skipped), result.skipped


def test_inference_pipeline_folds_resnet_blocks(rng):
    graph = parse(RESIDUAL)
    before = copy(graph)
    optimize(graph, "O2", inference=True, layout=False)
    groups = [n for n in graph.nodes if n.op == "_fused"]
    assert [[m.op for m in n.attrs["graph"].nodes] for n in groups] == [
        ["Convolution", "broadcast_add", "Activation"]
    ]
    inputs = [rng.standard_normal(v.type.shape).astype(np.float32) for v in before.inputs]
    assert_same_outputs(before, graph, inputs, 1e-4)
