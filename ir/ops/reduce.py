"""Reductions: sum, mean, prod, max, min, nansum, nanprod, argmax, argmin and norm (MXNet names).

Shapes follow MXNet's legacy nd API (ReduceAxesShapeImpl): `axis` None or () reduces every
axis, `exclude` reduces the axes not listed, and a result with no axes left has shape (1,)
rather than ().
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError
from hybrix.ir.ops._infer import normalize_axes, normalize_axis
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, Shape, TensorType

__all__ = ["reduced_axes", "reduced_shape"]


def reduced_axes(rank: int, axis: Sequence[int] | None, exclude: bool = False) -> tuple[int, ...]:
    """The sorted axes an MXNet reduction reduces over."""
    if not axis:  # None or (): every axis, whatever `exclude` says (as MXNet)
        return tuple(range(rank))
    axes = normalize_axes(axis, rank)
    if exclude:
        return tuple(a for a in range(rank) if a not in axes)
    return axes


def reduced_shape(shape: Sequence[Dim], axes: Sequence[int], keepdims: bool) -> Shape:
    """The result shape: reduced axes become 1 (keepdims) or go; never rank 0."""
    if keepdims:
        return tuple(1 if i in axes else dim for i, dim in enumerate(shape))
    kept = tuple(dim for i, dim in enumerate(shape) if i not in axes)
    return kept or (1,)


def _check_nonempty(shape: Sequence[Dim], axes: Sequence[int]) -> None:
    empty = [a for a in axes if shape[a] == 0]
    if empty:
        raise ShapeError(f"reducing over axes {list(empty)} of size 0 in shape {tuple(shape)}")


# -- sum, mean, prod, max, min, nansum, nanprod ------------------------------------------
_AXES_ATTRS = {
    "axis": Attr.ints(None, doc="axes to reduce; None or () reduces every axis"),
    "keepdims": Attr.bool(False, doc="keep reduced axes as size 1"),
    "exclude": Attr.bool(False, doc="reduce over the axes NOT listed in `axis`"),
}

# (MXNet name, aliases, numpy function, jax.numpy function name, needs a nonempty input, doc)
_REDUCTIONS: list[tuple[str, tuple[str, ...], Callable[..., Any], str, bool, str]] = [
    ("sum", ("sum_axis",), np.sum, "sum", False, "Sum"),
    ("mean", (), np.mean, "mean", False, "Mean"),
    ("prod", (), np.prod, "prod", False, "Product"),
    ("max", ("max_axis",), np.max, "max", True, "Maximum"),
    ("min", ("min_axis",), np.min, "min", True, "Minimum"),
    ("nansum", (), np.nansum, "nansum", False, "Sum, NaN counted as 0,"),
    ("nanprod", (), np.nanprod, "nanprod", False, "Product, NaN counted as 1,"),
]


def _reduce_infer(nonempty: bool) -> Callable[..., TensorType]:
    def infer(data: TensorType, *, axis: Any, keepdims: bool, exclude: bool) -> TensorType:
        axes = reduced_axes(data.rank, axis, exclude)
        if nonempty:
            _check_nonempty(data.shape, axes)
        return data.with_shape(reduced_shape(data.shape, axes, keepdims))

    return infer


def _def_reduction(
    name: str,
    aliases: tuple[str, ...],
    numpy_fn: Callable[..., Any],
    jax_name: str,
    nonempty: bool,
    what: str,
) -> None:
    op = defop(
        name,
        inputs=["data"],
        attrs=_AXES_ATTRS,
        aliases=aliases,
        infer=_reduce_infer(nonempty),
        doc=f"{what} over `axis` (all axes by default); keeps the dtype. MXNet: {name}.",
    )

    @op.ref
    def _ref(data: np.ndarray, *, axis: Any, keepdims: bool, exclude: bool) -> np.ndarray:
        axes = reduced_axes(data.ndim, axis, exclude)
        result = np.asarray(numpy_fn(data, axis=axes, keepdims=True)).astype(data.dtype)
        return result.reshape(reduced_shape(data.shape, axes, keepdims))

    @op.lower
    def _lower(jx: Any, data: Any, *, axis: Any, keepdims: bool, exclude: bool) -> Any:
        axes = reduced_axes(data.ndim, axis, exclude)
        result = getattr(jx.jnp, jax_name)(data, axis=axes, keepdims=True).astype(data.dtype)
        return result.reshape(reduced_shape(data.shape, axes, keepdims))

    op.onnx(_reduction_onnx(name))


# MXNet name -> (ONNX Reduce op, value NaN is replaced by, or None)
_ONNX_REDUCTIONS = {
    "sum": ("ReduceSum", None),
    "mean": ("ReduceMean", None),
    "prod": ("ReduceProd", None),
    "max": ("ReduceMax", None),
    "min": ("ReduceMin", None),
    "nansum": ("ReduceSum", 0),
    "nanprod": ("ReduceProd", 1),
}


def _reduced_onnx(o: Any, result: Any, data: Any, axes: Sequence[int], keepdims: bool) -> Any:
    """An ONNX reduction's result in MXNet's shape: rank 0 becomes (1,)."""
    if not keepdims and len(axes) == data.rank:
        return o.Reshape(result, o.ints([1]))
    return result


def _reduction_onnx(name: str) -> Callable[..., Any]:
    op_type, nan_value = _ONNX_REDUCTIONS[name]

    def facet(o: Any, data: Any, *, axis: Any, keepdims: bool, exclude: bool) -> Any:
        axes = reduced_axes(data.rank, axis, exclude)
        x = data
        if nan_value is not None and data.dtype.is_float:
            x = o.Where(o.IsNaN(data), o.scalar(nan_value, data.dtype), data)
        result = o.reduce(op_type, x, axes, keepdims)
        return _reduced_onnx(o, result, data, axes, keepdims)

    return facet


for _row in _REDUCTIONS:
    _def_reduction(*_row)


# -- argmax, argmin -------------------------------------------------------------------
_AXIS_ATTRS = {
    "axis": Attr.int(None, doc="the axis to search; None flattens the input"),
    "keepdims": Attr.bool(False, doc="keep the searched axis as size 1"),
}


def _search_axes(rank: int, axis: int | None) -> tuple[int, ...]:
    """The axes argmax searches; MXNet treats None and a 1-D input as 'flatten'."""
    if axis is None or rank <= 1:
        if axis is not None:
            normalize_axis(axis, max(rank, 1))
        return tuple(range(rank))
    return (normalize_axis(axis, rank),)


def _search_infer(data: TensorType, *, axis: int | None, keepdims: bool) -> TensorType:
    axes = _search_axes(data.rank, axis)
    _check_nonempty(data.shape, axes)
    return data.with_shape(reduced_shape(data.shape, axes, keepdims))


def _def_search(name: str, numpy_fn: Callable[..., Any], jax_name: str, what: str) -> None:
    op = defop(
        name,
        inputs=["data"],
        attrs=_AXIS_ATTRS,
        infer=_search_infer,
        no_grad="index output; MXNet gives zero gradient (MakeZeroGradNodes)",
        doc=f"Index of the first {what} along `axis` (flattened when None), in the input's "
        f"dtype (MXNet's ElemwiseType: float32 for float32 input). MXNet: {name}.",
    )

    @op.ref
    def _ref(data: np.ndarray, *, axis: int | None, keepdims: bool) -> np.ndarray:
        axes = _search_axes(data.ndim, axis)
        index = numpy_fn(data, axis=axes[0] if len(axes) == 1 and data.ndim > 1 else None)
        return (
            np.asarray(index).astype(data.dtype).reshape(reduced_shape(data.shape, axes, keepdims))
        )

    @op.lower
    def _lower(jx: Any, data: Any, *, axis: int | None, keepdims: bool) -> Any:
        axes = _search_axes(data.ndim, axis)
        flat = not (len(axes) == 1 and data.ndim > 1)
        index = getattr(jx.jnp, jax_name)(data, axis=None if flat else axes[0])
        return index.astype(data.dtype).reshape(reduced_shape(data.shape, axes, keepdims))

    @op.onnx
    def _onnx(o: Any, data: Any, *, axis: int | None, keepdims: bool) -> Any:
        axes = _search_axes(data.rank, axis)
        op_type = "ArgMax" if name == "argmax" else "ArgMin"
        if len(axes) == 1 and data.rank > 1:
            index = o.node(op_type, [data], axis=axes[0], keepdims=int(keepdims))
        else:  # flattened: the index into the flat data, in MXNet's shape
            flat = o.node(op_type, [o.Reshape(data, o.ints([-1]))], axis=0, keepdims=0)
            index = o.Reshape(flat, o.ints(reduced_shape(data.shape, axes, keepdims)))
        # NOTE: MXNet returns the index in the input's dtype (float32 for float32 data)
        return o.cast(index, data.dtype)


_def_search("argmax", np.argmax, "argmax", "maximum")
_def_search("argmin", np.argmin, "argmin", "minimum")


# -- norm ------------------------------------------------------------------------------
_NORM_DTYPES = tuple(DType[n] for n in ("float16", "float32", "float64", "int32", "int64", "int8"))


def _norm_infer(
    data: TensorType, *, ord: int, axis: Any, out_dtype: DType | None, keepdims: bool
) -> TensorType:
    axes = reduced_axes(data.rank, axis)
    shape = reduced_shape(data.shape, axes, keepdims)
    return TensorType(out_dtype or data.dtype, shape)


norm = defop(
    "norm",
    inputs=["data"],
    infer=_norm_infer,
    attrs={
        "ord": Attr.int(2, choices=(1, 2), doc="1: sum of |x|; 2: sqrt of the sum of x**2"),
        "axis": Attr.ints(None, doc="axes to reduce; None reduces every axis"),
        "out_dtype": Attr.dtype(None, choices=_NORM_DTYPES, doc="result dtype; None: input's"),
        "keepdims": Attr.bool(False, doc="keep reduced axes as size 1"),
    },
    doc="L1 or L2 norm over `axis` (the Frobenius norm over two axes); the gradient of the "
    "L2 norm is 0 at an all-zero slice. MXNet: norm.",
)


@norm.ref
def _norm_ref(
    data: np.ndarray, *, ord: int, axis: Any, out_dtype: DType | None, keepdims: bool
) -> np.ndarray:
    axes = reduced_axes(data.ndim, axis)
    if ord == 1:
        result = np.sum(np.abs(data), axis=axes, keepdims=True)
    else:
        result = np.sqrt(np.sum(np.square(data), axis=axes, keepdims=True))
    dtype = out_dtype.numpy if out_dtype else data.dtype
    return result.astype(dtype).reshape(reduced_shape(data.shape, axes, keepdims))


@norm.lower
def _norm_lower(
    jx: Any, data: Any, *, ord: int, axis: Any, out_dtype: DType | None, keepdims: bool
) -> Any:
    jnp = jx.jnp
    axes = reduced_axes(data.ndim, axis)
    if ord == 1:
        result = jnp.sum(jnp.abs(data), axis=axes, keepdims=True)
    else:
        squares = jnp.sum(jnp.square(data), axis=axes, keepdims=True)
        safe = jnp.where(squares == 0, jnp.ones_like(squares), squares)  # finite gradient at 0
        result = jnp.where(squares == 0, jnp.zeros_like(squares), jnp.sqrt(safe))
    dtype = out_dtype.numpy if out_dtype else data.dtype
    return result.astype(dtype).reshape(reduced_shape(data.shape, axes, keepdims))


@norm.onnx
def _norm_onnx(
    o: Any, data: Any, *, ord: int, axis: Any, out_dtype: DType | None, keepdims: bool
) -> Any:
    axes = reduced_axes(data.rank, axis)
    result = o.reduce("ReduceL1" if ord == 1 else "ReduceL2", data, axes, keepdims)
    return o.cast(_reduced_onnx(o, result, data, axes, keepdims), out_dtype or data.dtype)
