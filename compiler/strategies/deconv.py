"""The "native" Deconvolution strategy: the transposed convolution on the native conv kernel.

A stride-s transposed convolution spreads each input pixel over the output with step s:
y[o] = sum over i, t with o = i*s + t*d - pad of x[i] W[t]. XLA lowers it as a convolution of
the input dilated by s (s*s - 1 of every s*s products are with zeros; 92-188 GFLOP/s on CPU,
bench/native_conv.py). Split by output phase instead (o + pad = m*s + q): phase q only meets
taps t = q + j*s, so it is a stride-1 convolution of the undilated input with those taps,
flipped, and the s*s phase outputs interleave into y ("sub-pixel" convolution). At stride 1
(any dilation) it is one convolution with the flipped kernel, padded by d*(K-1) - pad.
Gradients are those of the op's own lowering (it is linear: XLA drops its forward).
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler import native
from hybrix.compiler.strategies._registry import Case, Strategy, facet_strategy, register
from hybrix.ir import get_op
from hybrix.ir.ops.conv import _deconv_padding, _window

__all__ = ["DECONV_STRATEGIES", "native_deconv"]

_LAST = {"NWC", "NHWC", "NDHWC"}


def _sizes(shape: tuple[int, ...], attrs: dict[str, Any]) -> tuple:
    """(last?, spatial, stride, dilate, pad, output size) per spatial axis, MXNet's rules."""
    window = _window(attrs["kernel"], attrs["stride"], attrs["dilate"], attrs["pad"])
    last = attrs.get("layout") in _LAST
    spatial = tuple(shape[1:-1] if last else shape[2:])
    pads, adjs = _deconv_padding(window, spatial, attrs["adj"], attrs["target_shape"])
    out = tuple(
        s * (n - 1) + window.span(a) - 2 * p + e
        for a, (n, s, p, e) in enumerate(zip(spatial, window.stride, pads, adjs, strict=True))
    )
    return last, spatial, window.stride, window.dilate, pads, out


def _forward(data: Any, weight: Any, bias: Any, attrs: dict[str, Any]) -> Any:
    import jax.numpy as jnp

    last, _, stride, dilate, pads, out = _sizes(tuple(data.shape), attrs)
    x = data if last else jnp.transpose(data, (0, 2, 3, 1))
    # (C, KH, KW, O) channels-last, else (C, O, KH, KW) -> (C, O, KH, KW)
    w = jnp.transpose(weight, (0, 3, 1, 2)) if last else weight
    if stride == (1, 1):
        flipped = jnp.transpose(w[:, :, ::-1, ::-1], (1, 2, 3, 0))  # (O, KH, KW, C)
        sizes = zip(dilate, attrs["kernel"], pads, strict=True)
        y = native.conv2d_nhwc(
            x,
            flipped,
            None,
            weight_last=True,
            taps=tuple((0, k) for k in attrs["kernel"]),
            stride=(1, 1),
            dilate=dilate,
            low=tuple(d * (k - 1) - p for d, k, p in sizes),
            out=out,
        )
    else:
        y = _phases(x, w, stride, pads, out)
    if bias is not None and not attrs.get("no_bias"):
        y = y + bias
    return y if last else jnp.transpose(y, (0, 3, 1, 2))


def _phases(x: Any, w: Any, stride: tuple, pads: tuple, out: tuple) -> Any:
    """Dilation 1: one stride-1 convolution per output phase (q_h, q_w), interleaved."""
    import jax.numpy as jnp

    first = [p // s for p, s in zip(pads, stride, strict=True)]  # m of the first output
    count = [-(-(p + n) // s) - m for p, n, s, m in zip(pads, out, stride, first, strict=True)]
    rows = []
    for qh in range(stride[0]):
        row = []
        for qw in range(stride[1]):
            taps = w[:, :, qh :: stride[0], qw :: stride[1]]  # (C, O, Lh, Lw)
            lengths = taps.shape[2:]
            if 0 in lengths:  # the kernel is smaller than the stride: no tap hits this phase
                row.append(jnp.zeros((x.shape[0], *count, w.shape[1]), x.dtype))
                continue
            flipped = jnp.transpose(taps[:, :, ::-1, ::-1], (1, 2, 3, 0))  # (O, Lh, Lw, C)
            row.append(
                native.conv2d_nhwc(
                    x,
                    flipped,
                    None,
                    weight_last=True,
                    taps=tuple((0, n) for n in lengths),
                    stride=(1, 1),
                    dilate=(1, 1),
                    low=tuple(n - 1 - m for n, m in zip(lengths, first, strict=True)),
                    out=tuple(count),
                )
            )
        rows.append(jnp.stack(row))
    grid = jnp.stack(rows)  # (sh, sw, N, Mh, Mw, O): output m*s + q - pad
    batch, filters = x.shape[0], w.shape[1]
    grid = jnp.transpose(grid, (2, 3, 0, 4, 1, 5)).reshape(
        batch, count[0] * stride[0], count[1] * stride[1], filters
    )
    start = [p - m * s for p, m, s in zip(pads, first, stride, strict=True)]
    return grid[:, start[0] : start[0] + out[0], start[1] : start[1] + out[1], :]


def native_deconv(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """The transposed convolution on the native kernel; the op's facet gradient."""
    import jax

    facet = get_op("Deconvolution").lower_fn
    assert facet is not None
    args = (data, weight) if bias is None else (data, weight, bias)

    def run(*a: Any) -> Any:
        return _forward(a[0], a[1], a[2] if len(a) == 3 else None, attrs)

    def backward(saved: tuple, head: Any) -> tuple:
        _, pullback = jax.vjp(lambda *a: facet(jx, *a, **attrs), *saved)
        return tuple(pullback(head))

    wrapped = jax.custom_vjp(run)
    wrapped.defvjp(lambda *a: (run(*a), a), backward)
    return wrapped(*args)


def _fits(case: Case) -> str | None:
    attrs = case.attrs
    if case.target != "cpu" or case.dtype != "float32":
        return f"native kernels run float32 on CPU only ({case.dtype} on {case.target})"
    if len(attrs.get("kernel") or ()) != 2:
        return f"native kernels are 2-D only (kernel {tuple(attrs.get('kernel') or ())})"
    if attrs.get("num_group", 1) != 1:
        return "native kernels need num_group == 1"
    if not all(isinstance(d, int) for s in case.shapes for d in s):
        return "needs static shapes"
    stride = tuple(attrs.get("stride") or (1, 1))
    dilate = tuple(attrs.get("dilate") or (1, 1))
    if stride != (1, 1) and dilate != (1, 1):
        return "stride and dilation together (the phases assume dilation 1)"
    return native.unusable()


DECONV_STRATEGIES = [
    register(facet_strategy("xla", "Deconvolution", "a convolution of the stride-dilated input")),
    register(
        Strategy(
            "native",
            "Deconvolution",
            native_deconv,
            _fits,
            "one native stride-1 convolution per output phase, interleaved (sub-pixel)",
        )
    ),
]
