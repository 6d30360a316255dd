"""Pooling strategies: max/sum/avg windows as strided slices + elementwise max or add, and
hybrix's native max pooling kernel (NHWC).

XLA's CPU reduce_window (and its gradient, a select-and-scatter for max) is slow next to
a handful of strided slices combined elementwise, which XLA fuses into one loop; the native
kernel also skips XLA's padded copy of the input. Both max poolings send each window's
gradient to its first max, with masks. MXNet pads max pooling with the lowest finite value,
so these do too.
"""

from __future__ import annotations

from itertools import product
from math import prod
from typing import Any

import numpy as np

from hybrix.compiler.strategies._registry import Case, Strategy, facet_strategy, register

__all__ = ["POOL_STRATEGIES", "native_max", "slices"]

_LAST = {"NWC", "NHWC", "NDHWC"}


def _geometry(shape: tuple[int, ...], attrs: dict[str, Any]) -> dict[str, Any]:
    """Kernel, stride, pad, output size and extra high-side pad ('full') per spatial axis."""
    rank = len(shape) - 2
    last = attrs.get("layout") in _LAST
    spatial = shape[1:-1] if last else shape[2:]
    kernel = tuple(attrs["kernel"])
    stride = tuple(attrs.get("stride") or (1,) * rank)
    pad = tuple(attrs.get("pad") or (0,) * rank)
    ceil = attrs.get("pooling_convention") == "full"
    out, extra = [], []
    for n, k, s, p in zip(spatial, kernel, stride, pad, strict=True):
        room = n + 2 * p - k
        size = (-(-room // s) if ceil else room // s) + 1
        out.append(size)
        extra.append(max(0, (size - 1) * s + k - (n + 2 * p)))
    axes = list(range(1, rank + 1)) if last else list(range(2, rank + 2))
    return {
        "kernel": kernel,
        "stride": stride,
        "pad": pad,
        "out": out,
        "extra": extra,
        "axes": axes,
    }


def _taps(jx: Any, data: Any, geo: dict[str, Any], fill: Any) -> list[Any]:
    """The padded input as one strided slice per window tap, taps in row-major order."""
    jnp, lax = jx.jnp, jx.lax
    config = [(0, 0, 0)] * data.ndim
    for axis, p, e in zip(geo["axes"], geo["pad"], geo["extra"], strict=True):
        config[axis] = (p, p + e, 0)
    x = lax.pad(data, jnp.asarray(fill, data.dtype), config)
    pieces = []
    for tap in product(*(range(k) for k in geo["kernel"])):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for axis, t, s, o in zip(geo["axes"], tap, geo["stride"], geo["out"], strict=True):
            start[axis], limit[axis], strides[axis] = t, t + (o - 1) * s + 1, s
        pieces.append(lax.slice(x, start, limit, strides))
    return pieces


def _max_pool(jx: Any, data: Any, geo: dict[str, Any], forward: Any = None) -> Any:
    """Max of the taps (or `forward(data)`, the same values), as a custom_vjp: each output's
    gradient goes to the first tap (in window order) holding the max, as in MXNet and XLA's
    select-and-scatter (whose CPU version is several times slower than these masks, and
    jnp.maximum's gradient would split ties)."""
    import jax

    jnp = jx.jnp
    fill = jnp.finfo(data.dtype).min

    def max_of_taps(x: Any) -> Any:
        pieces = _taps(jx, x, geo, fill)
        out = pieces[0]
        for piece in pieces[1:]:
            out = jnp.maximum(out, piece)
        return out

    forward = forward or max_of_taps

    def backward(saved: tuple, head: Any) -> tuple:
        x, out = saved
        pieces, pullback = jax.vjp(lambda v: _taps(jx, v, geo, fill), x)
        taken, heads, zero = None, [], jnp.zeros((), head.dtype)
        for piece in pieces:
            chosen = piece == out if taken is None else (piece == out) & ~taken
            taken = chosen if taken is None else taken | chosen
            heads.append(jnp.where(chosen, head, zero))
        return tuple(pullback(heads))

    def forward_saving(x: Any) -> tuple:
        out = forward(x)
        return out, (x, out)

    run = jax.custom_vjp(forward)
    run.defvjp(forward_saving, backward)
    return run(data)


def slices(jx: Any, data: Any, **attrs: Any) -> Any:
    """Pad, one strided slice per window tap, combined with max (or add for sum/avg)."""
    geo = _geometry(tuple(data.shape), attrs)
    pool_type = attrs["pool_type"]
    if pool_type == "max":
        return _max_pool(jx, data, geo)
    pieces = _taps(jx, data, geo, 0)
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    if pool_type == "avg":
        total = total / np.asarray(prod(geo["kernel"]), data.dtype)
    return total


def native_max(jx: Any, data: Any, **attrs: Any) -> Any:
    """Max pooling by hybrix's native kernel (NHWC, padding skipped in place); the gradient
    is that of "slices" (first max per window)."""
    from hybrix.compiler import native

    geo = _geometry(tuple(data.shape), attrs)

    def forward(x: Any) -> Any:
        return native.maxpool2d_nhwc(
            x, kernel=geo["kernel"], stride=geo["stride"], low=geo["pad"], out=geo["out"]
        )

    return _max_pool(jx, data, geo, forward)


def global_reduce(jx: Any, data: Any, **attrs: Any) -> Any:
    """Global max/avg/sum pooling as one reduction over the spatial axes."""
    last = attrs.get("layout") in _LAST
    rank = data.ndim - 2
    axes = tuple(range(1, rank + 1)) if last else tuple(range(2, rank + 2))
    pool_type = attrs["pool_type"]
    if pool_type == "max":
        return jx.jnp.max(data, axis=axes, keepdims=True)
    if pool_type == "sum":
        return jx.jnp.sum(data, axis=axes, keepdims=True)
    return jx.jnp.mean(data, axis=axes, keepdims=True)


def _fits_slices(case: Case) -> str | None:
    attrs = case.attrs
    if attrs.get("global_pool"):
        return "global pooling: global_reduce"
    if attrs["pool_type"] not in ("max", "avg", "sum"):
        return f"pool_type {attrs['pool_type']!r} (only max, avg, sum)"
    if attrs.get("pooling_convention") == "same":
        return "pooling_convention 'same'"
    if not all(isinstance(d, int) for d in case.shapes[0]):
        return "needs static shapes"
    if attrs["pool_type"] == "avg":
        geo = _geometry(case.shapes[0], attrs)
        if attrs.get("count_include_pad") is False and any(geo["pad"]):
            return "avg without count_include_pad divides by a per-window count"
        if any(geo["extra"]):
            return "avg with 'full' padding divides by a per-window count"
    if prod(attrs["kernel"]) > 64:
        return f"kernel {tuple(attrs['kernel'])} has over 64 taps"
    return None


def _fits_native(case: Case) -> str | None:
    from hybrix.compiler import native

    attrs = case.attrs
    if case.target != "cpu" or case.dtype != "float32":
        return f"native kernels run float32 on CPU only ({case.dtype} on {case.target})"
    if attrs.get("global_pool") or attrs["pool_type"] != "max":
        return "native pooling is max pooling over windows only"
    if len(case.shapes[0]) != 4 or attrs.get("layout") not in _LAST:
        return "native pooling is 2-D channels-last (NHWC) only"
    if attrs.get("pooling_convention") == "same":
        return "pooling_convention 'same'"
    if not all(isinstance(d, int) for d in case.shapes[0]):
        return "needs static shapes"
    return native.unusable()


def _fits_global(case: Case) -> str | None:
    if not case.attrs.get("global_pool"):
        return "not global pooling"
    if case.attrs["pool_type"] not in ("max", "avg", "sum"):
        return f"pool_type {case.attrs['pool_type']!r} (only max, avg, sum)"
    return None


POOL_STRATEGIES = [
    register(facet_strategy("xla", "Pooling", "lax.reduce_window")),
    register(
        Strategy(
            "slices",
            "Pooling",
            slices,
            _fits_slices,
            "strided slices + max/add per tap",
            # NOTE: forward + backward 4-5x faster than reduce_window's: LeNet's 2x2 max
            # (64x20x24x24) 3.1 -> 0.6 ms, ResNet's 3x3/2 (32x64x32x32) 23 -> 5 ms
            # (bench/train_ops.py)
            trains=True,
        )
    ),
    register(
        Strategy(
            "native_max",
            "Pooling",
            native_max,
            _fits_native,
            "hybrix's max pooling CPU kernel (XLA FFI custom call), padding skipped in place",
            # NOTE: its backward is that of "slices"
            trains=True,
        )
    ),
    register(
        Strategy(
            "global_reduce",
            "Pooling",
            global_reduce,
            _fits_global,
            "global pooling as one reduction",
        )
    ),
]
