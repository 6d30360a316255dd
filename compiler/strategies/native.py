"""The "native" and "native_depthwise" Convolution strategies: hybrix's own CPU kernels
(compiler/native) via XLA FFI.

"native": an indirect-GEMM convolution (num_group == 1) on NHWC data with the bias fused;
channels-first data is transposed in and out, and its (O, C, KH, KW) weight to
(O, KH, KW, C). Taps that read only padding are dropped (trim_taps) by telling the kernel
which taps to use, without a copy.
"native_depthwise": one filter per channel (num_group == channels == num_filter), any kernel
size, stride and dilation, padding read in place. Both kernels can fuse a following ReLU
(RELU_FUSED: used by compiler/autotune for a `_fused` Convolution -> relu group).
Both are jax.custom_vjp: the ReLU's mask comes from the saved output; "native" computes the
weight gradient with the same kernel (a convolution of the data with the output gradient) and
the data gradient too at stride 1 (the output gradient with the flipped weight); the rest is
jax.vjp of the op's own lowering, which is linear, so XLA drops its forward.
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler import native
from hybrix.compiler.strategies._geometry import ConvGeometry, conv_geometry, trim_taps
from hybrix.compiler.strategies._registry import Case, Strategy, register
from hybrix.ir import get_op

__all__ = [
    "NATIVE_STRATEGIES",
    "RELU_FUSED",
    "native_conv",
    "native_conv_add_relu",
    "native_conv_relu",
    "native_depthwise",
    "native_depthwise_relu",
]


def _forward(
    data: Any, weight: Any, bias: Any, attrs: dict[str, Any], relu: bool, residual: Any = None
) -> Any:
    """The kernel on `data`; `weight` in the op's layout, or packed ahead (rank 3,
    compiler/prepack); `residual` (the output's layout) added before the ReLU."""
    import jax.numpy as jnp

    packed = weight.ndim == 3
    shape = (attrs["num_filter"], 1, *attrs["kernel"]) if packed else tuple(weight.shape)
    geometry = trim_taps(conv_geometry(tuple(data.shape), shape, attrs))
    x, w, taps = data, weight, geometry.taps
    if packed and not geometry.last:
        x = jnp.transpose(data, (0, 2, 3, 1))
    elif not geometry.last:
        # NOTE: XLA's vectorized transpose to (O, KH, KW, C) (of the kept taps only) and
        # then the kernel's register transposes pack channels-first weights faster than its
        # strided gathers did (bench/native_conv.py)
        (h0, h1), (w0, w1) = taps
        x = jnp.transpose(data, (0, 2, 3, 1))
        w = jnp.transpose(weight[:, :, h0:h1, w0:w1], (0, 2, 3, 1))
        taps = ((0, h1 - h0), (0, w1 - w0))
    if residual is not None and not geometry.last:
        residual = jnp.transpose(residual, (0, 2, 3, 1))
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
        filters=geometry.filters,
        residual=residual,
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


def _facet_grads(jx: Any, args: tuple, head: Any, attrs: dict[str, Any]) -> tuple:
    """Gradients of the op's own lowering. It is linear in each input, so its forward is
    unused and XLA drops it."""
    import jax

    facet = get_op("Convolution").lower_fn
    assert facet is not None
    _, pullback = jax.vjp(lambda *a: facet(jx, *a, **attrs), *args)
    return tuple(pullback(head))


def _weight_grad(data: Any, head: Any, geometry: ConvGeometry) -> Any:
    """dW[o, c, i, j] = sum over n, y, x of dY[n, o, y, x] X[n, c, y*s + i*d - p, x*s + j*d - p]
    by the native kernel: a convolution itself, of X as (C, H, W, N) (images: channels;
    channels: batch) with dY as (O, OH, OW, N) for kernel, stride d and dilation s."""
    import jax.numpy as jnp

    batch_last = (3, 1, 2, 0) if geometry.last else (1, 2, 3, 0)
    grad = native.conv2d_nhwc(
        jnp.transpose(data, batch_last),
        jnp.transpose(head, batch_last),
        None,
        weight_last=True,
        taps=tuple((0, n) for n in geometry.out),
        stride=geometry.dilate,
        dilate=geometry.stride,
        low=geometry.low,
        out=geometry.kernel,
    )  # (C, KH, KW, O)
    return jnp.transpose(grad, (3, 1, 2, 0) if geometry.last else (3, 0, 1, 2))


def _data_grad(head: Any, weight: Any, geometry: ConvGeometry) -> Any:
    """dX[n, c, i] = sum over o, t of dY[n, o, i + p - t*d] W[o, c, t] (stride 1) by the
    native kernel: dY padded by d*(K-1) - p, convolved with the flipped weight, its channels
    and filters swapped."""
    import jax.numpy as jnp

    if geometry.last:  # (O, KH, KW, C) -> (C, KH, KW, O), taps reversed
        flipped = jnp.transpose(weight[:, ::-1, ::-1, :], (3, 1, 2, 0))
    else:  # (O, C, KH, KW) -> (C, KH, KW, O), taps reversed
        flipped = jnp.transpose(weight[:, :, ::-1, ::-1], (1, 2, 3, 0))
    sizes = zip(geometry.dilate, geometry.kernel, geometry.low, strict=True)
    grad = native.conv2d_nhwc(
        head if geometry.last else jnp.transpose(head, (0, 2, 3, 1)),
        flipped,
        None,
        weight_last=True,
        taps=tuple((0, k) for k in geometry.kernel),
        stride=(1,) * geometry.rank,
        dilate=geometry.dilate,
        low=tuple(d * (k - 1) - p for d, k, p in sizes),
        out=geometry.spatial,
    )
    return grad if geometry.last else jnp.transpose(grad, (0, 3, 1, 2))


def _native_grads(jx: Any, args: tuple, head: Any, attrs: dict[str, Any]) -> tuple:
    """Gradients of a dense 2-D convolution: dW by the native kernel, dX too at stride 1 (at
    larger strides the facet's: the kernel does not dilate its input), the bias's a sum."""
    import jax.numpy as jnp

    data, weight = args[0], args[1]
    geometry = conv_geometry(tuple(data.shape), tuple(weight.shape), attrs)
    if all(s == 1 for s in geometry.stride):
        d_data = _data_grad(head, weight, geometry)
    else:
        linear = {**attrs, "no_bias": True}
        d_data = _facet_grads(jx, (data, weight), head, linear)[0]
    grads = (d_data, _weight_grad(data, head, geometry))
    if len(args) == 2:
        return grads
    if attrs.get("no_bias"):
        return (*grads, jnp.zeros_like(args[2]))
    return (*grads, head.sum(axis=(0, 1, 2) if geometry.last else (0, 2, 3)))


def _with_backward(
    jx: Any, forward: Any, grads: Any, args: tuple, attrs: dict[str, Any], relu: bool
) -> Any:
    """forward(data, weight, bias or None, attrs, relu) as a jax.custom_vjp whose backward is
    `grads(jx, args, head, attrs)`, after relu's mask (from the saved output: the forward is
    not run again)."""
    import jax
    import jax.numpy as jnp

    use_bias = len(args) == 3 and not attrs.get("no_bias")
    run_attrs = attrs if len(args) == 3 else {**attrs, "no_bias": True}

    def run_forward(*a: Any) -> Any:
        return forward(a[0], a[1], a[2] if use_bias else None, attrs, relu)

    def forward_saving(*a: Any) -> tuple:
        out = run_forward(*a)
        return out, (a, out if relu else None)

    def backward(saved: tuple, head: Any) -> tuple:
        inputs, out = saved
        if relu:
            head = jnp.where(out > 0, head, jnp.zeros((), head.dtype))
        return grads(jx, inputs, head, run_attrs)

    if args[1].ndim == 3:  # packed ahead, for inference (compiler/prepack): no gradient
        return run_forward(*args)
    run = jax.custom_vjp(run_forward)
    run.defvjp(forward_saving, backward)
    return run(*args)


def _inputs(data: Any, weight: Any, bias: Any) -> tuple:
    return (data, weight) if bias is None else (data, weight, bias)


def native_conv(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The native kernel forward and backward (a custom_vjp)."""
    args = _inputs(data, weight, bias)
    return _with_backward(jx, _forward, _native_grads, args, attrs, False)


def native_conv_relu(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """relu(Convolution(...)) with the ReLU fused into the native kernel."""
    args = _inputs(data, weight, bias)
    return _with_backward(jx, _forward, _native_grads, args, attrs, True)


def native_depthwise(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The native depthwise kernel forward; the op's facet backward (a custom_vjp)."""
    args = _inputs(data, weight, bias)
    return _with_backward(jx, _depthwise_forward, _facet_grads, args, attrs, False)


def native_depthwise_relu(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """relu(depthwise Convolution(...)) with the ReLU fused into the native kernel."""
    args = _inputs(data, weight, bias)
    return _with_backward(jx, _depthwise_forward, _facet_grads, args, attrs, True)


def native_conv_add_relu(
    jx: Any, data: Any, weight: Any, bias: Any, residual: Any, **attrs: Any
) -> Any:
    """relu(Convolution(data, weight, bias) + residual) in the kernel's epilogue (a ResNet
    block's end: no separate pass over the output). Its gradient is the composition's, by the
    op's facet (a custom_vjp); none with a weight packed ahead."""
    import jax
    import jax.numpy as jnp

    use_bias = bias is not None and not attrs.get("no_bias")

    def run_forward(d: Any, w: Any, r: Any, *b: Any) -> Any:
        return _forward(d, w, b[0] if use_bias else None, attrs, True, residual=r)

    args = (data, weight, residual) if bias is None else (data, weight, residual, bias)
    if weight.ndim == 3:
        return run_forward(*args)
    facet = get_op("Convolution").lower_fn
    assert facet is not None

    def composition(d: Any, w: Any, r: Any, *b: Any) -> Any:
        return jnp.maximum(facet(jx, d, w, *b, **attrs) + r, 0)

    def backward(saved: tuple, head: Any) -> tuple:
        return tuple(jax.vjp(composition, *saved)[1](head))

    run = jax.custom_vjp(run_forward)
    run.defvjp(lambda *a: (run_forward(*a), a), backward)
    return run(*args)


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


def _fits(case: Case) -> str | None:
    reason = _fits_common(case)
    if reason:
        return reason
    if case.attrs.get("num_group", 1) != 1:
        return "native kernels need num_group == 1"
    return native.unusable()


def _fits_depthwise(case: Case) -> str | None:
    reason = _fits_common(case)
    if reason:
        return reason
    geometry = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    if not geometry.groups == geometry.channels == geometry.filters:
        return "not depthwise (num_group == channels == num_filter)"
    if geometry.kernel[0] > 64:
        return f"kernel of {geometry.kernel[0]} rows (the kernel takes at most 64)"
    return native.unusable()


NATIVE_STRATEGIES = [
    register(
        Strategy(
            "native",
            "Convolution",
            native_conv,
            _fits,
            "hybrix's indirect-GEMM CPU kernel (XLA FFI custom call), bias fused",
            # NOTE: its dW (and dX at stride 1) run on the kernel too: LeNet's conv2 forward
            # + backward 6.6 -> 3.3 ms against XLA's conv (bench/train_ops.py)
            trains=True,
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
