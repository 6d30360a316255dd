"""The "native" Convolution strategy: hybrix's own CPU kernel (compiler/native) via XLA FFI.

An indirect-GEMM convolution on NHWC data with the bias fused; channels-first data is
transposed in and out, and its (O, C, KH, KW) weight to (O, KH, KW, C). Taps that read only
padding are dropped (trim_taps) by telling the kernel which taps to use, without a copy.
Gradients are those of the op's own lowering (jax.custom_vjp whose backward is jax.vjp of the
facet): the kernel is forward only.
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler import native
from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.compiler.strategies._registry import Case, Strategy, register
from hybrix.ir import get_op

__all__ = ["NATIVE_STRATEGIES", "native_conv"]


def _forward(data: Any, weight: Any, bias: Any, attrs: dict[str, Any]) -> Any:
    import jax.numpy as jnp

    geometry = trim_taps(conv_geometry(tuple(data.shape), tuple(weight.shape), attrs))
    x, w, taps = data, weight, geometry.taps
    if not geometry.last:
        # NOTE: XLA's vectorized transpose to (O, KH, KW, C) (of the kept taps only) and
        # then the kernel's register transposes pack channels-first weights faster than its
        # strided gathers did (bench/native_conv.py)
        (h0, h1), (w0, w1) = taps
        x = jnp.transpose(data, (0, 2, 3, 1))
        w = jnp.transpose(weight[:, :, h0:h1, w0:w1], (0, 2, 3, 1))
        taps = ((0, h1 - h0), (0, w1 - w0))
    out = native.conv2d_nhwc(
        x,
        w,
        bias,
        weight_last=True,
        taps=taps,
        stride=geometry.stride,
        dilate=geometry.dilate,
        low=geometry.low,
        out=geometry.out,
    )
    return out if geometry.last else jnp.transpose(out, (0, 3, 1, 2))


def native_conv(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The native kernel forward; the op's facet backward (a custom_vjp)."""
    import jax

    facet = get_op("Convolution").lower_fn
    assert facet is not None
    use_bias = bias is not None and not attrs.get("no_bias")

    def forward(*args: Any) -> Any:
        return _forward(args[0], args[1], args[2] if use_bias else None, attrs)

    def backward(saved: tuple, head: Any) -> tuple:
        _, pullback = jax.vjp(lambda *a: facet(jx, *a, **attrs), *saved)
        return tuple(pullback(head))

    if bias is None:
        run = jax.custom_vjp(lambda d, w: forward(d, w))
        run.defvjp(lambda d, w: (forward(d, w), (d, w)), backward)
        return run(data, weight)
    run = jax.custom_vjp(lambda d, w, b: forward(d, w, b))
    run.defvjp(lambda d, w, b: (forward(d, w, b), (d, w, b)), backward)
    return run(data, weight, bias)


def _fits(case: Case) -> str | None:
    if case.target != "cpu":
        return f"native kernels run on CPU only (target {case.target})"
    if case.dtype != "float32":
        return f"native kernels are float32 only (got {case.dtype})"
    if len(case.shapes) < 2 or not all(isinstance(d, int) for s in case.shapes for d in s):
        return "needs static shapes"
    kernel = case.attrs.get("kernel") or ()
    if len(kernel) != 2:
        return f"native kernels are 2-D only (kernel {tuple(kernel)})"
    if case.attrs.get("num_group", 1) != 1:
        return "native kernels need num_group == 1"
    geometry = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    if geometry.batch * geometry.filters * geometry.channels == 0 or 0 in geometry.out:
        return "empty convolution"
    if native.is_disabled():
        return "native kernels disabled here (portable program)"
    return native.unavailable()


NATIVE_STRATEGIES = [
    register(
        Strategy(
            "native",
            "Convolution",
            native_conv,
            _fits,
            "hybrix's indirect-GEMM CPU kernel (XLA FFI custom call), bias fused",
        )
    ),
]
