"""MXNet contrib ops the GluonCV model zoo exports: adaptive average pooling, bilinear resize.

Both work on NCHW data. Their lowerings multiply by small interpolation / averaging
matrices built from the static spatial sizes (an einsum per axis), which XLA runs as
matmuls and JAX differentiates; the numpy refs loop over output pixels as MXNet's CPU
kernels do (src/operator/contrib/adaptive_avg_pooling.cc, bilinear_resize.cc, 1.9.1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, ShapeError
from hybrix.ir.ops._nn_common import require_float
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, TensorType


def _spatial(data: TensorType, op: str) -> tuple[int, int]:
    require_float("data", data)
    if data.rank != 4:
        raise ShapeError(f"data has shape {data.shape}, expected 4-D NCHW for {op}")
    height, width = data.shape[2], data.shape[3]
    if not isinstance(height, int) or not isinstance(width, int):
        raise ShapeError(f"data has symbolic spatial size {data.shape[2:]}; {op} needs it static")
    return height, width


# -- _contrib_AdaptiveAvgPooling2D -----------------------------------------------------
def _pool_output_size(output_size: tuple[int, ...]) -> tuple[int, int]:
    """MXNet: () means 1x1, (s,) means s x s, (h, w) as given."""
    if len(output_size) == 0:
        return 1, 1
    if len(output_size) == 1:
        return output_size[0], output_size[0]
    if len(output_size) == 2:
        return output_size[0], output_size[1]
    raise AttrError(f"output_size {output_size} has {len(output_size)} entries, expected 0-2")


def _window(index: int, out_size: int, in_size: int) -> tuple[int, int]:
    """[start, end) of output cell `index`: floor(i*in/out) to ceil((i+1)*in/out)."""
    start = math.floor(index * in_size / out_size)
    end = math.ceil((index + 1) * in_size / out_size)
    return start, end


def _adaptive_infer(data: TensorType, *, output_size: tuple[int, ...]) -> TensorType:
    _spatial(data, "_contrib_AdaptiveAvgPooling2D")
    height, width = _pool_output_size(output_size)
    if height < 1 or width < 1:
        raise AttrError(f"output_size {output_size} must be positive")
    return data.with_shape((*data.shape[:2], height, width))


adaptive_avg_pooling = defop(
    "_contrib_AdaptiveAvgPooling2D",
    inputs=["data"],
    attrs={"output_size": Attr.ints(())},
    infer=_adaptive_infer,
    aliases=("_contrib_adaptive_avg_pooling2d",),
    doc="Average pooling of NCHW data to a fixed output_size (() is 1x1, (s,) is s x s); "
    "output cell i averages input rows floor(i*H/h) to ceil((i+1)*H/h) (and columns "
    "likewise), so windows may overlap. MXNet: contrib.AdaptiveAvgPooling2D.",
)


@adaptive_avg_pooling.ref
def _adaptive_ref(data: np.ndarray, *, output_size: tuple[int, ...]) -> np.ndarray:
    out_h, out_w = _pool_output_size(output_size)
    in_h, in_w = data.shape[2:]
    out = np.empty((*data.shape[:2], out_h, out_w), data.dtype)
    for i in range(out_h):
        top, bottom = _window(i, out_h, in_h)
        for j in range(out_w):
            left, right = _window(j, out_w, in_w)
            out[:, :, i, j] = data[:, :, top:bottom, left:right].mean(axis=(2, 3))
    return out


def _averaging_matrix(out_size: int, in_size: int) -> np.ndarray:
    matrix = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        start, end = _window(i, out_size, in_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@adaptive_avg_pooling.lower
def _adaptive_lower(jx: Any, data: Any, *, output_size: tuple[int, ...]) -> Any:
    out_h, out_w = _pool_output_size(output_size)
    rows = jx.jnp.asarray(_averaging_matrix(out_h, data.shape[2]), data.dtype)
    cols = jx.jnp.asarray(_averaging_matrix(out_w, data.shape[3]), data.dtype)
    return jx.jnp.einsum("ih,nchw,jw->ncij", rows, data, cols)


# -- _contrib_BilinearResize2D -------------------------------------------------------
_RESIZE_MODES = ("size", "odd_scale", "like", "to_even_down", "to_even_up", "to_odd_down")
_RESIZE_MODES += ("to_odd_up",)


def _resized(size: int, scale: float | None, mode: str) -> int:
    """One output side for the modes that depend only on the input side."""
    if mode == "odd_scale":
        if scale is None:
            raise AttrError("mode 'odd_scale' needs scale_height and scale_width")
        return int(size * scale) if size % 2 == 0 else int((size - 1) * scale) + 1
    parity = 0 if mode.startswith("to_even") else 1
    step = -1 if mode.endswith("down") else 1
    return size if size % 2 == parity else size + step


def _resize_shape(data: TensorType, like: TensorType | None, attrs: dict[str, Any]) -> tuple:
    height, width = _spatial(data, "_contrib_BilinearResize2D")
    mode = attrs["mode"]
    if mode == "like":
        if like is None or like.rank != 4:
            raise ShapeError("mode 'like' needs a 4-D second input `like`")
        return like.shape[2], like.shape[3]
    if like is not None:
        raise ShapeError(f"mode {mode!r} takes one input; `like` is only for mode 'like'")
    if mode == "size":
        # NOTE: MXNet 1.9.1 tests scale_height for both sides (bilinear_resize-inl.h).
        if attrs["scale_height"] is None:
            return attrs["height"], attrs["width"]
        if attrs["scale_width"] is None:
            raise AttrError("scale_height is set but scale_width is not; MXNet needs both")
        return int(attrs["scale_height"] * height), int(attrs["scale_width"] * width)
    return (
        _resized(height, attrs["scale_height"], mode),
        _resized(width, attrs["scale_width"], mode),
    )


def _resize_infer(data: TensorType, like: TensorType | None = None, **attrs: Any) -> TensorType:
    out_h, out_w = _resize_shape(data, like, attrs)
    sides: tuple[Dim, Dim] = (out_h, out_w)
    if any(isinstance(d, int) and d < 1 for d in sides):
        raise ShapeError(f"resized spatial size {sides} is empty")
    return data.with_shape((*data.shape[:2], *sides))


bilinear_resize = defop(
    "_contrib_BilinearResize2D",
    inputs=["data", "like?"],
    attrs={
        "height": Attr.int(1),
        "width": Attr.int(1),
        "scale_height": Attr.float(None),
        "scale_width": Attr.float(None),
        "mode": Attr.str("size", choices=_RESIZE_MODES),
        "align_corners": Attr.bool(True),
    },
    infer=_resize_infer,
    aliases=("_contrib_bilinear_resize2d",),
    nondiff_inputs=("like",),
    doc="Bilinear resize of NCHW data to (height, width), to int(scale * side), to the size "
    "of `like` (mode='like') or to the nearest even/odd size. align_corners maps corner "
    "pixel centres onto each other (source = dst * (in-1)/(out-1)); otherwise source = "
    "(dst + 0.5) * in/out - 0.5, clamped at 0. MXNet: contrib.BilinearResize2D.",
)


def _source_index(dst: int, in_size: int, out_size: int, align_corners: bool) -> float:
    if out_size <= 1:
        return 0.0
    if align_corners:
        return dst * (in_size - 1) / (out_size - 1)
    return max((dst + 0.5) * in_size / out_size - 0.5, 0.0)


def _taps(dst: int, in_size: int, out_size: int, align_corners: bool) -> tuple:
    """(low index, high index, weight of high) for output position `dst` on one axis."""
    if in_size == out_size:
        return dst, dst, 0.0
    source = _source_index(dst, in_size, out_size, align_corners)
    low = int(source)
    high = low + 1 if low < in_size - 1 else low
    return low, high, source - low


@bilinear_resize.ref
def _resize_ref(data: np.ndarray, like: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    in_h, in_w = data.shape[2:]
    out_h, out_w = _resize_infer(_type_of(data), _type_of(like), **attrs).shape[2:]
    corners = attrs["align_corners"]
    x = data.astype(np.float64)
    out = np.empty((*data.shape[:2], out_h, out_w), np.float64)
    for i in range(out_h):
        top, bottom, dy = _taps(i, in_h, out_h, corners)
        for j in range(out_w):
            left, right, dx = _taps(j, in_w, out_w, corners)
            upper = (1 - dx) * x[:, :, top, left] + dx * x[:, :, top, right]
            lower = (1 - dx) * x[:, :, bottom, left] + dx * x[:, :, bottom, right]
            out[:, :, i, j] = (1 - dy) * upper + dy * lower
    return out.astype(data.dtype)


def _type_of(array: Any) -> TensorType | None:
    """A float32 type of the array's shape: only the shapes matter to the resize geometry."""
    return None if array is None else TensorType(DType.float32, tuple(array.shape))


