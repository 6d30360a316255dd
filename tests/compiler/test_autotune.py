"""The cost model, the on-disk autotune table, lowering through choices, JAX's compile cache."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import autotune, native
from hybrix.compiler.cache_dir import cache_dir, machine_id
from hybrix.compiler.jx import jax_namespace
from hybrix.compiler.lower import lower_graph
from hybrix.compiler.strategies import Case
from hybrix.ir import Graph, HybrixError, get_op


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIX_CACHE_DIR", str(tmp_path))
    yield
    autotune.set_mode(None)


def _conv_case(shape, filters, target="cpu", **attrs):
    attrs = get_op("Convolution").check_attrs(
        {"kernel": (3, 3), "pad": (1, 1), "num_filter": filters, **attrs}
    )
    weight = (filters, shape[1], *attrs["kernel"])
    return Case.make("Convolution", [shape, weight, (filters,)], "float32", attrs, target)


def _matmul_like():
    """The cost model's pick where a matmul beats XLA's conv: the native kernel if built."""
    from hybrix.compiler import native

    return "native" if native.unavailable() is None else "im2col"


def test_cost_model_avoids_xla_conv_on_tiny_inputs():
    assert autotune.choose(_conv_case((32, 256, 2, 2), 256), "cost").strategy == _matmul_like()
    assert autotune.choose(_conv_case((32, 512, 1, 1), 512), "cost").strategy == "matmul_1x1"


def test_cost_model_avoids_xla_conv_on_thin_stems_and_takes_it_on_gpu():
    # NOTE: measured in whole networks (bench/infer.py), not alone: XLA's conv on the
    # 3-channel stem ran ~25 GFLOP/s there
    stem = _conv_case((1, 3, 224, 224), 64, kernel=(7, 7), stride=(2, 2), pad=(3, 3))
    assert autotune.choose(stem, "cost").strategy == _matmul_like()
    gpu = _conv_case((32, 256, 2, 2), 256, target="gpu")
    assert autotune.choose(gpu, "cost").strategy == "xla"


def test_cost_model_avoids_xla_grouped_conv_for_depthwise():
    from hybrix.compiler import native

    case = _conv_case((1, 512, 14, 14), 512, num_group=512)
    want = "native_depthwise" if native.unavailable() is None else "depthwise"
    assert autotune.choose(case, "cost").strategy == want


def _rnn_case(steps, layers=1):
    attrs = get_op("RNN").check_attrs(
        {"state_size": 8, "num_layers": layers, "mode": "lstm", "state_outputs": True}
    )
    size = 4 * 8 * (4 + 8 + 2) + (layers - 1) * 4 * 8 * (8 + 8 + 2)
    shapes = [(steps, 2, 4), (size,), (layers, 2, 8), (layers, 2, 8)]
    return Case.make("RNN", shapes, "float32", attrs), attrs, shapes


def test_short_rnn_is_unrolled_and_matches_the_scan():
    from hybrix.compiler import native
    from hybrix.compiler.jx import jax_namespace
    from hybrix.compiler.strategies import strategy_named

    case, attrs, shapes = _rnn_case(5, layers=2)
    with native.disabled():  # NOTE: else the native kernel wins this small case
        assert autotune.choose(case, "cost").strategy == "unrolled"
    long_case = _rnn_case(40)[0]
    reasons = {s.name: why for s, why in autotune.candidates(long_case)}
    assert reasons["unrolled"] == "40 steps x layers x directions is over 32"
    rng = np.random.default_rng(0)
    args = [jnp.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    jx = jax_namespace()

    def run(lower):
        def loss(*a):
            return sum(jnp.sum(o * o) for o in lower(jx, *a, **attrs))

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))(*args)

    (value, grads) = run(strategy_named("RNN", "unrolled").lower)
    (want, want_grads) = run(get_op("RNN").lower_fn)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    for got, expected in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)

    def program(lower):
        return jax.jit(lambda *a: lower(jx, *a, **attrs)).lower(*args).as_text()

    assert "stablehlo.while" in program(get_op("RNN").lower_fn)
    assert "stablehlo.while" not in program(strategy_named("RNN", "unrolled").lower)


def test_naive_mode_uses_the_facet():
    choice = autotune.choose(_conv_case((32, 256, 2, 2), 256), "naive")
    assert choice.strategy == "xla"
    assert "naive" in choice.reason


def test_tune_measures_once_and_caches_on_disk(tmp_path, monkeypatch):
    case = _conv_case((2, 8, 2, 2), 8)
    calls = []
    real = autotune._measure
    monkeypatch.setattr(autotune, "_measure", lambda c: calls.append(c) or real(c))
    first = autotune.choose(case, "tune")
    assert first.reason.startswith("measured")
    path = tmp_path / "lowering" / f"{machine_id()}.json"
    table = json.loads(path.read_text())
    assert table[case.key()]["strategy"] == first.strategy
    assert set(table[case.key()]["times"]) >= {"xla", "im2col"}
    second = autotune.choose(case, "cost")  # measured choices win over the cost model
    assert second == first
    assert len(calls) == 1


def test_training_cases_are_measured_forward_and_backward(tmp_path, monkeypatch):
    case = _conv_case((2, 4, 6, 6), 4)
    train = dataclasses.replace(case, train=True)
    assert train.key() == case.key() + "|train"
    timed = []
    monkeypatch.setattr(autotune, "_time", lambda fn, args: timed.append((fn, args)) or 1e-3)
    autotune.choose(train, "tune")
    fn, args = timed[0]  # the first candidate: the op's facet
    out, grads = fn(*args)
    facet = get_op("Convolution").lower_fn
    expected_out, pull = jax.vjp(lambda *a: facet(jax_namespace(), *a, **case.attrs), *args)
    np.testing.assert_allclose(out, expected_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, pull(fn.heads), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    table = json.loads((tmp_path / "lowering" / f"{machine_id()}.json").read_text())
    assert list(table) == [train.key()], "an inference case is not taken for a training one"


def test_training_lowering_differentiates_like_the_naive_one():
    graph = _conv_graph((2, 16, 6, 6))
    constants = [jnp.asarray(v.const) for v in graph.constants]
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 16, 6, 6)).astype(np.float32))

    def loss(run):
        return jax.jit(jax.grad(lambda c, x: jnp.sum(run(c, x)[0] ** 2), argnums=(0, 1)))

    naive = loss(lower_graph(graph, None))(constants, x)
    (node,) = [n for n in graph.nodes if n.op == "Convolution"]
    shapes = [v.type.shape for v in node.inputs]
    case = autotune.node_case(node, shapes, "float32", "cpu", train=True)
    # unmeasured: the op's own lowering or a strategy with a backward of its own (native)
    expected = "xla" if native.unavailable() else "native"
    assert autotune.choose(case, "cost").strategy == expected
    unmeasured = loss(lower_graph(graph, autotune.strategy_chooser("cost", train=True)))
    results = [unmeasured(constants, x)]
    # a measured training choice is used (times made up: only the choice matters here)
    autotune._store(case.key(), {"strategy": "im2col", "times": {"im2col": 1}})
    chooser = autotune.strategy_chooser("cost", train=True)
    results.append(loss(lower_graph(graph, chooser))(constants, x))
    assert autotune.choose(case, "cost").strategy == "im2col"
    leaves = jax.tree_util.tree_leaves
    for chosen in results:
        for got, want in zip(leaves(chosen), leaves(naive), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_training_takes_only_strategies_that_train_well():
    # im2col's forward is cheaper by the cost model here, but its backward is XLA's
    # gradient of its gathers: unmeasured, training never picks it
    case = dataclasses.replace(_conv_case((2, 4, 1, 1), 4), train=True)
    inference = dataclasses.replace(case, train=False)
    assert autotune.choose(inference, "cost").strategy != "xla"
    with native.disabled():
        assert autotune.choose(case, "cost").strategy == "xla"
        assert autotune.choose(inference, "cost").strategy not in ("xla", "native")


def test_unknown_mode_is_an_error(monkeypatch):
    monkeypatch.setenv("HYBRIX_LOWERING", "fastest")
    with pytest.raises(HybrixError, match="HYBRIX_LOWERING='fastest'"):
        autotune.get_mode()


def _conv_graph(shape):
    graph = Graph("g")
    x = graph.add_input("x", _type(shape))
    w = graph.add_constant(
        "w", np.random.default_rng(0).standard_normal((8, shape[1], 3, 3)).astype(np.float32)
    )
    conv = graph.add_node(
        "Convolution", [x, w], {"kernel": (3, 3), "pad": (1, 1), "num_filter": 8, "no_bias": True}
    )
    relu = graph.add_node("Activation", [conv.outputs[0]], {"act_type": "relu"})
    graph.outputs = [relu.outputs[0]]
    return graph


def _type(shape):
    from hybrix.ir import DType, TensorType

    return TensorType(DType.float32, tuple(shape))


def test_lower_graph_with_chosen_strategies_matches_naive():
    graph = _conv_graph((4, 16, 1, 1))
    constants = [jnp.asarray(v.const) for v in graph.constants]
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 16, 1, 1)).astype(np.float32))
    naive = jax.jit(lower_graph(graph, None))(constants, x)[0]
    chosen = jax.jit(lower_graph(graph, autotune.strategy_chooser("cost")))(constants, x)[0]
    np.testing.assert_allclose(chosen, naive, rtol=1e-5, atol=1e-5)
    rows = autotune.plan_lowering(graph, "cost")
    assert [(op, choice.strategy) for _, op, _, choice in rows] == [("Convolution", "matmul_1x1")]
    assert "matmul_1x1" in autotune.describe_lowering(graph, "cost")


_CHILD = """
import logging, sys, jax, jax.numpy as jnp
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
from hybrix.compiler.cache_dir import enable_compilation_cache
enable_compilation_cache()
print(float(jax.jit(lambda x: jnp.sin(x) * 3 + x @ x.T)(jnp.ones((7, 7))).sum()))
"""


def test_persistent_compilation_cache_serves_a_second_process(tmp_path):
    env = {**os.environ, "HYBRIX_CACHE_DIR": str(tmp_path), "JAX_PLATFORMS": "cpu"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    entries = list((tmp_path / "xla").iterdir())
    assert entries, "the first process wrote compiled programs"
    assert runs[0].stdout.strip().splitlines()[-1] == runs[1].stdout.strip().splitlines()[-1]
    assert "cache hit" not in runs[0].stdout.lower()
    assert "persistent compilation cache hit" in runs[1].stdout.lower()


def test_default_compilation_cache_follows_the_environment(tmp_path, monkeypatch):
    from hybrix.compiler import cache_dir as module

    monkeypatch.setenv("HYBRIX_XLA_CACHE", "0")
    assert module.enable_default_compilation_cache() is None, "HYBRIX_XLA_CACHE=0 turns it off"
    monkeypatch.setattr(module, "_ENABLED", {})
    monkeypatch.setattr(module, "enable_compilation_cache", lambda seconds: (seconds, "on"))
    monkeypatch.setattr(module, "_jax_cache_dir", lambda: None)
    monkeypatch.delenv("HYBRIX_XLA_CACHE")
    assert module.enable_default_compilation_cache() == (module.DEFAULT_MIN_COMPILE_SECONDS, "on")
    monkeypatch.setenv("HYBRIX_XLA_CACHE", "1")
    assert module.enable_default_compilation_cache() == (module.DEFAULT_MIN_COMPILE_SECONDS, "on")
    monkeypatch.setattr(module, "_jax_cache_dir", lambda: "/somewhere/the/user/chose")
    assert module.enable_default_compilation_cache() is None


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache_dir("lowering") == tmp_path / "lowering"
    assert (tmp_path / "lowering").is_dir()
