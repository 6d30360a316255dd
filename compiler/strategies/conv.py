"""Convolution strategies: XLA's conv (as is, trimmed, other layout), im2col, 1x1, depthwise.

All non-naive strategies first drop kernel taps that only ever read padding (trim_taps) and
pad the input explicitly, so the rest sees a VALID convolution. Weights arrive in the op's
layout: (O, C/g, *k) channels-first, (O, *k, C/g) channels-last (MXNet's NHWC weights).
"""

from __future__ import annotations

from itertools import product
from math import prod
from typing import Any

from hybrix.compiler.strategies._geometry import ConvGeometry, conv_geometry, trim_taps
from hybrix.compiler.strategies._registry import Case, Strategy, facet_strategy, register

__all__ = ["CONV_STRATEGIES"]

_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


# -- shared steps ----------------------------------------------------------------------------
def _geometry(data: Any, weight: Any, attrs: dict[str, Any]) -> ConvGeometry:
    return trim_taps(conv_geometry(tuple(data.shape), tuple(weight.shape), attrs))


def _spatial_axes(geometry: ConvGeometry) -> list[int]:
    return list(range(1, geometry.rank + 1) if geometry.last else range(2, geometry.rank + 2))


def _pad_input(jx: Any, data: Any, geometry: ConvGeometry) -> Any:
    """Zero padding per side (negative: crop), so the convolution becomes VALID."""
    config = [(0, 0, 0)] * data.ndim
    for axis, lo, hi in zip(_spatial_axes(geometry), geometry.low, geometry.high, strict=True):
        config[axis] = (lo, hi, 0)
    if all(c == (0, 0, 0) for c in config):
        return data
    return jx.lax.pad(data, jx.jnp.zeros((), data.dtype), config)


def _trim_weight(weight: Any, geometry: ConvGeometry) -> Any:
    """The weight restricted to the kept taps."""
    if not geometry.trimmed:
        return weight
    index: list[Any] = [slice(None)] * weight.ndim
    for axis, (start, stop) in zip(_spatial_axes(geometry), geometry.taps, strict=True):
        index[axis] = slice(start, stop)
    return weight[tuple(index)]


def _add_bias(out: Any, bias: Any, attrs: dict[str, Any], last: bool) -> Any:
    if bias is None or attrs.get("no_bias"):
        return out
    shape = [1] * out.ndim
    shape[-1 if last else 1] = -1
    return out + bias.reshape(shape)


def _tap_slices(jx: Any, x: Any, geometry: ConvGeometry) -> list[Any]:
    """For every kernel tap, the input elements it reads: arrays shaped like the output."""
    axes, out = _spatial_axes(geometry), geometry.out
    pieces = []
    for tap in product(*(range(k) for k in geometry.kernel)):
        start = [0] * x.ndim
        limit = list(x.shape)
        strides = [1] * x.ndim
        for axis, t, d, s, o in zip(axes, tap, geometry.dilate, geometry.stride, out, strict=True):
            start[axis] = t * d
            limit[axis] = t * d + (o - 1) * s + 1
            strides[axis] = s
        pieces.append(jx.lax.slice(x, start, limit, strides))
    return pieces