def _interpolation_matrix(out_size: int, in_size: int, align_corners: bool) -> np.ndarray:
    matrix = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        low, high, weight = _taps(i, in_size, out_size, align_corners)
        matrix[i, low] += 1 - weight
        matrix[i, high] += weight
    return matrix


@bilinear_resize.lower
def _resize_lower(jx: Any, data: Any, like: Any = None, **attrs: Any) -> Any:
    out_h, out_w = _resize_infer(_type_of(data), _type_of(like), **attrs).shape[2:]
    corners = attrs["align_corners"]
    rows = _interpolation_matrix(out_h, data.shape[2], corners)
    cols = _interpolation_matrix(out_w, data.shape[3], corners)
    wide = data.astype(jx.jnp.float32) if data.dtype.itemsize < 4 else data
    rows, cols = jx.jnp.asarray(rows, wide.dtype), jx.jnp.asarray(cols, wide.dtype)
    return jx.jnp.einsum("ih,nchw,jw->ncij", rows, wide, cols).astype(data.dtype)


# -- ONNX: the same averaging / interpolation matrices, as two MatMuls ----------------------
def _separable_onnx(o: Any, data: Any, rows: np.ndarray, cols: np.ndarray) -> Any:
    """rows (h, H) @ data (N, C, H, W) @ cols.T (W, w), computed in float32 at least."""
    wide = o.cast(data, DType.float32) if data.dtype.itemsize < 4 else data
    left = o.MatMul(o.const(rows, wide.dtype), wide)
    return o.cast(o.MatMul(left, o.const(cols.T, wide.dtype)), data.dtype)


@adaptive_avg_pooling.onnx
def _adaptive_onnx(o: Any, data: Any, *, output_size: tuple[int, ...]) -> Any:
    out_h, out_w = _pool_output_size(output_size)
    in_h, in_w = _spatial(data.type, "_contrib_AdaptiveAvgPooling2D")
    return _separable_onnx(o, data, _averaging_matrix(out_h, in_h), _averaging_matrix(out_w, in_w))


@bilinear_resize.onnx
def _resize_onnx(o: Any, data: Any, like: Any = None, **attrs: Any) -> Any:
    in_h, in_w = _spatial(data.type, "_contrib_BilinearResize2D")
    out_h, out_w = o.output_types[0].shape[2:]
    if not isinstance(out_h, int) or not isinstance(out_w, int):
        o.fail(f"resizing to a symbolic size {(out_h, out_w)} needs static interpolation weights")
    corners = attrs["align_corners"]
    rows = _interpolation_matrix(out_h, in_h, corners)
    return _separable_onnx(o, data, rows, _interpolation_matrix(out_w, in_w, corners))
