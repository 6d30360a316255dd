"""Convolution, Deconvolution and Pooling over 1-D, 2-D and 3-D inputs (MXNet 1.9 semantics).

Every op works channels-first internally; `layout` names a channels-last input (NWC, NHWC,
NDHWC), whose weights are then (num_filter, *kernel, channels / num_group) as in MXNet.
Symbolic dimensions pass through infer; a symbolic spatial size that a window changes
becomes an opaque expression string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybrix.ir.errors import ShapeError
from hybrix.ir.ops._infer import same_dtype
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, Shape, TensorType, dim_div, dim_mul

__all__ = ["convolution", "deconvolution", "pooling"]

_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
_LAYOUTS = (*_FIRST.values(), *_LAST.values())
_CUDNN_TUNE = ("off", "limited_workspace", "fastest")


# -- window geometry ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Window:
    """Kernel, stride, dilation and (symmetric) padding per spatial axis."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilate: tuple[int, ...]
    pad: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.kernel)

    def span(self, axis: int) -> int:
        """The dilated kernel size along `axis`."""
        return self.dilate[axis] * (self.kernel[axis] - 1) + 1


def _window(
    kernel: Sequence[int],
    stride: Sequence[int] = (),
    dilate: Sequence[int] = (),
    pad: Sequence[int] = (),
) -> _Window:
    """Fill MXNet's defaults (stride 1, dilate 1, pad 0) and check the lengths agree."""
    rank = len(kernel)
    if rank not in (1, 2, 3):
        raise ShapeError(f"kernel {tuple(kernel)} must have 1, 2 or 3 entries")
    filled = {}
    for name, value, default in (("stride", stride, 1), ("dilate", dilate, 1), ("pad", pad, 0)):
        value = tuple(value) or (default,) * rank
        if len(value) != rank:
            raise ShapeError(
                f"{name} {value} must have {rank} entries, like kernel {tuple(kernel)}"
            )
        if min(value) < default:
            raise ShapeError(f"{name} {value} must be at least {default} everywhere")
        filled[name] = value
    if min(kernel) < 1:
        raise ShapeError(f"kernel {tuple(kernel)} must be positive")
    return _Window(tuple(kernel), filled["stride"], filled["dilate"], filled["pad"])


