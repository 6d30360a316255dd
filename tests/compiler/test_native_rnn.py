"""The native RNN kernel (compiler/native/rnn.c) and its strategy: equal to the numpy ref and
the op's own lowering in outputs and gradients, declined where it does not apply, chosen by
the cost model for small RNNs, and MXNet's recorded LSTM outputs through compile_graph."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import autotune, native
from hybrix.compiler.jx import jax_namespace
from hybrix.compiler.prepack import plan_prepack
from hybrix.compiler.strategies import strategy_named
from hybrix.compiler.strategies._registry import Case
from hybrix.ir import HybrixError, get_op
from hybrix.ir.ops.rnn import param_layout

pytestmark = pytest.mark.skipif(native.unavailable() is not None, reason="no native kernels")

RTOL, ATOL = 1e-5, 2e-6

# name -> (mode, steps, batch, input, hidden, layers, bidirectional): hidden sizes no multiple
# of the vector width, one step, stacked layers, both directions, a wide input
SHAPES = {
    "lstm_fixture": ("lstm", 5, 2, 8, 32, 1, False),
    "lstm_3layer_bi": ("lstm", 7, 3, 5, 6, 3, True),
    "lstm_one_step": ("lstm", 1, 1, 3, 17, 1, False),
    "gru_2layer": ("gru", 6, 4, 9, 13, 2, False),
    "gru_bi": ("gru", 4, 2, 40, 8, 1, True),
    "tanh_bi_2layer": ("rnn_tanh", 5, 3, 4, 7, 2, True),
    "relu": ("rnn_relu", 8, 2, 6, 20, 1, False),
    "lstm_wide_input": ("lstm", 3, 5, 300, 24, 1, False),
}


def _attrs(mode, hidden, layers, bidirectional, **extra):
    return get_op("RNN").check_attrs(
        {
            "state_size": hidden,
            "num_layers": layers,
            "bidirectional": bidirectional,
            "mode": mode,
            "state_outputs": True,
            **extra,
        }
    )


def _problem(name, seed=0, **extra):
    """(attrs, numpy inputs) for SHAPES[name]."""
    mode, steps, batch, width, hidden, layers, bidirectional = SHAPES[name]
    attrs = _attrs(mode, hidden, layers, bidirectional, **extra)
    _, size = param_layout(attrs, width)
    rng = np.random.default_rng(seed)
    states = (layers * (2 if bidirectional else 1), batch, hidden)
    shapes = [(steps, batch, width), (size,), states] + ([states] if mode == "lstm" else [])
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    arrays[1] *= 0.4  # keep the gates away from saturation, so every path is exercised
    return attrs, arrays


def _native(jx, *args, **attrs):
    return strategy_named("RNN", "native").lower(jx, *args, **attrs)


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("state_outputs", [True, False])
def test_native_rnn_matches_ref_and_facet(name, state_outputs):
    attrs, arrays = _problem(name)
    attrs = {**attrs, "state_outputs": state_outputs}
    jx = jax_namespace()
    got = jax.jit(lambda *a: _native(jx, *a, **attrs))(*arrays)
    facet = jax.jit(lambda *a: get_op("RNN").lower_fn(jx, *a, **attrs))(*arrays)
    want = get_op("RNN").ref_fn(*arrays, **attrs)
    got, facet, want = (x if isinstance(x, tuple) else (x,) for x in (got, facet, want))
    assert len(got) == len(want) == (1 if not state_outputs else len(arrays) - 1)
    for g, f, w in zip(got, facet, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(g, f, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["lstm_3layer_bi", "gru_2layer", "tanh_bi_2layer"])
def test_native_rnn_gradients_equal_the_facet(name):
    attrs, arrays = _problem(name, seed=1)
    jx = jax_namespace()
    head = [
        np.random.default_rng(2).standard_normal(s).astype(np.float32)
        for s in (
            (
                arrays[0].shape[0],
                arrays[0].shape[1],
                arrays[2].shape[2] * (2 if attrs["bidirectional"] else 1),
            ),
            arrays[2].shape,
            arrays[2].shape,
        )
    ]

    def grads(lower):
        def loss(*a):
            outs = lower(jx, *a, **attrs)
            return sum(jnp.sum(o * h) for o, h in zip(outs, head, strict=False))

        return jax.jit(jax.grad(loss, argnums=tuple(range(len(arrays)))))(*arrays)

    got, want = grads(_native), grads(get_op("RNN").lower_fn)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm_3layer_bi", "gru_bi", "tanh_bi_2layer", "lstm_one_step"])
def test_parameters_packed_ahead_give_the_same_result(name):
    attrs, arrays = _problem(name, seed=3)
    kwargs = {
        "mode": attrs["mode"],
        "hidden": attrs["state_size"],
        "layers": attrs["num_layers"],
        "bidirectional": attrs["bidirectional"],
    }
    cell = arrays[3] if len(arrays) > 3 else None
    packed = native.pack_rnn_parameters(arrays[1], input_size=arrays[0].shape[2], **kwargs)
    assert packed.shape == arrays[1].shape
    assert not np.allclose(packed, arrays[1]), "the weights are rearranged"
    want = native.rnn(arrays[0], arrays[1], arrays[2], cell, **kwargs)
    got = native.rnn(arrays[0], packed, arrays[2], cell, packed=True, **kwargs)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_native_rnn_is_one_custom_call():
    attrs, arrays = _problem("lstm_3layer_bi")
    jx = jax_namespace()
    text = jax.jit(lambda *a: _native(jx, *a, **attrs)).lower(*arrays).as_text()
    assert text.count("stablehlo.custom_call") == 1
    assert "dot_general" not in text
    assert "stablehlo.while" not in text


def _case(name, dtype="float32", target="cpu", **extra):
    attrs, arrays = _problem(name, **extra)
    shapes = [a.shape for a in arrays]
    return Case.make("RNN", shapes, dtype, attrs, target=target)


def test_fits_says_why_not():
    fits = strategy_named("RNN", "native").fits
    assert fits(_case("lstm_fixture")) is None
    assert "CPU only" in fits(_case("lstm_fixture", target="gpu"))
    assert "float32 only" in fits(_case("lstm_fixture", dtype="float64"))
    clipped = _case("lstm_fixture", lstm_state_clip_min=-1.0, lstm_state_clip_max=1.0)
    assert fits(clipped) == "state clipping is not in the kernel"
    with native.disabled():
        assert "disabled" in fits(_case("lstm_fixture"))


def test_sequence_length_is_declined():
    mode, steps, batch, width, hidden, layers, bidirectional = SHAPES["gru_2layer"]
    attrs = _attrs(mode, hidden, layers, bidirectional, use_sequence_length=True)
    _, size = param_layout(attrs, width)
    states = (layers, batch, hidden)
    case = Case.make("RNN", [(steps, batch, width), (size,), states, (batch,)], "float32", attrs)
    assert strategy_named("RNN", "native").fits(case) == "sequence_length is not in the kernel"


def test_cost_model_takes_the_kernel_for_small_rnns_only():
    assert autotune.choose(_case("lstm_fixture"), "cost").strategy == "native"
    attrs = _attrs("lstm", 512, 2, False)
    _, size = param_layout(attrs, 256)
    big = Case.make("RNN", [(35, 32, 256), (size,), (2, 32, 512), (2, 32, 512)], "float32", attrs)
    assert autotune.choose(big, "cost").strategy != "native"


def test_bad_calls_name_the_op_and_what_was_expected():
    _, arrays = _problem("gru_2layer")
    x, params, state = (jnp.asarray(a) for a in arrays)
    with pytest.raises(HybrixError, match=r"RNN \(native\).*cell state for lstm only"):
        native.rnn(x, params, state, state, mode="gru", hidden=13, layers=2, bidirectional=False)
    with pytest.raises(Exception, match="hybrix native RNN: parameters: dimension 0 is"):
        jax.block_until_ready(
            native.rnn(x, params[:-1], state, mode="gru", hidden=13, layers=2, bidirectional=False)
        )


def test_fixture_lstm_through_compile_graph_matches_mxnet(fixtures_dir):
    from hybrix.compiler import compile_graph
    from hybrix.compiler.pipelines import optimize
    from hybrix.importers.mxnet import load

    prefix = fixtures_dir / "models" / "lstm"
    io = np.load(f"{prefix}-io.npz")
    loaded = load(
        f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": io["data"].shape}
    )
    graph = optimize(loaded.graph, "O2", inference=True)
    plan = plan_prepack(graph, "cpu")
    assert [type(spec).__name__ for _, spec in plan.packs] == ["RnnPack"]
    compiled = compile_graph(graph)
    out = compiled(jnp.asarray(io["data"]))[0]
    np.testing.assert_allclose(out, io["output"], rtol=1e-4, atol=1e-5)
    text = compiled._jitted.lower(compiled._prepared, io["data"]).as_text()
    assert native.target(native.RNN_TARGET) in text
    assert "rnn = dense<[2, 32, 1, 1, 0, 1]>" in text, "lstm, 32 units, packed parameters"
    # the graph's constants through call_with_constants are packed for that call
    (again,) = compiled.call_with_constants(compiled._constants, jnp.asarray(io["data"]))
    np.testing.assert_allclose(again, out, rtol=1e-6)
