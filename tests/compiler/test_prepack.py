"""Constant convolution weights packed once (compiler/prepack) give the same results."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import compile_graph, native
from hybrix.compiler.autotune import conv_relu_group
from hybrix.compiler.jx import jax_namespace
from hybrix.compiler.lower import lower_graph
from hybrix.compiler.prepack import plan_prepack
from hybrix.compiler.strategies.native import native_conv, native_conv_relu
from hybrix.ir import Graph, get_op

pytestmark = pytest.mark.skipif(native.unavailable() is not None, reason=str(native.unavailable()))
RTOL, ATOL = 1e-4, 1e-4
# (NCHW data shape, attrs, channels-last?): stride, trimmed taps (asymmetric padding), 1x1,
# filters that are no multiple of the panel width, several panels, both layouts
CASES = [
    ((2, 16, 9, 9), {"kernel": (3, 3), "num_filter": 32, "pad": (1, 1)}, True),
    ((2, 8, 7, 6), {"kernel": (3, 3), "num_filter": 17, "pad": (1, 1)}, False),
    ((1, 20, 9, 8), {"kernel": (3, 3), "num_filter": 200, "pad": (1, 1), "stride": (2, 2)}, True),
    ((2, 4, 2, 2), {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1), "stride": (2, 2)}, False),
    ((1, 64, 5, 5), {"kernel": (1, 1), "num_filter": 130}, True),
    ((1, 3, 20, 20), {"kernel": (7, 7), "num_filter": 64, "pad": (3, 3), "stride": (2, 2)}, True),
]


def _inputs(shape, attrs, last, seed=0):
    rng = np.random.default_rng(seed)
    attrs = get_op("Convolution").check_attrs({**attrs, "layout": "NHWC" if last else None})
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((attrs["num_filter"], shape[1], *attrs["kernel"])).astype(np.float32)
    b = rng.standard_normal(attrs["num_filter"]).astype(np.float32)
    if last:
        x, w = np.moveaxis(x, 1, -1), np.moveaxis(w, 1, -1)
    return [jnp.asarray(np.ascontiguousarray(a)) for a in (x, w, b)], attrs


@pytest.mark.parametrize(("shape", "attrs", "last"), CASES)
@pytest.mark.parametrize("lower", [native_conv, native_conv_relu])
def test_packed_weight_gives_the_unpacked_result(shape, attrs, last, lower):
    from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps

    (x, w, b), attrs = _inputs(shape, attrs, last)
    geometry = trim_taps(conv_geometry(x.shape, w.shape, attrs))
    packed = native.pack_conv_weight(w, weight_last=last, taps=geometry.taps)
    width = native.panel_width(attrs["num_filter"])
    assert packed.shape == (
        -(-attrs["num_filter"] // width),
        np.prod(geometry.kernel) * geometry.channels,
        width,
    )

    def run(weight):
        return jax.jit(lambda *a: lower(jax_namespace(), *a, **attrs))(x, weight, b)

    np.testing.assert_allclose(run(packed), run(w), rtol=RTOL, atol=ATOL)
    expected = get_op("Convolution").lower_fn(jax_namespace(), x, w, b, **attrs)
    if lower is native_conv_relu:
        expected = jnp.maximum(expected, 0)
    np.testing.assert_allclose(run(packed), expected, rtol=RTOL, atol=ATOL)


def test_packed_weight_of_the_wrong_shape_is_named():
    (x, w, _), _ = _inputs((1, 16, 5, 5), {"kernel": (3, 3), "num_filter": 32, "pad": (1, 1)}, True)
    packed = native.pack_conv_weight(w, weight_last=True, taps=((0, 3), (0, 3)))
    wrong = packed[:, :-16, :]  # one tap short
    with pytest.raises(Exception, match=r"expected a packed weight of shape \(1, 144, 32\)"):
        jax.block_until_ready(
            native.conv2d_nhwc(
                x,
                wrong,
                None,
                weight_last=True,
                taps=((0, 3), (0, 3)),
                stride=(1, 1),
                dilate=(1, 1),
                low=(1, 1),
                out=(5, 5),
                filters=32,
            )
        )


def test_compiled_resnet18_packs_every_conv_weight_once_and_equals_naive(small_resnet):
    graph, data = small_resnet
    plan = plan_prepack(graph, "cpu")
    convs = [n for n in graph.nodes if n.op == "Convolution"]
    fused = [n for n in graph.nodes if n.op == "_fused" and "Convolution" in str(n.attrs["graph"])]
    assert len(plan.packs) == len(convs) + len(fused) == 20
    # the eight basic blocks end Convolution -> add -> relu groups (passes.fold_residual)
    assert sum(conv_relu_group(n).residual is not None for n in fused) == 8
    constants = [jnp.asarray(v.const) for v in graph.constants]
    (want,) = jax.jit(lower_graph(graph, None))(constants, jnp.asarray(data))
    compiled = compile_graph(graph)
    (got,) = compiled(jnp.asarray(data))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    program = compiled._jitted.lower(compiled._prepared, jnp.asarray(data)).as_text()
    # every kernel call takes a packed weight (layout 2); no constant is transposed, only
    # the data (the last argument) into NHWC, by the native kernel
    assert program.count("conv = dense<[2, ") == 20
    assert (
        len(re.findall(r"custom_call @hybrix_conv2d_nhwc_\w+\(%\w+, %\w+, %\w+, %\w+\)", program))
        == 8
    )
    assert "stablehlo.transpose %arg" not in program
    assert re.findall(r"custom_call @hybrix_nchw_to_nhwc_\w+\(%arg(\d+)\)", program) == [
        str(len(constants))
    ]
    # other constants through call_with_constants are packed for that call
    other = [c * 0.5 if c.ndim == 4 else c for c in constants]
    (want_other,) = jax.jit(lower_graph(graph, None))(other, jnp.asarray(data))
    (got_other,) = compiled.call_with_constants(other, jnp.asarray(data))
    np.testing.assert_allclose(got_other, want_other, rtol=1e-3, atol=1e-4)


def _conv_then(graph_name, also_used):
    """data -> Convolution(w) -> relu; with `also_used`, w feeds a sum too."""
    from hybrix.ir import DType, TensorType

    graph = Graph(graph_name)
    x = graph.add_input("x", TensorType(DType.float32, (1, 16, 8, 8)))
    weight = np.random.default_rng(0).standard_normal((32, 16, 3, 3)).astype(np.float32)
    w = graph.add_constant("w", weight)
    attrs = {"kernel": (3, 3), "pad": (1, 1), "num_filter": 32, "no_bias": True}
    conv = graph.add_node("Convolution", [x, w], attrs)
    outputs = [conv.outputs[0]]
    if also_used:
        outputs.append(graph.add_node("sum", [w], {}).outputs[0])
    graph.outputs = outputs
    return graph


def test_a_weight_used_elsewhere_too_is_not_packed():
    assert len(plan_prepack(_conv_then("alone", False), "cpu").packs) == 1
    assert not plan_prepack(_conv_then("shared", True), "cpu")
    assert not plan_prepack(_conv_then("gpu", False), "gpu"), "native kernels are CPU only"


def test_training_programs_keep_their_weights_differentiable():
    graph = _conv_then("train", False)
    compiled = compile_graph(graph, train=True)
    assert compiled._prepare is None
    x = jnp.ones((1, 16, 8, 8), jnp.float32)
    grad = jax.grad(lambda c: compiled.call_with_constants(c, x)[0].sum())(compiled._constants)
    assert grad[0].shape == (32, 16, 3, 3)


def test_bundle_executable_takes_parameters_packed_at_load(small_resnet, tmp_path):
    """The precompiled CPU executable takes the convolution weights packed by a prepare
    executable the runtime runs once at load; with jax (its client) and without (jaxlib's)."""
    import json
    import os
    import subprocess
    import sys
    import zipfile

    from hybrix import runtime
    from hybrix.compiler.bundle import build_bundle

    graph, data = small_resnet
    path = tmp_path / "resnet.hxb"
    build_bundle(graph, None, path)
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        (entry,) = manifest["executables"]
        prepare = entry["prepare"]
        assert prepare["member"] in bundle.namelist()
    packed = [o["shape"] for o in prepare["outputs"] if len(o["shape"]) == 3]
    assert len(packed) == 20, "every convolution weight is packed (panels, K, width)"
    want = runtime.load(path, executor="reference").run([data])[0]
    got = runtime.load(path, executor="precompiled").run([data])[0]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    source, out = tmp_path / "data.npy", tmp_path / "out.npy"
    np.save(source, data)
    code = (
        "import sys, numpy as np, hybrix.runtime as rt\n"
        f"s = rt.load({str(path)!r}, executor='precompiled')\n"
        f"np.save({str(out)!r}, s.run([np.load({str(source)!r})])[0])\n"
        "assert 'jax' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(out), want, rtol=1e-3, atol=1e-4)