def _sliding_size(size: Dim, window: _Window, axis: int, ceil: bool = False) -> Dim:
    """Output size of a window sliding over `size` (+ padding): floor, or ceil for 'full'."""
    k, s, p = window.span(axis), window.stride[axis], window.pad[axis]
    if isinstance(size, str):
        return _opaque_size(size, 2 * p - k + s, s, ceil)
    room = size + 2 * p - k
    if room < 0:
        raise ShapeError(
            f"kernel {k} is larger than the padded input {size} + 2*{p} on axis {axis}"
        )
    return -(-room // s) + 1 if ceil else room // s + 1


def _opaque_size(size: str, shift: int, stride: int, ceil: bool = False) -> Dim:
    """A readable expression for a symbolic size: floor or ceil of (size + shift) / stride."""
    if stride == 1:
        return f"{size}{shift:+d}" if shift else size
    shifted = f"({size}{shift:+d})" if shift else size
    return f"{'ceil' if ceil else 'floor'}({shifted}/{stride})"


# -- layouts -----------------------------------------------------------------------------
def _channels_last(layout: str | None, rank: int) -> bool:
    """Whether `layout` puts channels last; ShapeError when it does not fit `rank`."""
    if layout is None or layout == _FIRST[rank]:
        return False
    if layout == _LAST[rank]:
        return True
    raise ShapeError(
        f"layout {layout} does not fit {rank} spatial axes; expected "
        f"{_FIRST[rank]} or {_LAST[rank]}"
    )


def _split(shape: Shape, last: bool) -> tuple[Dim, Dim, Shape]:
    """(batch, channels, spatial) of a data shape."""
    if last:
        return shape[0], shape[-1], tuple(shape[1:-1])
    return shape[0], shape[1], tuple(shape[2:])


def _join(batch: Dim, channels: Dim, spatial: Sequence[Dim], last: bool) -> Shape:
    if last:
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def _check_data_rank(shape: Shape, rank: int) -> None:
    if len(shape) != rank + 2:
        raise ShapeError(
            f"data of shape {shape} must have {rank + 2} dimensions "
            f"(batch, channel and {rank} spatial) for a {rank}-D kernel"
        )


def _per_group(count: Dim, groups: int, what: str) -> Dim:
    try:
        return dim_div(count, groups)
    except ShapeError:
        raise ShapeError(f"{what} {count} is not divisible by num_group {groups}") from None


def _check_shape(name: str, got: Shape, expected: Shape) -> None:
    """ShapeError unless `got` matches `expected` (a symbolic entry matches anything)."""
    pairs = zip(got, expected, strict=False)
    same = len(got) == len(expected) and all(
        g == e or isinstance(g, str) or isinstance(e, str) for g, e in pairs
    )
    if not same:
        raise ShapeError(f"{name} has shape {got}, expected {expected}")


def _check_bias(bias: TensorType | None, no_bias: bool, num_filter: int) -> None:
    if no_bias and bias is not None:
        raise ShapeError("a bias input was given with no_bias=True; expected data and weight only")
    if not no_bias and bias is None:
        raise ShapeError("no bias input was given with no_bias=False; expected data, weight, bias")
    if bias is not None:
        _check_shape("bias", bias.shape, (num_filter,))


def _input_types(*types: TensorType | None) -> list[TensorType]:
    return [t for t in types if t is not None]


# -- numpy helpers for the ref kernels ---------------------------------------------------
def _accumulator(dtype: np.dtype) -> np.dtype:
    """float32 accumulation for half types, the input's own dtype otherwise."""
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def _to_first(array: np.ndarray, last: bool) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if last else array


def _to_last(array: np.ndarray, last: bool) -> np.ndarray:
    return np.moveaxis(array, 1, -1) if last else array


def _tap(starts: Sequence[int], steps: Sequence[int], counts: Sequence[int]) -> tuple[slice, ...]:
    """Spatial slices picking `counts` elements from `starts` every `steps`."""
    return tuple(
        slice(start, start + step * (count - 1) + 1, step)
        for start, step, count in zip(starts, steps, counts, strict=True)
    )


def _tap_starts(tap: Sequence[int], window: _Window) -> list[int]:
    return [t * d for t, d in zip(tap, window.dilate, strict=True)]


def _channel_vector(vector: Any, rank: int, last: bool) -> Any:
    """Reshape a per-channel vector to broadcast against a (rank+2)-D array."""
    return vector.reshape((1,) * (rank + 1) + (-1,) if last else (1, -1) + (1,) * rank)


# -- Convolution ---------------------------------------------------------------------------
_CONV_ATTRS = {
    "kernel": Attr.ints(doc="kernel size: (w,), (h, w) or (d, h, w)"),
    "stride": Attr.ints((), doc="defaults to 1 per axis"),
    "dilate": Attr.ints((), doc="defaults to 1 per axis"),
    "pad": Attr.ints((), doc="zero padding on both sides; defaults to 0 per axis"),
    "num_filter": Attr.int(doc="output channels"),
    "num_group": Attr.int(1),
    "workspace": Attr.int(1024, doc="ignored (MXNet's temporary workspace in MB)"),
    "no_bias": Attr.bool(False),
    "cudnn_tune": Attr.str(None, choices=_CUDNN_TUNE, doc="ignored"),
    "cudnn_off": Attr.bool(False, doc="ignored"),
    "layout": Attr.str(None, choices=_LAYOUTS, doc="None means channels first"),
}

convolution = defop(
    "Convolution",
    inputs=["data", "weight", "bias?"],
    attrs=_CONV_ATTRS,
    aliases=["_npx_convolution"],
    doc="N-D cross-correlation with stride, dilation, zero padding and groups. "
    "MXNet: Convolution; weight (num_filter, channels / num_group, *kernel).",
)


@convolution.infer
def _conv_infer(
    data: TensorType,
    weight: TensorType,
    bias: TensorType | None = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    num_filter: int,
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> TensorType:
    dtype = same_dtype(*_input_types(data, weight, bias))
    window = _window(kernel, stride, dilate, pad)
    _check_data_rank(data.shape, window.rank)
    last = _channels_last(layout, window.rank)
    batch, channels, spatial = _split(data.shape, last)
    group_channels = _per_group(channels, num_group, "input channels")
    _per_group(num_filter, num_group, "num_filter")
    expected = _join(num_filter, group_channels, kernel, last)
    _check_shape("weight", weight.shape, expected)
    _check_bias(bias, no_bias, num_filter)
    out = [_sliding_size(size, window, axis) for axis, size in enumerate(spatial)]
    return TensorType(dtype, _join(batch, num_filter, out, last))


@convolution.ref
def _conv_ref(
    data: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    num_filter: int,
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> np.ndarray:
    window = _window(kernel, stride, dilate, pad)
    last = _channels_last(layout, window.rank)
    acc = _accumulator(data.dtype)
    x = np.pad(_to_first(data, last).astype(acc), [(0, 0), (0, 0)] + [(p, p) for p in window.pad])
    batch, channels, *padded = x.shape
    groups, group_filters = num_group, num_filter // num_group
    out_size = [(size - window.span(a)) // window.stride[a] + 1 for a, size in enumerate(padded)]
    x = x.reshape(batch, groups, channels // groups, *padded)
    w = _to_first(weight, last).astype(acc).reshape(groups, group_filters, -1, *kernel)
    out = np.zeros((batch, groups, group_filters, *out_size), acc)
    for tap in np.ndindex(*kernel):
        patch = x[(slice(None),) * 3 + _tap(_tap_starts(tap, window), window.stride, out_size)]
        out += np.einsum("ngc...,goc->ngo...", patch, w[(..., *tap)])
    out = out.reshape(batch, num_filter, *out_size)
    if bias is not None and not no_bias:
        out += _channel_vector(bias.astype(acc), window.rank, False)
    return _to_last(out, last).astype(data.dtype)


def _conv_specs(rank: int, last: bool, kernel_last: bool) -> tuple[str, str, str]:
    """lax dimension numbers: data and output in the op's layout, kernel OI* or O*I."""
    data = _LAST[rank] if last else _FIRST[rank]
    spatial = _FIRST[rank][2:]
    kernel = f"O{spatial}I" if kernel_last else f"OI{spatial}"
    return data, kernel, data


@convolution.lower
def _conv_lower(
    jx: Any,
    data: Any,
    weight: Any,
    bias: Any = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> Any:
    window = _window(kernel, stride, dilate, pad)
    last = _channels_last(layout, window.rank)
    out = jx.lax.conv_general_dilated(
        data,
        weight,
        window_strides=window.stride,
        padding=[(p, p) for p in window.pad],
        rhs_dilation=window.dilate,
        dimension_numbers=_conv_specs(window.rank, last, kernel_last=last),
        feature_group_count=num_group,
    )
    if bias is not None and not no_bias:
        out = out + _channel_vector(bias, window.rank, last)
    return out


# -- Deconvolution -------------------------------------------------------------------------
deconvolution = defop(
    "Deconvolution",
    inputs=["data", "weight", "bias?"],
    attrs={
        **_CONV_ATTRS,
        "adj": Attr.ints((), doc="extra output size on the high side; defaults to 0"),
        "target_shape": Attr.ints((), doc="output spatial shape; overrides pad and adj"),
        "workspace": Attr.int(512, doc="ignored (MXNet's temporary workspace in MB)"),
        "no_bias": Attr.bool(True),
    },
    aliases=["_npx_deconvolution"],
    doc="Transposed convolution (the gradient of Convolution with respect to its data). "
    "MXNet: Deconvolution; weight (channels, num_filter / num_group, *kernel).",
)


def _deconv_padding(
    window: _Window, spatial: Sequence[Dim], adj: Sequence[int], target_shape: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pad, adj) per axis; a non-zero target_shape decides both (MXNet's InferPad)."""
    adj = tuple(adj) or (0,) * window.rank
    if len(adj) != window.rank:
        raise ShapeError(f"adj {adj} must have {window.rank} entries, like kernel {window.kernel}")
    if not any(target_shape):
        return window.pad, adj
    if len(target_shape) != window.rank:
        raise ShapeError(f"target_shape {tuple(target_shape)} must have {window.rank} entries")
    pads, adjs = [], []
    for axis, (size, target) in enumerate(zip(spatial, target_shape, strict=True)):
        if isinstance(size, str):  # the output is the target; pad and adj wait for a shape
            pads.append(0)
            adjs.append(0)
            continue
        extra = window.stride[axis] * (size - 1) + window.span(axis) - target
        if extra < 0:
            raise ShapeError(
                f"target_shape {target} on axis {axis} is larger than the "
                f"largest output {target + extra} for input size {size}"
            )
        pads.append((extra + 1) // 2)
        adjs.append(extra % 2)
    return tuple(pads), tuple(adjs)


def _deconv_size(size: Dim, window: _Window, axis: int, pad: int, adj: int) -> Dim:
    if isinstance(size, str):
        shift = window.span(axis) - 2 * pad + adj - window.stride[axis]
        return _opaque_size(str(dim_mul(window.stride[axis], size)), shift, 1)
    out = window.stride[axis] * (size - 1) + window.span(axis) - 2 * pad + adj
    if out < 0:
        raise ShapeError(f"pad {pad} leaves no output for input size {size} on axis {axis}")
    return out


@deconvolution.infer
def _deconv_infer(
    data: TensorType,
    weight: TensorType,
    bias: TensorType | None = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    adj: tuple[int, ...],
    target_shape: tuple[int, ...],
    num_filter: int,
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> TensorType:
    dtype = same_dtype(*_input_types(data, weight, bias))
    window = _window(kernel, stride, dilate, pad)
    _check_data_rank(data.shape, window.rank)
    last = _channels_last(layout, window.rank)
    batch, channels, spatial = _split(data.shape, last)
    _per_group(channels, num_group, "input channels")
    group_filters = _per_group(num_filter, num_group, "num_filter")
    _check_shape("weight", weight.shape, _join(channels, group_filters, kernel, last))
    _check_bias(bias, no_bias, num_filter)
    pads, adjs = _deconv_padding(window, spatial, adj, target_shape)
    for axis, extra in enumerate(adjs):
        if extra >= window.stride[axis]:
            raise ShapeError(
                f"adj {extra} on axis {axis} must be smaller than stride {window.stride[axis]}"
            )
    out = [_deconv_size(size, window, a, pads[a], adjs[a]) for a, size in enumerate(spatial)]
    if any(target_shape):
        out = list(target_shape)
    return TensorType(dtype, _join(batch, num_filter, out, last))


@deconvolution.ref
def _deconv_ref(
    data: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    adj: tuple[int, ...],
    target_shape: tuple[int, ...],
    num_filter: int,
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> np.ndarray:
    window = _window(kernel, stride, dilate, pad)
    last = _channels_last(layout, window.rank)
    acc = _accumulator(data.dtype)
    x = _to_first(data, last).astype(acc)
    batch, channels, *size = x.shape
    pads, adjs = _deconv_padding(window, size, adj, target_shape)
    groups, group_filters = num_group, num_filter // num_group
    # NOTE: each input element scatters kernel * value to out[i*stride + tap*dilate - pad]
    full = [window.stride[a] * (n - 1) + window.span(a) for a, n in enumerate(size)]
    canvas = np.zeros(
        (batch, groups, group_filters, *[f + a for f, a in zip(full, adjs, strict=True)]), acc
    )
    x = x.reshape(batch, groups, channels // groups, *size)
    w = _to_first(weight, last).astype(acc).reshape(groups, channels // groups, -1, *kernel)
    for tap in np.ndindex(*kernel):
        spots = (slice(None),) * 3 + _tap(_tap_starts(tap, window), window.stride, size)
        canvas[spots] += np.einsum("ngc...,gco->ngo...", x, w[(..., *tap)])
    crop = [slice(p, f - p + a) for f, p, a in zip(full, pads, adjs, strict=True)]
    out = canvas[(slice(None),) * 3 + tuple(crop)]
    out = out.reshape(batch, num_filter, *out.shape[3:])
    if bias is not None and not no_bias:
        out = out + _channel_vector(bias.astype(acc), window.rank, False)
    return _to_last(out, last).astype(data.dtype)


@deconvolution.lower
def _deconv_lower(
    jx: Any,
    data: Any,
    weight: Any,
    bias: Any = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    adj: tuple[int, ...],
    target_shape: tuple[int, ...],
    num_filter: int,
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> Any:
    """A convolution of the stride-dilated input with the flipped, transposed kernel."""
    window = _window(kernel, stride, dilate, pad)
    rank = window.rank
    last = _channels_last(layout, rank)
    _, channels, spatial = _split(data.shape, last)
    pads, adjs = _deconv_padding(window, spatial, adj, target_shape)
    # weight (C, O/g, *k) -> (O, C/g, *k): swap in/out channels within each group, flip taps
    w = jx.jnp.moveaxis(weight, -1, 1) if last else weight
    w = w.reshape(num_group, channels // num_group, num_filter // num_group, *kernel)
    w = jx.jnp.swapaxes(w, 1, 2).reshape(num_filter, channels // num_group, *kernel)
    w = jx.jnp.flip(w, axis=tuple(range(2, rank + 2)))
    edges = [window.span(a) - 1 - pads[a] for a in range(rank)]
    out = jx.lax.conv_general_dilated(
        data,
        w,
        window_strides=(1,) * rank,
        padding=[(edge, edge + extra) for edge, extra in zip(edges, adjs, strict=True)],
        lhs_dilation=window.stride,
        rhs_dilation=window.dilate,
        dimension_numbers=_conv_specs(rank, last, kernel_last=False),
        feature_group_count=num_group,
    )
    if bias is not None and not no_bias:
        out = out + _channel_vector(bias, rank, last)
    return out


# -- Pooling -----------------------------------------------------------------------------
pooling = defop(
    "Pooling",
    inputs=["data"],
    attrs={
        "kernel": Attr.ints((), doc="window size; ignored with global_pool"),
        "pool_type": Attr.str("max", choices=("max", "avg", "sum", "lp")),
        "global_pool": Attr.bool(False, doc="pool over all spatial axes"),
        "cudnn_off": Attr.bool(False, doc="ignored"),
        "pooling_convention": Attr.str("valid", choices=("valid", "full", "same")),
        "stride": Attr.ints((), doc="defaults to 1 per axis"),
        "pad": Attr.ints((), doc="defaults to 0 per axis"),
        "p_value": Attr.int(None, doc="p of lp pooling: 1, 2 or 3"),
        "count_include_pad": Attr.bool(None, doc="avg divides by padded window size; default True"),
        "layout": Attr.str(None, choices=_LAYOUTS, doc="None means channels first"),
    },
    aliases=["_npx_pooling"],
    doc="Max, average, sum or Lp pooling over 1-D, 2-D or 3-D windows. MXNet: Pooling.",
)


@dataclass(frozen=True)
class _PoolPlan:
    """A pooling call made concrete: window, extra high-side padding, output spatial size."""

    window: _Window
    extra: tuple[int, ...]
    out: tuple[int, ...]
    last: bool


def _pool_window(shape: Shape, attrs: dict[str, Any]) -> tuple[_Window, bool]:
    """The window (global: the whole spatial extent) and whether channels are last."""
    if not 3 <= len(shape) <= 5:
        raise ShapeError(f"data of shape {shape} must have 3, 4 or 5 dimensions")
    rank = len(shape) - 2
    last = _channels_last(attrs["layout"], rank)
    if attrs["global_pool"]:
        # a symbolic extent only reaches infer, whose output is 1 whatever the kernel
        spatial = tuple(n if isinstance(n, int) else 1 for n in _split(shape, last)[2])
        return _Window(spatial, (1,) * rank, (1,) * rank, (0,) * rank), last
    if not attrs["kernel"]:
        raise ShapeError("kernel is required unless global_pool=True")
    window = _window(attrs["kernel"], attrs["stride"], (), attrs["pad"])
    _check_data_rank(shape, window.rank)
    if attrs["pooling_convention"] == "same" and (rank != 1 or any(window.pad)):
        raise ShapeError("pooling_convention='same' supports 1-D pooling without pad only")
    if attrs["pool_type"] == "lp" and attrs["p_value"] not in (1, 2, 3):
        raise ShapeError(f"pool_type='lp' needs p_value 1, 2 or 3, got {attrs['p_value']}")
    return window, last


def _pool_size(size: Dim, window: _Window, axis: int, convention: str) -> Dim:
    """MXNet's output size: floor ('valid'), ceil ('full') or ceil(size / stride) ('same')."""
    if convention != "same":
        return _sliding_size(size, window, axis, ceil=convention == "full")
    _sliding_size(size, window, axis)  # MXNet still checks that the kernel fits
    stride = window.stride[axis]
    if isinstance(size, str):
        return _opaque_size(size, 0, stride, ceil=True)
    return -(-size // stride)


def _pool_plan(shape: tuple[int, ...], attrs: dict[str, Any]) -> _PoolPlan:
    """Concrete geometry for a static input shape (ref and lower)."""
    window, last = _pool_window(shape, attrs)
    spatial = _split(shape, last)[2]
    convention = "valid" if attrs["global_pool"] else attrs["pooling_convention"]
    out = tuple(int(_pool_size(n, window, a, convention)) for a, n in enumerate(spatial))
    geometry = zip(out, window.stride, window.kernel, spatial, window.pad, strict=True)
    extra = tuple(max(0, (o - 1) * s + k - (n + 2 * p)) for o, s, k, n, p in geometry)
    return _PoolPlan(window, extra, out, last)


@pooling.infer
def _pool_infer(data: TensorType, **attrs: Any) -> TensorType:
    window, last = _pool_window(data.shape, attrs)
    batch, channels, spatial = _split(data.shape, last)
    if attrs["global_pool"]:
        out: list[Dim] = [1] * len(spatial)
    else:
        convention = attrs["pooling_convention"]
        out = [_pool_size(n, window, a, convention) for a, n in enumerate(spatial)]
    return TensorType(data.dtype, _join(batch, channels, out, last))


def _lp_root(total: Any, p_value: int, sqrt: Any, cbrt: Any) -> Any:
    """The p-th root of MXNet's Lp pooling (which sums x**p without taking |x|)."""
    return {1: lambda t: t, 2: sqrt, 3: cbrt}[p_value](total)


@pooling.ref
def _pool_ref(data: np.ndarray, **attrs: Any) -> np.ndarray:
    pool_type, p_value = attrs["pool_type"], attrs["p_value"]
    plan = _pool_plan(data.shape, attrs)
    window = plan.window
    acc = _accumulator(data.dtype)
    fill = np.finfo(data.dtype).min if pool_type == "max" else 0
    edges = [(p, p + e) for p, e in zip(window.pad, plan.extra, strict=True)]
    x = np.pad(
        _to_first(data, plan.last).astype(acc), [(0, 0), (0, 0), *edges], constant_values=fill
    )
    if pool_type == "lp":
        x = x**p_value
    # avg divides by the window's cells inside the padded input (count_include_pad, the
    # default) or inside the input proper; cells of the extra 'full' padding never count
    spatial = _split(data.shape, plan.last)[2]
    if attrs["count_include_pad"] is False:
        inside = np.pad(np.ones(spatial, acc), edges)
    else:
        padded = [n + 2 * p for n, p in zip(spatial, window.pad, strict=True)]
        inside = np.pad(np.ones(padded, acc), [(0, e) for e in plan.extra])
    total = np.full((*x.shape[:2], *plan.out), fill, acc)
    count = np.zeros(plan.out, acc)
    for tap in np.ndindex(*window.kernel):
        spots = _tap(tap, window.stride, plan.out)
        part = x[(slice(None), slice(None), *spots)]
        total = np.maximum(total, part) if pool_type == "max" else total + part
        count += inside[spots]
    if pool_type == "avg":
        total = total / count
    elif pool_type == "lp":
        total = _lp_root(total, p_value, np.sqrt, np.cbrt)
    return _to_last(total, plan.last).astype(data.dtype)


def _pool_counts(plan: _PoolPlan, spatial: Sequence[int], include_pad: bool) -> np.ndarray:
    """How many cells each avg window divides by, shaped like the output's spatial axes."""
    grid = np.ones(plan.out)
    for axis, n in enumerate(spatial):
        k, s, p = plan.window.kernel[axis], plan.window.stride[axis], plan.window.pad[axis]
        start = np.arange(plan.out[axis]) * s - p
        low, high = (-p, n + p) if include_pad else (0, n)
        count = np.minimum(start + k, high) - np.maximum(start, low)
        grid = grid * count.reshape([-1 if a == axis else 1 for a in range(len(spatial))])
    return grid


@pooling.lower
def _pool_lower(jx: Any, data: Any, **attrs: Any) -> Any:
    pool_type, p_value = attrs["pool_type"], attrs["p_value"]
    plan = _pool_plan(tuple(data.shape), attrs)
    window, lax, jnp = plan.window, jx.lax, jx.jnp

    def place(values: Sequence[Any], fill: Any) -> tuple[Any, ...]:
        """Per-spatial-axis values as per-axis ones, `fill` on batch and channel."""
        return (fill, *values, fill) if plan.last else (fill, fill, *values)

    dims, strides = place(window.kernel, 1), place(window.stride, 1)
    padding = place([(p, p + e) for p, e in zip(window.pad, plan.extra, strict=True)], (0, 0))
    if pool_type == "max":
        out = lax.reduce_window(data, -jnp.inf, lax.max, dims, strides, padding)
        # NOTE: MXNet starts from the lowest finite value, so all-padding windows give that
        return jnp.maximum(out, jnp.finfo(data.dtype).min)
    x = data**p_value if pool_type == "lp" else data
    # NOTE: a concrete (numpy) init value lets JAX see the add monoid and differentiate it
    total = lax.reduce_window(x, np.zeros((), data.dtype), lax.add, dims, strides, padding)
    if pool_type == "avg":
        spatial = _split(tuple(data.shape), plan.last)[2]
        counts = _pool_counts(plan, spatial, attrs["count_include_pad"] is not False)
        total = total / jnp.asarray(counts.reshape(place(counts.shape, 1)), data.dtype)
    elif pool_type == "lp":
        total = _lp_root(total, p_value, jnp.sqrt, jnp.cbrt)
    return total


# -- ONNX ----------------------------------------------------------------------------------
def _onnx_to_first(o: Any, data: Any, last: bool) -> Any:
    """A channels-last tensor as channels-first (ONNX's Conv and pooling are NC...)."""
    if not last:
        return data
    rank = data.rank
    return o.Transpose(data, perm=[0, rank - 1, *range(1, rank - 1)])


def _onnx_to_last(o: Any, data: Any, last: bool, rank: int) -> Any:
    if not last:
        return data
    return o.Transpose(data, perm=[0, *range(2, rank), 1])


@convolution.onnx
def _conv_onnx(
    o: Any,
    data: Any,
    weight: Any,
    bias: Any = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> Any:
    window = _window(kernel, stride, dilate, pad)
    last = _channels_last(layout, window.rank)
    x = _onnx_to_first(o, data, last)
    w = _onnx_to_first(o, weight, last)  # (O, *k, I/g) -> (O, I/g, *k)
    out = o.Conv(
        x,
        w,
        None if no_bias else bias,
        kernel_shape=window.kernel,
        strides=window.stride,
        dilations=window.dilate,
        pads=window.pad * 2,
        group=num_group,
    )
    return _onnx_to_last(o, out, last, data.rank)


@deconvolution.onnx
def _deconv_onnx(
    o: Any,
    data: Any,
    weight: Any,
    bias: Any = None,
    *,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilate: tuple[int, ...],
    pad: tuple[int, ...],
    adj: tuple[int, ...],
    target_shape: tuple[int, ...],
    num_group: int,
    no_bias: bool,
    layout: str | None,
    **ignored: Any,
) -> Any:
    window = _window(kernel, stride, dilate, pad)
    last = _channels_last(layout, window.rank)
    spatial = _split(data.shape, last)[2]
    if any(target_shape) and not all(isinstance(n, int) for n in spatial):
        o.fail("target_shape with a symbolic spatial size has no static ONNX padding")
    pads, adjs = _deconv_padding(window, spatial, adj, target_shape)
    # NOTE: MXNet's weight (C, O/g, *k) is ONNX ConvTranspose's (C, M/g, *k) already
    out = o.ConvTranspose(
        _onnx_to_first(o, data, last),
        _onnx_to_first(o, weight, last),
        None if no_bias else bias,
        kernel_shape=window.kernel,
        strides=window.stride,
        dilations=window.dilate,
        pads=pads * 2,
        output_padding=adjs,
        group=num_group,
    )
    return _onnx_to_last(o, out, last, data.rank)


@pooling.onnx
def _pool_onnx(o: Any, data: Any, **attrs: Any) -> Any:
    pool_type = attrs["pool_type"]
    last = _pool_window(data.shape, attrs)[1]
    rank = data.rank
    x = _onnx_to_first(o, data, last)
    if attrs["global_pool"]:
        out = _global_pool_onnx(o, x, pool_type, attrs["p_value"], rank)
    else:
        spatial = _split(data.shape, last)[2]
        if not all(isinstance(n, int) for n in spatial):
            o.fail("pooling over a symbolic spatial size needs static window padding")
        out = _window_pool_onnx(o, x, _pool_plan(data.shape, attrs), attrs)
    return _onnx_to_last(o, out, last, rank)


def _global_pool_onnx(o: Any, x: Any, pool_type: str, p_value: int | None, rank: int) -> Any:
    spatial = list(range(2, rank))
    if pool_type == "max":
        return o.GlobalMaxPool(x)
    if pool_type == "avg":
        return o.GlobalAveragePool(x)
    if pool_type == "sum":
        return o.reduce("ReduceSum", x, spatial, keepdims=True)
    total = o.reduce("ReduceSum", _lp_power_onnx(o, x, p_value), spatial, keepdims=True)
    return _lp_root_onnx(o, total, p_value)


def _window_pool_onnx(o: Any, x: Any, plan: _PoolPlan, attrs: dict[str, Any]) -> Any:
    """Explicit pads (MXNet's pad, plus the extra high side of 'full'/'same') instead of
    ceil_mode, so the output size is MXNet's whatever the ONNX version's ceil rules."""
    window, pool_type = plan.window, attrs["pool_type"]
    pads = list(window.pad) + [p + e for p, e in zip(window.pad, plan.extra, strict=True)]
    common = {"kernel_shape": window.kernel, "strides": window.stride}
    if pool_type == "max":
        return o.MaxPool(x, pads=pads, **common)
    if pool_type == "avg" and attrs["count_include_pad"] is False:
        return o.AveragePool(x, pads=pads, count_include_pad=0, **common)
    if pool_type == "avg":
        # MXNet counts the cells of pad but not of the extra 'full' padding: pad with zeros
        # first, then average with only the extra as (uncounted) ONNX padding
        if any(window.pad):
            x = o.Pad(x, o.ints([0, 0, *window.pad, 0, 0, *window.pad]), o.scalar(0, x.dtype))
        extra = [0] * window.rank + list(plan.extra)
        return o.AveragePool(x, pads=extra, count_include_pad=0, **common)
    if pool_type == "lp":
        x = _lp_power_onnx(o, x, attrs["p_value"])
    # sum: the average over the whole (padded) window times its size
    mean = o.AveragePool(x, pads=pads, count_include_pad=1, **common)
    total = o.Mul(mean, o.scalar(int(np.prod(window.kernel)), x.dtype))
    return _lp_root_onnx(o, total, attrs["p_value"]) if pool_type == "lp" else total


def _lp_power_onnx(o: Any, x: Any, p_value: int | None) -> Any:
    # NOTE: MXNet sums x**p without |x| (ONNX LpPool takes |x|), so the power is explicit
    return x if p_value == 1 else o.Pow(x, o.scalar(p_value, x.dtype))


def _lp_root_onnx(o: Any, total: Any, p_value: int | None) -> Any:
    if p_value == 1:
        return total
    if p_value == 2:
        return o.Sqrt(total)
    return o.Mul(o.Sign(total), o.Pow(o.Abs(total), o.scalar(1 / 3, total.dtype)))