def _weight_matrix(jx: Any, weight: Any, geometry: ConvGeometry) -> Any:
    """The weight as (groups, filters/g, taps, channels/g)."""
    w = weight if geometry.last else jx.jnp.moveaxis(weight, 1, -1)  # (O, *k, C/g)
    groups = geometry.groups
    return w.reshape(groups, geometry.filters // groups, prod(geometry.kernel), -1)


# -- the strategies ----------------------------------------------------------------------------
def _xla_conv(jx: Any, x: Any, w: Any, geometry: ConvGeometry, last: bool) -> Any:
    rank = geometry.rank
    data = _LAST[rank] if last else _FIRST[rank]
    kernel = f"O{_FIRST[rank][2:]}I" if last else f"OI{_FIRST[rank][2:]}"
    return jx.lax.conv_general_dilated(
        x,
        w,
        window_strides=geometry.stride,
        padding=[(0, 0)] * rank,
        rhs_dilation=geometry.dilate,
        dimension_numbers=(data, kernel, data),
        feature_group_count=geometry.groups,
    )


def xla_trim(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    geometry = _geometry(data, weight, attrs)
    x = _pad_input(jx, data, geometry)
    out = _xla_conv(jx, x, _trim_weight(weight, geometry), geometry, geometry.last)
    return _add_bias(out, bias, attrs, geometry.last)


def xla_relayout(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """XLA's conv in the other layout, with transposes in and out."""
    geometry = _geometry(data, weight, attrs)
    x = _pad_input(jx, data, geometry)
    w = _trim_weight(weight, geometry)
    move = (1, -1) if not geometry.last else (-1, 1)
    out = _xla_conv(
        jx, jx.jnp.moveaxis(x, *move), jx.jnp.moveaxis(w, *move), geometry, not geometry.last
    )
    return _add_bias(jx.jnp.moveaxis(out, move[1], move[0]), bias, attrs, geometry.last)


def im2col(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """Pad, one strided slice per kept tap, stacked into patches, then one matmul."""
    geometry = _geometry(data, weight, attrs)
    jnp = jx.jnp
    x = _pad_input(jx, data, geometry)
    pieces = _tap_slices(jx, x, geometry)
    w = _weight_matrix(jx, _trim_weight(weight, geometry), geometry)  # (g, o, k, c)
    batch, groups, out = geometry.batch, geometry.groups, geometry.out
    taps, group_channels = len(pieces), geometry.channels // groups
    if geometry.last:
        patches = pieces[0][..., None, :] if taps == 1 else jnp.stack(pieces, axis=-2)
        patches = patches.reshape(batch * prod(out), taps, groups, group_channels)
        if groups == 1:
            result = patches.reshape(batch * prod(out), -1) @ w[0].reshape(w.shape[1], -1).T
        else:
            result = jnp.einsum("pkgc,gokc->pgo", patches, w)
        result = result.reshape(batch, *out, geometry.filters)
    else:
        patches = pieces[0][:, None] if taps == 1 else jnp.stack(pieces, axis=1)
        patches = patches.reshape(batch, taps, groups, group_channels, prod(out))
        if groups == 1:
            matrix = w[0].reshape(w.shape[1], -1)
            result = jnp.einsum("ok,nkp->nop", matrix, patches.reshape(batch, -1, prod(out)))
        else:
            result = jnp.einsum("gokc,nkgcp->ngop", w, patches)
        result = result.reshape(batch, geometry.filters, *out)
    return _add_bias(result, bias, attrs, geometry.last)


def depthwise(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    """One multiply-add per kept tap (groups == channels == filters): no matmul at all."""
    geometry = _geometry(data, weight, attrs)
    x = _pad_input(jx, data, geometry)
    w = _weight_matrix(jx, _trim_weight(weight, geometry), geometry)  # (C, 1, k, 1)
    shape = [1] * data.ndim
    shape[-1 if geometry.last else 1] = geometry.channels
    total = None
    for index, piece in enumerate(_tap_slices(jx, x, geometry)):
        term = piece * w[:, 0, index, 0].reshape(shape)
        total = term if total is None else total + term
    return _add_bias(total, bias, attrs, geometry.last)


# -- when each applies -------------------------------------------------------------------------
def _static(case: Case) -> str | None:
    if len(case.shapes) < 2 or not all(isinstance(d, int) for s in case.shapes for d in s):
        return "needs static shapes"
    return None


def _case_geometry(case: Case) -> ConvGeometry:
    return trim_taps(conv_geometry(case.shapes[0], case.shapes[1], case.attrs))


def _fits_any(case: Case) -> str | None:
    return None


def _fits_trim(case: Case) -> str | None:
    reason = _static(case)
    if reason:
        return reason
    return None if _case_geometry(case).trimmed else "no tap reads only padding"


def _fits_relayout(case: Case) -> str | None:
    return _static(case)


def _fits_im2col(case: Case) -> str | None:
    reason = _static(case)
    if reason:
        return reason
    geometry = _case_geometry(case)
    if prod(geometry.kernel) == 1:
        return "1x1 kernel: matmul_1x1 is the same without the stack"
    if geometry.groups > 1 and geometry.groups == geometry.channels:
        return "depthwise: one-channel groups make a degenerate matmul"
    if case.train and geometry.channels // geometry.groups <= 4:
        # NOTE: measured alone its forward+backward was faster, but inside LeNet's training
        # step (compile_step, the strategy forced on the 1-channel stem, a one-off run at
        # load ~4) the step took 46 ms against 25 with XLA's conv
        return "training a thin-channel conv: im2col's backward is slow inside a step"
    return None


def _fits_1x1(case: Case) -> str | None:
    reason = _static(case)
    if reason:
        return reason
    kernel = _case_geometry(case).kernel
    return None if prod(kernel) == 1 else f"kernel {kernel} is not 1x1 after trimming"


def _fits_depthwise(case: Case) -> str | None:
    reason = _static(case)
    if reason:
        return reason
    geometry = _case_geometry(case)
    if geometry.groups == geometry.channels == geometry.filters and geometry.groups > 1:
        return None
    return "not depthwise (num_group == channels == num_filter)"


CONV_STRATEGIES = [
    register(
        facet_strategy(
            "xla", "Convolution", "lax.conv_general_dilated in the op's layout", _fits_any
        )
    ),
    register(
        Strategy("xla_trim", "Convolution", xla_trim, _fits_trim, "XLA's conv on trimmed taps")
    ),
    register(
        Strategy(
            "xla_relayout",
            "Convolution",
            xla_relayout,
            _fits_relayout,
            "XLA's conv in the other layout (NCHW <-> NHWC), transposes in and out",
        )
    ),
    register(
        Strategy(
            "im2col", "Convolution", im2col, _fits_im2col, "strided slices per tap + one matmul"
        )
    ),
    register(
        Strategy("matmul_1x1", "Convolution", im2col, _fits_1x1, "1x1 convolution as one matmul")
    ),
    register(
        Strategy(
            "depthwise",
            "Convolution",
            depthwise,
            _fits_depthwise,
            "depthwise: one multiply-add per tap",
        )
    ),
]
