"""The native convolution kernel (compiler/native) and its strategy equal XLA and numpy ref."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import native
from hybrix.compiler.jx import jax_namespace
from hybrix.compiler.strategies import Case, candidates, strategy_named
from hybrix.compiler.strategies.native import native_conv, native_conv_relu
from hybrix.ir import HybrixError, get_op
from hybrix.runtime.errors import PlatformMismatchError

pytestmark = pytest.mark.skipif(native.unavailable() is not None, reason=str(native.unavailable()))
RTOL, ATOL = 1e-4, 1e-4
# name -> (NCHW data shape, attrs, channels-last?, bias?): stride, dilation, padding that
# trimming makes asymmetric or negative, 1x1, the 7x7 stem on 3 channels, filters that are
# no multiple of the tile widths, batch > 1, both layouts, with and without bias
CASES = {
    "3x3_pad": ((1, 16, 9, 9), {"kernel": (3, 3), "num_filter": 32, "pad": (1, 1)}, True, True),
    "3x3_nchw": ((2, 8, 7, 6), {"kernel": (3, 3), "num_filter": 17, "pad": (1, 1)}, False, True),
    "stride2": (
        (3, 20, 9, 8),
        {"kernel": (3, 3), "num_filter": 100, "pad": (1, 1), "stride": (2, 2)},
        True,
        False,
    ),
    "dilate2": (
        (1, 5, 10, 9),
        {"kernel": (3, 3), "num_filter": 3, "pad": (2, 2), "dilate": (2, 2)},
        True,
        True,
    ),
    "asymmetric_trim": (
        (2, 4, 2, 2),
        {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1), "stride": (2, 2)},
        False,
        True,
    ),
    "negative_pad_trim": (
        (1, 3, 2, 2),
        {"kernel": (3, 3), "num_filter": 2, "pad": (2, 2), "dilate": (2, 2)},
        True,
        True,
    ),
    "1x1": ((2, 64, 5, 5), {"kernel": (1, 1), "num_filter": 1}, True, True),
    "1x1_stride2_nchw": (
        (1, 32, 7, 7),
        {"kernel": (1, 1), "num_filter": 48, "stride": (2, 2)},
        False,
        False,
    ),
    "stem_7x7": (
        (1, 3, 20, 20),
        {"kernel": (7, 7), "num_filter": 64, "pad": (3, 3), "stride": (2, 2)},
        True,
        True,
    ),
    # 4 panels of 64 filters: each thread packs its own, a few kernel rows at a time
    "panel_k_blocks": (
        (1, 256, 5, 5),
        {"kernel": (3, 3), "num_filter": 250, "pad": (1, 1)},
        True,
        True,
    ),
    "rect_kernel": (
        (2, 33, 6, 7),
        {"kernel": (1, 3), "num_filter": 70, "pad": (0, 1), "stride": (1, 2)},
        True,
        True,
    ),
}


def _inputs(name, dtype=np.float32):
    shape, attrs, last, with_bias = CASES[name]
    rng = np.random.default_rng(0)
    full = get_op("Convolution").check_attrs(
        {**attrs, "layout": "NHWC" if last else None, "no_bias": not with_bias}
    )
    x = rng.standard_normal(shape)
    w = rng.standard_normal((attrs["num_filter"], shape[1], *attrs["kernel"]))
    arrays = [x, w] + ([rng.standard_normal(attrs["num_filter"])] if with_bias else [])
    if last:
        arrays[0], arrays[1] = np.moveaxis(x, 1, -1), np.moveaxis(w, 1, -1)
    return [np.ascontiguousarray(a).astype(dtype) for a in arrays], full


def _run(lower, arrays, attrs):
    fn = jax.jit(lambda *a: lower(jax_namespace(), *a, **attrs))
    return np.asarray(fn(*[jnp.asarray(a) for a in arrays]))


@pytest.mark.parametrize("name", list(CASES))
def test_native_matches_xla_and_ref(name):
    arrays, attrs = _inputs(name)
    op = get_op("Convolution")
    case = Case.make("Convolution", [a.shape for a in arrays], "float32", attrs)
    assert strategy_named("Convolution", "native").fits(case) is None
    expected = op.ref_fn(*[a.astype(np.float64) for a in arrays], **attrs)
    got = _run(native_conv, arrays, attrs)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, _run(op.lower_fn, arrays, attrs), rtol=RTOL, atol=ATOL)


def _grads(lower, args, attrs, head):
    _, pullback = jax.vjp(lambda *a: lower(jax_namespace(), *a, **attrs), *args)
    return jax.jit(pullback)(head)


@pytest.mark.parametrize("name", list(CASES))
def test_native_gradients_equal_xla(name):
    # the native backward: dW by the kernel always, dX by it at stride 1, the facet's else
    arrays, attrs = _inputs(name)
    args = [jnp.asarray(a) for a in arrays]
    facet = get_op("Convolution").lower_fn
    expected = facet(jax_namespace(), *args, **attrs)
    head = jnp.asarray(np.random.default_rng(1).standard_normal(expected.shape), jnp.float32)
    got, want = _grads(native_conv, args, attrs, head), _grads(facet, args, attrs, head)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"input {index}")


@pytest.mark.parametrize("name", ["3x3_nchw", "stride2", "dilate2", "stem_7x7"])
def test_native_relu_gradients_use_the_saved_output(name):
    arrays, attrs = _inputs(name)
    args = [jnp.asarray(a) for a in arrays]
    ops = jax_namespace()

    def reference(jx, *a, **kw):
        return jax.nn.relu(get_op("Convolution").lower_fn(jx, *a, **kw))

    expected = reference(ops, *args, **attrs)
    head = jnp.asarray(np.random.default_rng(3).standard_normal(expected.shape), jnp.float32)
    got, want = _grads(native_conv_relu, args, attrs, head), _grads(reference, args, attrs, head)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"input {index}")


def test_native_backward_holds_no_xla_convolution():
    # stride 1: forward, dW and dX are all native calls; only the bias sum is XLA's
    arrays, attrs = _inputs("3x3_nchw")
    args = [jnp.asarray(a) for a in arrays]
    head = jnp.ones((2, 17, 7, 6), jnp.float32)

    def step(*a):
        _, pullback = jax.vjp(lambda *b: native_conv_relu(jax_namespace(), *b, **attrs), *a)
        return pullback(head)

    text = jax.jit(step).lower(*args).as_text()
    assert "convolution" not in text
    assert text.count(native.CONV_TARGET) == 3


@pytest.mark.parametrize(
    ("weight_last", "channels", "filters"), [(True, 24, 40), (False, 24, 40), (True, 256, 250)]
)
def test_fused_relu_and_bias_both_weight_layouts(weight_last, channels, filters):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((2, 6, 5, channels)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((filters, 3, 3, channels)), jnp.float32)
    b = jnp.asarray(rng.standard_normal(filters), jnp.float32)
    weight = w if weight_last else jnp.transpose(w, (0, 3, 1, 2))  # (O, C, KH, KW)
    geometry = {"stride": (1, 1), "dilate": (1, 1), "low": (1, 1), "out": (6, 5)}
    got = native.conv2d_nhwc(
        x, weight, b, weight_last=weight_last, taps=[(0, 3), (0, 3)], relu=True, **geometry
    )
    want = jax.lax.conv_general_dilated(
        x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=("NHWC", "OHWI", "NHWC")
    )
    np.testing.assert_allclose(got, jnp.maximum(want + b, 0), rtol=RTOL, atol=ATOL)


def test_bad_calls_name_the_op_and_expected_shape():
    x = jnp.zeros((1, 5, 5, 8), jnp.float32)
    geometry = {"stride": (1, 1), "dilate": (1, 1), "low": (0, 0), "out": (3, 3)}
    kwargs = {"weight_last": True, "taps": [(0, 3), (0, 3)], **geometry}
    with pytest.raises(HybrixError, match=r"Convolution \(native\).*\(N, H, W, C\)"):
        native.conv2d_nhwc(x[0], jnp.zeros((4, 3, 3, 8), jnp.float32), None, **kwargs)
    with pytest.raises(HybrixError, match=r"same C.*weight \(4, 3, 3, 7\)"):
        native.conv2d_nhwc(x, jnp.zeros((4, 3, 3, 7), jnp.float32), None, **kwargs)
    # the kernel checks too: a direct FFI call with mismatched channels is an error, no crash
    call = jax.ffi.ffi_call(
        native.target(native.CONV_TARGET), jax.ShapeDtypeStruct((1, 3, 3, 4), jnp.float32)
    )
    params = np.array([0, 0, 0, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0], np.int64)
    with pytest.raises(Exception, match="hybrix native Convolution: data has 8 channels"):
        call(x, jnp.zeros((4, 3, 3, 7), jnp.float32), jnp.zeros(4, jnp.float32), conv=params)
    # the frame both kernels share (common.h decode_frame): attribute and dtypes named
    weight, bias = jnp.zeros((4, 3, 3, 8), jnp.float32), jnp.zeros(4, jnp.float32)
    with pytest.raises(Exception, match="expected an int64 array attribute conv of 13 values"):
        call(x, weight, bias, conv=params[:5])
    with pytest.raises(Exception, match="expected an int64 array attribute conv"):
        call(x, weight, bias, other=params)
    with pytest.raises(Exception, match="expected float32 inputs and output"):
        call(x, weight, bias.astype(jnp.int32), conv=params)
    # a residual must have the output's shape (the wrapper says so, and the kernel too)
    with pytest.raises(HybrixError, match=r"residual of the output's shape \(1, 3, 3, 4\)"):
        native.conv2d_nhwc(x, weight, bias, residual=jnp.zeros((1, 3, 3, 5)), **kwargs)
    with pytest.raises(
        Exception, match=r"expected a residual of the output's shape \(1, 3, 3, 4\)"
    ):
        call(x, weight, bias, jnp.zeros((1, 3, 4, 4), jnp.float32), conv=params)


def test_fits_says_why_not():
    attrs = get_op("Convolution").check_attrs({"kernel": (3, 3), "num_filter": 4})
    shapes = [(1, 4, 5, 5), (4, 4, 3, 3)]
    fits = strategy_named("Convolution", "native").fits
    assert fits(Case.make("Convolution", shapes, "float32", attrs)) is None
    assert "float32" in fits(Case.make("Convolution", shapes, "float64", attrs))
    assert "CPU" in fits(Case.make("Convolution", shapes, "float32", attrs, target="gpu"))
    grouped = {**attrs, "num_group": 2}
    assert "num_group" in fits(Case.make("Convolution", [shapes[0], (4, 2, 3, 3)], "f4", grouped))
    with native.disabled():
        assert "disabled" in fits(Case.make("Convolution", shapes, "float32", attrs))


def test_unavailable_compiler_means_no_fit_and_compile_still_works(monkeypatch):
    monkeypatch.setattr(native, "_STATE", {"reason": None, "done": False, "library": None})
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    reason = native.unavailable()
    assert reason == "native kernels unavailable: no C compiler (cc or gcc) on PATH"
    monkeypatch.setenv("HYBRIX_NATIVE", "0")
    assert native.unavailable() == "native kernels unavailable: HYBRIX_NATIVE=0"
    arrays, attrs = _inputs("3x3_pad")
    case = Case.make("Convolution", [a.shape for a in arrays], "float32", attrs)
    reasons = {s.name: why for s, why in candidates(case)}
    assert reasons["native"].startswith("native kernels unavailable")
    arrays_dw, attrs_dw = _depthwise_inputs("c17_s1_p1")
    case_dw = Case.make("Convolution", [a.shape for a in arrays_dw], "float32", attrs_dw)
    reasons = {s.name: why for s, why in candidates(case_dw)}
    assert reasons["native_depthwise"].startswith("native kernels unavailable")
    from hybrix.compiler import compile_graph
    from hybrix.ir import parse

    graph = parse(
        "graph g(%x: f32[1,9,9,16], %w: f32[32,3,3,16], %b: f32[32]) {\n"
        "  %y = Convolution(%x, %w, %b) {kernel=[3, 3], num_filter=32, pad=[1, 1], "
        'layout="NHWC"} : f32[1,9,9,32]\n  return %y\n}'
    )
    (out,) = compile_graph(graph)(*[jnp.asarray(a) for a in arrays])
    want = _run(get_op("Convolution").lower_fn, arrays, attrs)
    np.testing.assert_allclose(out, want, rtol=RTOL, atol=ATOL)
    # fused conv+relu groups (dense and depthwise) walk their bodies as before
    from hybrix.compiler.lower import lower_graph
    from hybrix.passes import fold_activation

    fused = parse(_CONV_RELU)
    fold_activation(fused)
    rng = np.random.default_rng(8)
    args = [jnp.asarray(rng.standard_normal(v.type.shape), jnp.float32) for v in fused.inputs]
    (out,) = compile_graph(fused)(*args)
    (want,) = jax.jit(lambda *a: lower_graph(fused, None)([], *a))(*args)
    np.testing.assert_allclose(out, want, rtol=RTOL, atol=ATOL)


def _forced_native(node, args):
    if node.op != "Convolution":
        return None
    case = Case.make("Convolution", [a.shape for a in args], str(args[0].dtype), node.attrs)
    return native_conv if strategy_named("Convolution", "native").fits(case) is None else None


def test_whole_resnet18_with_native_forced_equals_naive(small_resnet):
    from hybrix.compiler.lower import lower_graph

    graph, data = small_resnet
    constants = [jnp.asarray(v.const) for v in graph.constants]
    uses = []

    def choose(node, args):
        lowering = _forced_native(node, args)
        uses.append(lowering is not None)
        return lowering

    (got,) = jax.jit(lower_graph(graph, choose))(constants, jnp.asarray(data))
    (want,) = jax.jit(lower_graph(graph, None))(constants, jnp.asarray(data))
    assert sum(uses) >= 15, "every ResNet-18 convolution fits the native kernel"
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def _conv_bundle(monkeypatch, tmp_path):
    """A one-Convolution bundle built with the default chooser forced to pick native."""
    from hybrix.compiler import autotune
    from hybrix.compiler.bundle import build_bundle
    from hybrix.ir import parse

    monkeypatch.setattr(autotune, "strategy_chooser", lambda mode=None: _forced_native)
    graph = parse(
        "graph g(%x: f32[1,6,6,8], %w: f32[16,3,3,8]) {\n"
        "  %y = Convolution(%x, %w) {kernel=[3, 3], num_filter=16, pad=[1, 1], no_bias=true, "
        'layout="NHWC"} : f32[1,6,6,16]\n  return %y\n}'
    )
    rng = np.random.default_rng(4)
    weight = rng.standard_normal((16, 3, 3, 8)).astype(np.float32)
    data = rng.standard_normal((1, 6, 6, 8)).astype(np.float32)
    path = tmp_path / "conv.hxb"
    build_bundle(graph, {"w": weight}, path)
    attrs = get_op("Convolution").check_attrs(
        {"kernel": (3, 3), "num_filter": 16, "pad": (1, 1), "no_bias": True, "layout": "NHWC"}
    )
    return path, data, _run(get_op("Convolution").lower_fn, [data, weight], attrs)


def test_bundles_keep_stablehlo_portable_and_ship_the_kernels_with_the_executable(
    monkeypatch, tmp_path
):
    path, data, want = _conv_bundle(monkeypatch, tmp_path)
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        (entry,) = manifest["executables"]
        library = entry["native"]
        assert library["member"] in bundle.namelist()
        assert set(library["targets"].values()) >= {native.CONV_TARGET}
        assert library["cpu_flags"]
        # the StableHLO runs anywhere: it never calls the kernels
        stablehlo = [n for n in bundle.namelist() if n.startswith("stablehlo/")]
        assert stablehlo
        assert not any(native.CONV_TARGET.encode() in bundle.read(n) for n in stablehlo)
        assert native.CONV_TARGET.encode() in bundle.read(entry["member"])
    # a fresh process, a fresh cache dir, no `import jax`: the bundle's library is registered
    np.save(tmp_path / "data.npy", data)
    out, data_path = tmp_path / "out.npy", tmp_path / "data.npy"
    code = (
        "import sys, numpy as np, hybrix.runtime as rt\n"
        f"s = rt.load({str(path)!r}, executor='precompiled')\n"
        f"np.save({str(out)!r}, s.run([np.load({str(data_path)!r})])[0])\n"
        "assert 'jax' not in sys.modules\n"
    )
    env = {**os.environ, "HYBRIX_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(out), want, rtol=RTOL, atol=ATOL)


def test_a_cpu_without_the_kernels_flags_runs_the_stablehlo(monkeypatch, tmp_path):
    from hybrix import runtime
    from hybrix.runtime import native as runtime_native

    path, data, want = _conv_bundle(monkeypatch, tmp_path)
    monkeypatch.setattr(runtime_native, "cpu_flags", lambda: ["sse2"])
    session = runtime.load(path, executor="auto")
    np.testing.assert_allclose(session.run([data])[0], want, rtol=RTOL, atol=ATOL)
    assert session.last_executor == "stablehlo"
    with pytest.raises(PlatformMismatchError):
        runtime.load(path, executor="precompiled").run([data])
    monkeypatch.undo()
    monkeypatch.setenv("HYBRIX_NATIVE", "0")  # turned off: the same, on a capable CPU
    session = runtime.load(path, executor="auto")
    np.testing.assert_allclose(session.run([data])[0], want, rtol=RTOL, atol=ATOL)
    assert session.last_executor == "stablehlo"


@pytest.mark.parametrize("march", ["x86-64-v3", "x86-64"])
def test_avx2_and_generic_builds_match(march, tmp_path):
    """The same sources built for AVX2 (ymm tiles) and for plain x86-64 (no wide vectors)."""
    import platform

    from hybrix.runtime.native import register_library

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86-64 builds only")
    path = tmp_path / f"conv-{march}.so"
    flags = [f if f != "-march=native" else f"-march={march}" for f in native._FLAGS]
    native._build(native._compiler(), jax.ffi.include_dir(), path, flags)
    target = f"hybrix_conv2d_nhwc_test_{march.replace('-', '_')}"
    register_library(path, {target: native.CONV_TARGET, f"{target}_dw": native.DEPTHWISE_TARGET})
    rng = np.random.default_rng(5)
    for channels, filters, kernel, stride in [(3, 17, 7, 2), (20, 100, 3, 1), (64, 40, 1, 1)]:
        x = jnp.asarray(rng.standard_normal((2, 9, 8, channels)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((filters, kernel, kernel, channels)), jnp.float32)
        b = jnp.asarray(rng.standard_normal(filters), jnp.float32)
        pad = kernel // 2
        out = ((9 + 2 * pad - kernel) // stride + 1, (8 + 2 * pad - kernel) // stride + 1)
        geometry = {"stride": (stride,) * 2, "dilate": (1, 1), "low": (pad, pad), "out": out}
        taps = [(0, kernel), (0, kernel)]
        got = native.conv2d_nhwc(x, w, b, weight_last=True, taps=taps, target=target, **geometry)
        want = jax.lax.conv_general_dilated(
            x, w, (stride,) * 2, [(pad, pad)] * 2, dimension_numbers=("NHWC", "OHWI", "NHWC")
        )
        np.testing.assert_allclose(got, want + b, rtol=RTOL, atol=ATOL)
    for channels, kernel, stride in [(17, 3, 1), (40, 3, 2), (20, 5, 1)]:
        x = jnp.asarray(rng.standard_normal((2, 9, 8, channels)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((channels, kernel, kernel)), jnp.float32)
        b = jnp.asarray(rng.standard_normal(channels), jnp.float32)
        pad = kernel // 2
        out = ((9 + 2 * pad - kernel) // stride + 1, (8 + 2 * pad - kernel) // stride + 1)
        geometry = {"stride": (stride,) * 2, "dilate": (1, 1), "low": (pad, pad), "out": out}
        got = native.depthwise_conv2d_nhwc(x, w, b, target=f"{target}_dw", relu=True, **geometry)
        want = jax.lax.conv_general_dilated(
            x,
            jnp.transpose(w, (1, 2, 0))[..., None, :],
            (stride,) * 2,
            [(pad, pad)] * 2,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=channels,
        )
        np.testing.assert_allclose(got, jnp.maximum(want + b, 0), rtol=RTOL, atol=ATOL)


# -- depthwise ----------------------------------------------------------------------------------
# name -> (NCHW data shape, kernel, stride, pad, dilate, channels-last?, bias?): channels that
# are no multiple of the vector width (1, 3, 17, 40), 3x3 and 5x5 (unrolled), a 7x7 and a
# rectangular kernel (the generic path), padding 0, 1, per-axis and wider than the kernel
# reach, dilation, batch > 1, both layouts, with and without bias
DEPTHWISE = {
    "c17_s1_p1": ((1, 17, 9, 8), (3, 3), (1, 1), (1, 1), (1, 1), True, True),
    "c40_s2_p1_nchw": ((2, 40, 10, 11), (3, 3), (2, 2), (1, 1), (1, 1), False, True),
    "c32_s2_pad_1_0": ((1, 32, 12, 12), (3, 3), (2, 2), (1, 0), (1, 1), True, False),
    "c1_p0_batch": ((2, 1, 6, 6), (3, 3), (1, 1), (0, 0), (1, 1), True, True),
    "c3_5x5_p2": ((1, 3, 7, 7), (5, 5), (1, 1), (2, 2), (1, 1), False, True),
    "c48_5x5_s2": ((2, 48, 11, 9), (5, 5), (2, 2), (2, 1), (1, 1), True, True),
    "c20_dilate2": ((1, 20, 9, 9), (3, 3), (1, 1), (2, 2), (2, 2), True, False),
    "c16_7x7": ((1, 16, 8, 8), (7, 7), (1, 1), (3, 3), (1, 1), True, True),
    "c33_1x3_s12": ((2, 33, 5, 9), (1, 3), (1, 2), (0, 1), (1, 1), False, True),
    "c64_pad_wide": ((1, 64, 3, 3), (3, 3), (2, 2), (2, 2), (1, 1), True, True),
}


def _depthwise_inputs(name, seed=0):
    shape, kernel, stride, pad, dilate, last, with_bias = DEPTHWISE[name]
    channels = shape[1]
    attrs = {"kernel": kernel, "stride": stride, "pad": pad, "dilate": dilate}
    attrs |= {"num_filter": channels, "num_group": channels, "no_bias": not with_bias}
    full = get_op("Convolution").check_attrs({**attrs, "layout": "NHWC" if last else None})
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape), rng.standard_normal((channels, 1, *kernel))
    arrays = [x, w] + ([rng.standard_normal(channels)] if with_bias else [])
    if last:
        arrays[0], arrays[1] = np.moveaxis(x, 1, -1), np.moveaxis(w, 1, -1)
    return [np.ascontiguousarray(a).astype(np.float32) for a in arrays], full


@pytest.mark.parametrize("name", list(DEPTHWISE))
def test_depthwise_matches_xla_and_ref(name):
    from hybrix.compiler.strategies.native import native_depthwise, native_depthwise_relu

    arrays, attrs = _depthwise_inputs(name)
    op = get_op("Convolution")
    case = Case.make("Convolution", [a.shape for a in arrays], "float32", attrs)
    assert strategy_named("Convolution", "native_depthwise").fits(case) is None
    if attrs["num_group"] > 1:
        assert "num_group == 1" in strategy_named("Convolution", "native").fits(case)
    expected = op.ref_fn(*[a.astype(np.float64) for a in arrays], **attrs)
    got = _run(native_depthwise, arrays, attrs)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, _run(op.lower_fn, arrays, attrs), rtol=RTOL, atol=ATOL)
    relu = _run(native_depthwise_relu, arrays, attrs)
    np.testing.assert_allclose(relu, np.maximum(expected, 0), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["c40_s2_p1_nchw", "c17_s1_p1", "c32_s2_pad_1_0"])
def test_depthwise_gradients_equal_xla(name):
    from hybrix.compiler.strategies.native import native_depthwise, native_depthwise_relu

    arrays, attrs = _depthwise_inputs(name)
    args = [jnp.asarray(a) for a in arrays]
    facet = get_op("Convolution").lower_fn

    def facet_relu(jx, *a, **kw):
        return jnp.maximum(facet(jx, *a, **kw), 0)

    expected = facet(jax_namespace(), *args, **attrs)
    head = jnp.asarray(np.random.default_rng(1).standard_normal(expected.shape), jnp.float32)

    def grads(lower):
        _, pullback = jax.vjp(lambda *a: lower(jax_namespace(), *a, **attrs), *args)
        return jax.jit(pullback)(head)

    for lower, want_lower in [(native_depthwise, facet), (native_depthwise_relu, facet_relu)]:
        for got, want in zip(grads(lower), grads(want_lower), strict=True):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_depthwise_fits_and_bad_calls_say_why():
    attrs = get_op("Convolution").check_attrs({"kernel": (3, 3), "num_filter": 8, "num_group": 8})
    fits = strategy_named("Convolution", "native_depthwise").fits
    shapes = [(1, 8, 5, 5), (8, 1, 3, 3)]
    assert fits(Case.make("Convolution", shapes, "float32", attrs)) is None
    assert "float32" in fits(Case.make("Convolution", shapes, "float64", attrs))
    grouped = {**attrs, "num_group": 4}  # two channels per group
    assert "not depthwise" in fits(
        Case.make("Convolution", [shapes[0], (8, 2, 3, 3)], "f4", grouped)
    )
    dense = {**attrs, "num_group": 1}
    assert "not depthwise" in fits(Case.make("Convolution", [shapes[0], (8, 8, 3, 3)], "f4", dense))
    with native.disabled():
        assert "disabled" in fits(Case.make("Convolution", shapes, "float32", attrs))
    x = jnp.zeros((1, 5, 5, 8), jnp.float32)
    geometry = {"stride": (1, 1), "dilate": (1, 1), "low": (1, 1), "out": (5, 5)}
    with pytest.raises(HybrixError, match=r"native depthwise.*weight \(C, KH, KW\)"):
        native.depthwise_conv2d_nhwc(x, jnp.zeros((7, 3, 3), jnp.float32), None, **geometry)
    call = jax.ffi.ffi_call(
        native.target(native.DEPTHWISE_TARGET), jax.ShapeDtypeStruct(x.shape, jnp.float32)
    )
    params = np.array([3, 3, 1, 1, 1, 1, 1, 1, 0, 0], np.int64)
    with pytest.raises(Exception, match="hybrix native depthwise Convolution: data has 8"):
        call(x, jnp.zeros((8, 3, 2), jnp.float32), jnp.zeros(8, jnp.float32), dw=params)


# -- Convolution -> relu fused into the kernel --------------------------------------------------
def _forced(node, args):
    """Native wherever it fits (dense or depthwise); _fused conv+relu groups as one call."""
    from hybrix.compiler.autotune import fused_lowering

    if node.op == "_fused":
        return fused_lowering(node, args, _forced)
    if node.op == "transpose":
        case = Case.make("transpose", [args[0].shape], str(args[0].dtype), node.attrs)
        strategy = strategy_named("transpose", "native_channels_last")
        return strategy.lower if strategy.fits(case) is None else None
    if node.op != "Convolution":
        return None
    case = Case.make("Convolution", [a.shape for a in args], str(args[0].dtype), node.attrs)
    for name in ("native", "native_depthwise"):
        strategy = strategy_named("Convolution", name)
        if strategy.fits(case) is None:
            return strategy.lower
    return None


_CONV_RELU = (
    "graph g(%x: f32[2,9,9,16], %w: f32[24,3,3,16], %b: f32[24], %d: f32[24,3,3,1]) {\n"
    "  %c = Convolution(%x, %w, %b) {kernel=[3, 3], num_filter=24, pad=[1, 1], "
    'layout="NHWC"} : f32[2,9,9,24]\n'
    '  %r = Activation(%c) {act_type="relu"} : f32[2,9,9,24]\n'
    "  %e = Convolution(%r, %d) {kernel=[3, 3], num_filter=24, num_group=24, pad=[1, 1], "
    'stride=[2, 2], no_bias=true, layout="NHWC"} : f32[2,5,5,24]\n'
    "  %s = relu(%e) : f32[2,5,5,24]\n"
    "  return %s\n}"
)


def test_fused_conv_relu_lowers_to_one_native_call_with_the_relu_flag():
    from hybrix.compiler.autotune import conv_relu_group
    from hybrix.compiler.lower import lower_graph
    from hybrix.ir import parse
    from hybrix.passes import fold_activation

    graph = parse(_CONV_RELU)
    fold_activation(graph)
    fused = [n for n in graph.nodes if n.op == "_fused"]
    assert len(fused) == 2
    assert all(conv_relu_group(n) is not None for n in fused)
    rng = np.random.default_rng(6)
    args = [jnp.asarray(rng.standard_normal(v.type.shape), jnp.float32) for v in graph.inputs]
    lowered = jax.jit(lambda *a: lower_graph(graph, _forced)([], *a)).lower(*args)
    text = lowered.as_text()
    assert text.count(native.CONV_TARGET) == 1
    assert text.count(native.DEPTHWISE_TARGET) == 1
    assert "maximum" not in text, "the ReLU runs in the kernels, not as a separate max"
    (got,) = lowered.compile()(*args)
    (want,) = jax.jit(lambda *a: lower_graph(graph, None)([], *a))(*args)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)

    # gradients: jax.vjp of relu(facet) through the custom_vjp
    def loss(choose):
        return jax.jit(jax.grad(lambda *a: lower_graph(graph, choose)([], *a)[0].sum(), (0, 1)))

    for g_got, g_want in zip(loss(_forced)(*args), loss(None)(*args), strict=True):
        np.testing.assert_allclose(g_got, g_want, rtol=RTOL, atol=1e-3)


def test_fused_hook_walks_groups_it_does_not_match():
    from hybrix.compiler.autotune import conv_relu_group
    from hybrix.ir import parse
    from hybrix.passes import fold_activation

    graph = parse(_CONV_RELU.replace('act_type="relu"', 'act_type="tanh"'))
    fold_activation(graph)
    assert next(conv_relu_group(n) for n in graph.nodes if n.op == "_fused") is None
    with native.disabled():  # the conv's own choice is not native: no group lowering
        node = next(n for n in graph.nodes if n.op == "_fused" and conv_relu_group(n))
        args = [jnp.zeros(v.type.shape, jnp.float32) for v in node.inputs]
        assert _forced(node, args) is None


_CONV_ADD_RELU = (
    "graph g(%x: f32[2,9,9,16], %w: f32[24,3,3,16], %b: f32[24], %s: f32[2,9,9,24]) {\n"
    "  %c = Convolution(%x, %w, %b) {kernel=[3, 3], num_filter=24, pad=[1, 1], "
    'layout="NHWC"} : f32[2,9,9,24]\n'
    "  %a = elemwise_add(%s, %c) : f32[2,9,9,24]\n"
    "  %r = relu(%a) : f32[2,9,9,24]\n"
    "  return %r\n}"
)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_conv_add_relu_group_is_one_native_call_with_the_residual(layout):
    from hybrix.compiler.autotune import conv_relu_group
    from hybrix.compiler.lower import lower_graph
    from hybrix.ir import parse
    from hybrix.passes import fold_residual, fuse_elementwise

    text = _CONV_ADD_RELU
    if layout == "NCHW":
        text = text.replace(', layout="NHWC"', "").replace("2,9,9,16", "2,16,9,9")
        text = text.replace("2,9,9,24", "2,24,9,9").replace("24,3,3,16", "24,16,3,3")
    graph = parse(text)
    fuse_elementwise(graph)
    fold_residual(graph)
    (node,) = graph.nodes
    group = conv_relu_group(node)
    assert group is not None
    assert group.residual is not None
    rng = np.random.default_rng(8)
    args = [jnp.asarray(rng.standard_normal(v.type.shape), jnp.float32) for v in graph.inputs]
    lowered = jax.jit(lambda *a: lower_graph(graph, _forced)([], *a)).lower(*args)
    program = lowered.as_text()
    assert program.count(native.CONV_TARGET) == 1
    assert "stablehlo.add" not in program, "the residual is added in the kernel"
    assert "maximum" not in program, "the ReLU runs in the kernel"
    (got,) = lowered.compile()(*args)
    (want,) = jax.jit(lambda *a: lower_graph(graph, None)([], *a))(*args)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)

    def grads(choose):
        loss = lambda *a: (lower_graph(graph, choose)([], *a)[0] ** 2).sum()  # noqa: E731
        return jax.jit(jax.grad(loss, (0, 1, 2, 3)))(*args)

    for g_got, g_want in zip(grads(_forced), grads(None), strict=True):
        np.testing.assert_allclose(g_got, g_want, rtol=RTOL, atol=1e-3)


def test_mobilenet_with_native_forced_equals_naive():
    import hybrix
    from hybrix import autograd, models
    from hybrix.compiler.lower import lower_graph
    from hybrix.compiler.pipelines import optimize

    net = models.get_model("mobilenet0.25", classes=10)
    net.initialize()
    data = np.random.default_rng(7).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with autograd.predict_mode():
        graph = optimize(hybrix.trace(net, hybrix.nd.array(data)), "O2", inference=True)
    constants = [jnp.asarray(v.const) for v in graph.constants]
    lowered = jax.jit(lower_graph(graph, _forced)).lower(constants, jnp.asarray(data))
    text = lowered.as_text()
    assert text.count(native.DEPTHWISE_TARGET) == 13, "MobileNet's 13 depthwise convolutions"
    assert text.count(native.CONV_TARGET) == 14, "its stem and 13 pointwise convolutions"
    assert "maximum" not in text, "every ReLU fused (the stem's after the layout transpose too)"
    assert text.count(native.LAYOUT_TARGET) == 1, "the input's transpose in the stem's group"
    (got,) = lowered.compile()(constants, jnp.asarray(data))
    (want,) = jax.jit(lower_graph(graph, None))(constants, jnp.asarray(data))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "attrs"),
    [
        ((1, 12, 11, 64), {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}),
        ((2, 9, 9, 20), {"kernel": (3, 3), "stride": (2, 2), "pooling_convention": "full"}),
        ((3, 5, 6, 7), {"kernel": (2, 3), "stride": (1, 2), "pad": (1, 2)}),
        # windows of padding only give the lowest finite float, as in MXNet
        ((1, 1, 1, 17), {"kernel": (2, 2), "stride": (1, 1), "pad": (2, 2)}),
    ],
)
def test_native_max_pooling_matches_ref(shape, attrs):
    from hybrix.compiler.strategies.pool import native_max

    op = get_op("Pooling")
    attrs = op.check_attrs({**attrs, "pool_type": "max", "layout": "NHWC"})
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    expected = op.ref_fn(x, **attrs)  # NOTE: float32: padding is float32's lowest value
    got = jax.jit(lambda a: native_max(jax_namespace(), a, **attrs))(jnp.asarray(x))
    np.testing.assert_array_equal(got, expected)
    facet = jax.jit(lambda a: op.lower_fn(jax_namespace(), a, **attrs))(jnp.asarray(x))
    np.testing.assert_array_equal(got, facet)


def test_native_max_pooling_bad_calls_are_named():
    x = jnp.zeros((1, 4, 4, 8), jnp.float32)
    with pytest.raises(HybrixError, match=r"Pooling \(native\): expected data \(N, H, W, C\)"):
        native.maxpool2d_nhwc(x[0], kernel=(2, 2), stride=(2, 2), low=(0, 0), out=(2, 2))
    call = jax.ffi.ffi_call(
        native.target(native.MAXPOOL_TARGET), jax.ShapeDtypeStruct((1, 2, 2, 4), jnp.float32)
    )
    params = np.array([2, 2, 2, 2, 0, 0, 0], np.int64)
    with pytest.raises(Exception, match=r"hybrix native Pooling: expected output \(1, OH, OW, 8\)"):
        call(x, pool=params)
    with pytest.raises(Exception, match="expected 1 arguments \\(data\\) and 1 result"):
        call(x, x, pool=params)


# (NCHW data shape, attrs, channels-last?): strides 1-3, a kernel smaller than the stride
# (phases without taps), adj, target_shape, dilation at stride 1, both layouts
DECONV = {
    "4x4_s2": ((2, 6, 5, 4), {"kernel": (4, 4), "stride": (2, 2), "pad": (1, 1)}, False),
    "3x3_s1_nhwc": ((2, 5, 6, 6), {"kernel": (3, 3), "pad": (1, 1)}, True),
    "3x2_s3_adj": (
        (2, 5, 4, 3),
        {"kernel": (3, 2), "stride": (3, 2), "pad": (1, 0), "adj": (2, 1)},
        False,
    ),
    "1x1_s2x3": ((2, 5, 4, 3), {"kernel": (1, 1), "stride": (2, 3)}, True),
    "dilated_s1": ((2, 4, 5, 5), {"kernel": (3, 3), "dilate": (2, 2), "pad": (1, 1)}, False),
    "target_shape": (
        (1, 6, 5, 4),
        {"kernel": (4, 4), "stride": (2, 2), "target_shape": (9, 8)},
        True,
    ),
}


def _deconv_inputs(name, filters=7):
    shape, attrs, last = DECONV[name]
    op = get_op("Deconvolution")
    attrs = op.check_attrs(
        {**attrs, "num_filter": filters, "no_bias": False, "layout": "NHWC" if last else None}
    )
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1], filters, *attrs["kernel"])).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    if last:
        x, w = np.moveaxis(x, 1, -1), np.moveaxis(w, 1, -1)
    return [jnp.asarray(np.ascontiguousarray(a)) for a in (x, w, b)], attrs


@pytest.mark.parametrize("name", list(DECONV))
def test_native_deconvolution_matches_ref_facet_and_gradients(name):
    from hybrix.compiler.strategies.deconv import native_deconv

    args, attrs = _deconv_inputs(name)
    op = get_op("Deconvolution")
    case = Case.make("Deconvolution", [a.shape for a in args], "float32", attrs)
    assert strategy_named("Deconvolution", "native").fits(case) is None
    expected = op.ref_fn(*[np.asarray(a, np.float64) for a in args], **attrs)
    got = jax.jit(lambda *a: native_deconv(jax_namespace(), *a, **attrs))(*args)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    head = jnp.asarray(np.random.default_rng(7).standard_normal(expected.shape), jnp.float32)
    for g, w in zip(
        _grads(native_deconv, args, attrs, head),
        _grads(op.lower_fn, args, attrs, head),
        strict=True,
    ):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_native_deconvolution_fits_and_cost_say_why():
    op = get_op("Deconvolution")
    fits = strategy_named("Deconvolution", "native").fits

    def case(data, weight, **attrs):
        full = op.check_attrs({"kernel": (4, 4), "num_filter": weight[1], **attrs})
        return Case.make("Deconvolution", [data, weight], "float32", full)

    grouped = case((1, 4, 5, 5), (4, 2, 4, 4), num_group=2)
    assert fits(grouped) == "native kernels need num_group == 1"
    both = case((1, 4, 5, 5), (4, 4, 4, 4), stride=(2, 2), dilate=(2, 2))
    assert fits(both) == "stride and dilation together (the phases assume dilation 1)"
    # the cost model: native phases for thin channels, XLA for a large weight at batch 1
    from hybrix.compiler import autotune

    thin = case((1, 64, 56, 56), (64, 64, 4, 4), stride=(2, 2), pad=(1, 1))
    wide = case((1, 512, 7, 7), (512, 256, 4, 4), stride=(2, 2), pad=(1, 1))
    assert autotune.choose(thin, "cost").strategy == "native"
    assert autotune.choose(wide, "cost").strategy == "xla"


# -- NCHW -> NHWC of a few channels ----------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (2, 1, 5, 7), (3, 4, 9, 8), (1, 2, 97, 91)])
def test_native_channels_last_matches_numpy_and_its_gradient_is_xlas(shape):
    lower = strategy_named("transpose", "native_channels_last").lower

    def channels_last(a):
        return lower(jax_namespace(), a, axes=(0, 2, 3, 1))

    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    lowered = jax.jit(channels_last).lower(x)
    assert native.LAYOUT_TARGET in lowered.as_text()
    got = lowered.compile()(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(got), x.transpose(0, 2, 3, 1))
    head = jnp.asarray(np.random.default_rng(4).standard_normal(got.shape).astype(np.float32))
    grad = jax.grad(lambda a: jnp.sum(channels_last(a) * head))
    want = jax.grad(lambda a: jnp.sum(jnp.transpose(a, (0, 2, 3, 1)) * head))
    np.testing.assert_array_equal(np.asarray(grad(x)), np.asarray(want(x)))


def test_native_channels_last_fits_cost_and_bad_calls_say_why():
    from hybrix.compiler import autotune

    def case(shape, axes=(0, 2, 3, 1), dtype="float32", target="cpu"):
        return Case.make("transpose", [shape], dtype, {"axes": axes}, target)

    strategy = strategy_named("transpose", "native_channels_last")
    assert strategy.fits(case((1, 3, 224, 224))) is None
    assert "5 channels" in strategy.fits(case((1, 5, 8, 8)))
    assert "not NCHW -> NHWC" in strategy.fits(case((1, 3, 8, 8), axes=(0, 3, 1, 2)))
    assert "not NCHW -> NHWC" in strategy.fits(case((3, 8, 8), axes=(1, 2, 0)))
    assert "float64 on cpu" in strategy.fits(case((1, 3, 8, 8), dtype="float64"))
    assert "on gpu" in strategy.fits(case((1, 3, 8, 8), target="gpu"))
    # an image's worth of pixels goes native; a few pixels stay with XLA (a call costs more)
    assert autotune.choose(case((1, 3, 224, 224)), "cost").strategy == "native_channels_last"
    assert autotune.choose(case((1, 3, 4, 4)), "cost").strategy == "xla"

    x = jnp.zeros((1, 5, 4, 4), jnp.float32)
    with pytest.raises(
        HybrixError, match=r"transpose \(native\): expected data \(N, C, H, W\) with 1 to 4"
    ):
        native.nchw_to_nhwc(x)
    call = jax.ffi.ffi_call(
        native.target(native.LAYOUT_TARGET), jax.ShapeDtypeStruct((1, 4, 3, 2), jnp.float32)
    )
    params = np.array([0], np.int64)
    with pytest.raises(Exception, match=r"hybrix native transpose: expected output \(1, 4, 4, 2\)"):
        call(jnp.zeros((1, 2, 4, 4), jnp.float32), layout=params)
    with pytest.raises(
        Exception, match=r"hybrix native transpose: expected 1 to 4 channels, got 5"
    ):
        jax.ffi.ffi_call(
            native.target(native.LAYOUT_TARGET), jax.ShapeDtypeStruct((1, 4, 4, 5), jnp.float32)
        )(x, layout=params)
