"""The "native" and "native_depthwise" Convolution strategies: hybrix's own CPU kernels
(compiler/native) via XLA FFI.

"native": an indirect-GEMM convolution (num_group == 1) on NHWC data with the bias fused;
channels-first data is transposed in and out, and its (O, C, KH, KW) weight to
(O, KH, KW, C). Taps that read only padding are dropped (trim_taps) by telling the kernel
which taps to use, without a copy.
"native_depthwise": one filter per channel (num_group == channels == num_filter), any kernel
size, stride and dilation, padding read in place. Both kernels can fuse a following ReLU
(RELU_FUSED: used by compiler/autotune for a `_fused` Convolution -> relu group).
Gradients are those of the op's own lowering (jax.custom_vjp whose backward is jax.vjp of the
facet, then relu's): the kernels are forward only.
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler import native
from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.compiler.strategies._registry import Case, Strategy, register
from hybrix.ir import get_op

__all__ = [
    "NATIVE_STRATEGIES",
    "RELU_FUSED",
    "native_conv",
    "native_conv_relu",
    "native_depthwise",
    "native_depthwise_relu",
]


def _forward(data: Any, weight: Any, bias: Any, attrs: dict[str, Any], relu: bool) -> Any:
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
        relu=relu,
    )
    return out if geometry.last else jnp.transpose(out, (0, 3, 1, 2))


def _depthwise_forward(data: Any, weight: Any, bias: Any, attrs: dict[str, Any], relu: bool) -> Any:
    import jax.numpy as jnp

    geometry = conv_geometry(tuple(data.shape), tuple(weight.shape), attrs)
    x = data if geometry.last else jnp.transpose(data, (0, 2, 3, 1))
    # NOTE: (C, 1, KH, KW) and (C, KH, KW, 1) hold the same floats in the same order
    w = weight.reshape(geometry.channels, *geometry.kernel)
    out = native.depthwise_conv2d_nhwc(
        x,
        w,
        bias,
        stride=geometry.stride,
        dilate=geometry.dilate,
        low=geometry.low,
        out=geometry.out,
        relu=relu,
    )
    return out if geometry.last else jnp.transpose(out, (0, 3, 1, 2))


def _with_facet_backward(
    jx: Any, forward: Any, data: Any, weight: Any, bias: Any, attrs: dict[str, Any], relu: bool
) -> Any:
    """forward(data, weight, bias or None, attrs, relu) with the gradient of the op's own
    lowering (followed by relu's when `relu`): a jax.custom_vjp."""
    import jax

    facet = get_op("Convolution").lower_fn
    relu_facet = get_op("relu").lower_fn
    assert facet is not None
    assert relu_facet is not None
    use_bias = bias is not None and not attrs.get("no_bias")

    def reference(*args: Any) -> Any:
        out = facet(jx, *args, **attrs)
        return relu_facet(jx, out) if relu else out

    def run_forward(*args: Any) -> Any:
        return forward(args[0], args[1], args[2] if use_bias else None, attrs, relu)

    def backward(saved: tuple, head: Any) -> tuple:
        _, pullback = jax.vjp(reference, *saved)
        return tuple(pullback(head))

    if bias is None:
        run = jax.custom_vjp(lambda d, w: run_forward(d, w))
        run.defvjp(lambda d, w: (run_forward(d, w), (d, w)), backward)
        return run(data, weight)
    run = jax.custom_vjp(lambda d, w, b: run_forward(d, w, b))
    run.defvjp(lambda d, w, b: (run_forward(d, w, b), (d, w, b)), backward)
    return run(data, weight, bias)


def native_conv(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The native kernel forward; the op's facet backward (a custom_vjp)."""
    return _with_facet_backward(jx, _forward, data, weight, bias, attrs, False)


def native_conv_relu(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """relu(Convolution(...)) with the ReLU fused into the native kernel."""
    return _with_facet_backward(jx, _forward, data, weight, bias, attrs, True)


def native_depthwise(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The native depthwise kernel forward; the op's facet backward (a custom_vjp)."""
    return _with_facet_backward(jx, _depthwise_forward, data, weight, bias, attrs, False)


def native_depthwise_relu(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """relu(depthwise Convolution(...)) with the ReLU fused into the native kernel."""
    return _with_facet_backward(jx, _depthwise_forward, data, weight, bias, attrs, True)


# strategy name -> the same lowering with relu applied to its output, fused in the kernel
RELU_FUSED = {"native": native_conv_relu, "native_depthwise": native_depthwise_relu}


def _fits_common(case: Case) -> str | None:
    if case.target != "cpu":
        return f"native kernels run on CPU only (target {case.target})"
    if case.dtype != "float32":
        return f"native kernels are float32 only (got {case.dtype})"
    if len(case.shapes) < 2 or not all(isinstance(d, int) for s in case.shapes for d in s):
        return "needs static shapes"
    kernel = case.attrs.get("kernel") or ()
    if len(kernel) != 2:
        return f"native kernels are 2-D only (kernel {tuple(kernel)})"
    geometry = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    if geometry.batch * geometry.filters * geometry.channels == 0 or 0 in geometry.out:
        return "empty convolution"
    return None


def _fits_available() -> str | None:
    if native.is_disabled():
        return "native kernels disabled here (portable program)"
    return native.unavailable()


def _fits(case: Case) -> str | None:
    reason = _fits_common(case)
    if reason:
        return reason
    if case.attrs.get("num_group", 1) != 1:
        return "native kernels need num_group == 1"
    return _fits_available()


def _fits_depthwise(case: Case) -> str | None:
    reason = _fits_common(case)
    if reason:
        return reason
    geometry = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    if not geometry.groups == geometry.channels == geometry.filters:
        return "not depthwise (num_group == channels == num_filter)"
    if geometry.kernel[0] > 64:
        return f"kernel of {geometry.kernel[0]} rows (the kernel takes at most 64)"
    return _fits_available()


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
    register(
        Strategy(
            "native_depthwise",
            "Convolution",
            native_depthwise,
            _fits_depthwise,
            "hybrix's depthwise CPU kernel (XLA FFI custom call), bias fused",
        )
    ),
]
