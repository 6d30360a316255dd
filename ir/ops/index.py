"""Indexing and ordering ops: take, pick, one_hot, gather_nd, topk, sort, argsort.

Index-like inputs arrive as float32 from MXNet (int arrays work too); each op casts them
to integers inside, truncating toward zero as MXNet's `static_cast<int>` does. Indices
that are out of range are clipped or wrapped: a compiled program cannot raise on data.
`boolean_mask` is not here: its output shape depends on the data, which XLA cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, ShapeError
from hybrix.ir.ops._infer import normalize_axis
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, TensorType, num_elements

__all__ = ["argsort", "gather_nd", "one_hot", "pick", "sort", "take", "topk"]


def _bound(xp: Any, indices: Any, size: int, mode: str) -> Any:
    """Integer indices in [0, size): clipped, or wrapped like Python's modulo."""
    indices = indices.astype(xp.int32)
    if mode == "wrap":
        return xp.mod(indices, size)
    return xp.clip(indices, 0, size - 1)


# -- take ---------------------------------------------------------------------------------
take = defop(
    "take",
    inputs=["a", "indices"],
    attrs={
        "axis": Attr.int(0),
        "mode": Attr.str("clip", choices=("clip", "wrap", "raise")),
    },
    nondiff_inputs=("indices",),
    doc="Rows of `a` along `axis` at `indices`. MXNet: take. mode='raise' behaves as 'clip': "
    "a compiled program cannot raise on index values.",
)


@take.infer
def _take_infer(a: TensorType, indices: TensorType, *, axis: int, **_: Any) -> TensorType:
    axis = normalize_axis(axis, a.rank)
    return a.with_shape(a.shape[:axis] + indices.shape + a.shape[axis + 1 :])


@take.ref
def _take_ref(a: np.ndarray, indices: np.ndarray, *, axis: int, mode: str, **_: Any) -> Any:
    axis = axis % a.ndim
    return np.take(a, _bound(np, indices, a.shape[axis], mode), axis=axis)


@take.lower
def _take_lower(jx: Any, a: Any, indices: Any, *, axis: int, mode: str, **_: Any) -> Any:
    axis = axis % a.ndim
    return jx.jnp.take(a, _bound(jx.jnp, indices, a.shape[axis], mode), axis=axis, mode="clip")


# -- pick ---------------------------------------------------------------------------------
pick = defop(
    "pick",
    inputs=["data", "index"],
    attrs={
        "axis": Attr.int(-1),
        "keepdims": Attr.bool(False),
        "mode": Attr.str("clip", choices=("clip", "wrap")),
    },
    nondiff_inputs=("index",),
    doc="One element of `data` along `axis` per entry of `index`. MXNet: pick "
    "(axis=None is not supported by MXNet either).",
)


@pick.infer
def _pick_infer(
    data: TensorType, index: TensorType, *, axis: int, keepdims: bool, **_: Any
) -> TensorType:
    axis = normalize_axis(axis, data.rank)
    kept = (*data.shape[:axis], 1, *data.shape[axis + 1 :])
    dropped = data.shape[:axis] + data.shape[axis + 1 :]
    if index.shape not in (kept, dropped):
        raise ShapeError(
            f"index shape {index.shape} should be {dropped} or {kept} "
            f"for data {data.shape} and axis {axis}"
        )
    return data.with_shape(kept if keepdims else dropped)


@pick.ref
def _pick_ref(
    data: np.ndarray, index: np.ndarray, *, axis: int, keepdims: bool, mode: str
) -> np.ndarray:
    axis = axis % data.ndim
    index = _bound(np, index, data.shape[axis], mode)
    if index.ndim < data.ndim:
        index = np.expand_dims(index, axis)
    picked = np.take_along_axis(data, index, axis)
    return picked if keepdims else np.squeeze(picked, axis)


@pick.lower
def _pick_lower(jx: Any, data: Any, index: Any, *, axis: int, keepdims: bool, mode: str) -> Any:
    axis = axis % data.ndim
    index = _bound(jx.jnp, index, data.shape[axis], mode)
    if index.ndim < data.ndim:
        index = jx.jnp.expand_dims(index, axis)
    picked = jx.jnp.take_along_axis(data, index, axis=axis)
    return picked if keepdims else jx.jnp.squeeze(picked, axis)


# -- one_hot ------------------------------------------------------------------------------
one_hot = defop(
    "one_hot",
    inputs=["indices"],
    attrs={
        "depth": Attr.int(),
        "on_value": Attr.float(1.0),
        "off_value": Attr.float(0.0),
        "dtype": Attr.dtype(DType.float32),
    },
    no_grad="the output depends on the indices only through comparisons",
    doc="A new last axis of size `depth`: on_value at each index, off_value elsewhere "
    "(indices outside [0, depth) give a row of off_value). MXNet: one_hot.",
)


@one_hot.infer
def _one_hot_infer(indices: TensorType, *, depth: int, dtype: DType, **_: Any) -> TensorType:
    if depth < 0:
        raise AttrError(f"depth must be >= 0, got {depth}")
    return TensorType(dtype, (*indices.shape, depth))


@one_hot.ref
def _one_hot_ref(
    indices: np.ndarray, *, depth: int, on_value: float, off_value: float, dtype: DType
) -> np.ndarray:
    hot = indices.astype(np.int64)[..., None] == np.arange(depth)
    return np.where(hot, on_value, off_value).astype(dtype.numpy)


@one_hot.lower
def _one_hot_lower(
    jx: Any, indices: Any, *, depth: int, on_value: float, off_value: float, dtype: DType
) -> Any:
    jnp = jx.jnp
    hot = indices.astype(jnp.int32)[..., None] == jnp.arange(depth)
    return jnp.where(hot, jnp.asarray(on_value, dtype.numpy), jnp.asarray(off_value, dtype.numpy))


# -- gather_nd ----------------------------------------------------------------------------
gather_nd = defop(
    "gather_nd",
    inputs=["data", "indices"],
    nondiff_inputs=("indices",),
    doc="data[indices[0], ..., indices[M-1]] for indices of shape (M, ...). MXNet: gather_nd; "
    "negative indices count from the end (MXNet 1.9), larger ones wrap.",
)


@gather_nd.infer
def _gather_nd_infer(data: TensorType, indices: TensorType) -> TensorType:
    count = indices.shape[0] if indices.rank else None
    if not isinstance(count, int) or not 1 <= count <= data.rank:
        raise ShapeError(
            f"indices shape {indices.shape} should start with a static count in "
            f"[1, {data.rank}] (the rank of data {data.shape})"
        )
    return data.with_shape(indices.shape[1:] + data.shape[count:])


@gather_nd.ref
def _gather_nd_ref(data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    index = tuple(_bound(np, indices[i], data.shape[i], "wrap") for i in range(len(indices)))
    return data[index]


@gather_nd.lower
def _gather_nd_lower(jx: Any, data: Any, indices: Any) -> Any:
    count = indices.shape[0]
    index = tuple(_bound(jx.jnp, indices[i], data.shape[i], "wrap") for i in range(count))
    return data[index]


# -- ordering: shared pieces --------------------------------------------------------------
def _to_last(xp: Any, data: Any, axis: int | None) -> Any:
    """The data with the ordering axis last (flattened when axis is None)."""
    return data.reshape(-1) if axis is None else xp.moveaxis(data, axis, -1)


def _from_last(xp: Any, result: Any, axis: int | None) -> Any:
    """Undo `_to_last` for results whose last axis was cut to k (or kept)."""
    return result if axis is None else xp.moveaxis(result, -1, axis)


def _descending_keys(xp: Any, data: Any) -> Any:
    """Keys whose ascending order is data's descending order (ints: bitwise not, no overflow)."""
    if xp.issubdtype(data.dtype, xp.floating):
        return -data
    return xp.invert(data)


def _ordered_shape(data: TensorType, axis: int | None, count: Dim) -> tuple[Dim, ...]:
    if axis is None:
        return (count,)
    return (*data.shape[:axis], count, *data.shape[axis + 1 :])


def _ordered_axis(data: TensorType, axis: int | None) -> tuple[int | None, Dim]:
    """(normalized axis, length along it); None flattens the data."""
    if axis is None:
        return None, num_elements(data.shape)
    axis = normalize_axis(axis, data.rank)
    return axis, data.shape[axis]


# -- topk ---------------------------------------------------------------------------------
def _topk_outputs(attrs: Mapping[str, Any]) -> list[str]:
    return ["value", "indices"] if attrs.get("ret_typ", "indices") == "both" else ["output"]


topk = defop(
    "topk",
    inputs=["data"],
    outputs=_topk_outputs,
    attrs={
        "axis": Attr.int(-1, optional=True),
        "k": Attr.int(1),
        "ret_typ": Attr.str("indices", choices=("value", "indices", "mask", "both")),
        "is_ascend": Attr.bool(False),
        "dtype": Attr.dtype(DType.float32),
    },
    doc="The k largest (or smallest) elements along axis (None: of the flattened data); "
    "k < 1 sorts the whole axis. ret_typ value | indices (in `dtype`) | mask | both "
    "(value, indices). Equal values keep their index order. Indices and mask have no "
    "gradient; value's gradient flows to the chosen elements. MXNet: topk.",
)


def _topk_count(k: int, length: Dim) -> Dim:
    if k < 1:
        return length
    if isinstance(length, int) and k > length:
        raise ShapeError(f"k={k} is larger than the {length} elements along the axis")
    return k


@topk.infer
def _topk_infer(
    data: TensorType, *, axis: int | None, k: int, ret_typ: str, dtype: DType, **_: Any
) -> TensorType | tuple[TensorType, ...]:
    axis, length = _ordered_axis(data, axis)
    shape = _ordered_shape(data, axis, _topk_count(k, length))
    values, indices = data.with_shape(shape), TensorType(dtype, shape)
    results: dict[str, Any] = {
        "value": values,
        "indices": indices,
        "mask": data,
        "both": (values, indices),
    }
    return results[ret_typ]


def _topk_results(
    xp: Any, data: Any, order: Any, axis: int | None, ret_typ: str, dtype: DType
) -> Any:
    """topk's outputs from `order`: the chosen positions along the last axis of _to_last."""
    flat = _to_last(xp, data, axis)
    if ret_typ == "mask":
        mask = _topk_mask(xp, flat, order)
        return mask.reshape(data.shape) if axis is None else _from_last(xp, mask, axis)
    values = _from_last(xp, xp.take_along_axis(flat, order, axis=-1), axis)
    indices = _from_last(xp, order.astype(dtype.numpy), axis)
    return {"value": values, "indices": indices, "both": (values, indices)}[ret_typ]


def _topk_mask(xp: Any, flat: Any, order: Any) -> Any:
    """1 where an element was chosen, else 0, in the data's dtype."""
    positions = xp.arange(flat.shape[-1])
    chosen = (order[..., :, None] == positions).any(axis=-2)
    return chosen.astype(flat.dtype)


@topk.ref
def _topk_ref(
    data: np.ndarray, *, axis: int | None, k: int, ret_typ: str, is_ascend: bool, dtype: DType
) -> Any:
    axis = None if axis is None else axis % data.ndim
    flat = _to_last(np, data, axis)
    keys = flat if is_ascend else _descending_keys(np, flat)
    count = k if k >= 1 else flat.shape[-1]
    order = np.argsort(keys, axis=-1, kind="stable")[..., :count]
    return _topk_results(np, data, order, axis, ret_typ, dtype)


@topk.lower
def _topk_lower(
    jx: Any, data: Any, *, axis: int | None, k: int, ret_typ: str, is_ascend: bool, dtype: DType
) -> Any:
    axis = None if axis is None else axis % data.ndim
    flat = _to_last(jx.jnp, data, axis)
    # lax.top_k picks the largest; ties go to the lower index, as a stable sort would
    keys = _descending_keys(jx.jnp, flat) if is_ascend else flat
    count = k if k >= 1 else flat.shape[-1]
    _, order = jx.lax.top_k(keys, count)
    return _topk_results(jx.jnp, data, order, axis, ret_typ, dtype)


# -- sort, argsort ------------------------------------------------------------------------
sort = defop(
    "sort",
    inputs=["data"],
    attrs={"axis": Attr.int(-1, optional=True), "is_ascend": Attr.bool(True)},
    doc="The data sorted along axis (None: flattened). MXNet: sort.",
)


@sort.infer
def _sort_infer(data: TensorType, *, axis: int | None, **_: Any) -> TensorType:
    axis, length = _ordered_axis(data, axis)
    return data.with_shape(_ordered_shape(data, axis, length))


@sort.ref
def _sort_ref(data: np.ndarray, *, axis: int | None, is_ascend: bool) -> np.ndarray:
    axis = None if axis is None else axis % data.ndim
    ordered = np.sort(_to_last(np, data, axis), axis=-1)
    return _from_last(np, ordered if is_ascend else np.flip(ordered, -1), axis)


@sort.lower
def _sort_lower(jx: Any, data: Any, *, axis: int | None, is_ascend: bool) -> Any:
    axis = None if axis is None else axis % data.ndim
    ordered = jx.jnp.sort(_to_last(jx.jnp, data, axis), axis=-1)
    return _from_last(jx.jnp, ordered if is_ascend else jx.jnp.flip(ordered, -1), axis)


argsort = defop(
    "argsort",
    inputs=["data"],
    attrs={
        "axis": Attr.int(-1, optional=True),
        "is_ascend": Attr.bool(True),
        "dtype": Attr.dtype(DType.float32),
    },
    no_grad="integer positions",
    doc="Positions that sort the data along axis (None: flattened), in `dtype`; equal "
    "values keep their index order. MXNet: argsort.",
)


@argsort.infer
def _argsort_infer(data: TensorType, *, axis: int | None, dtype: DType, **_: Any) -> TensorType:
    axis, length = _ordered_axis(data, axis)
    return TensorType(dtype, _ordered_shape(data, axis, length))


@argsort.ref
def _argsort_ref(
    data: np.ndarray, *, axis: int | None, is_ascend: bool, dtype: DType
) -> np.ndarray:
    axis = None if axis is None else axis % data.ndim
    flat = _to_last(np, data, axis)
    keys = flat if is_ascend else _descending_keys(np, flat)
    order = np.argsort(keys, axis=-1, kind="stable")
    return _from_last(np, order.astype(dtype.numpy), axis)


@argsort.lower
def _argsort_lower(jx: Any, data: Any, *, axis: int | None, is_ascend: bool, dtype: DType) -> Any:
    axis = None if axis is None else axis % data.ndim
    flat = _to_last(jx.jnp, data, axis)
    keys = flat if is_ascend else _descending_keys(jx.jnp, flat)
    order = jx.jnp.argsort(keys, axis=-1, stable=True)
    return _from_last(jx.jnp, order.astype(dtype.numpy), axis)


# -- ONNX ---------------------------------------------------------------------------------
def _axis_size_onnx(o: Any, data: Any, axis: int) -> Any:
    """The size of `data` along `axis` as a 0-d int64 (read at run time when symbolic)."""
    size = data.shape[axis]
    if isinstance(size, int):
        return o.scalar(size, DType.int64)
    return o.squeeze(o.Shape(data, start=axis, end=axis + 1), [0])


def _bound_onnx(o: Any, indices: Any, size: Any, mode: str) -> Any:
    """_bound in ONNX: int64 indices (truncated) clipped or wrapped into [0, size)."""
    index = o.cast(indices, DType.int64)
    if mode == "wrap":
        return o.Mod(index, size, fmod=0)  # fmod=0: the divisor's sign, as Python's %
    return o.Clip(index, o.scalar(0, DType.int64), o.Sub(size, o.scalar(1, DType.int64)))


@take.onnx
def _take_onnx(o: Any, a: Any, indices: Any, *, axis: int, mode: str, **_: Any) -> Any:
    axis = normalize_axis(axis, a.rank)
    index = _bound_onnx(o, indices, _axis_size_onnx(o, a, axis), mode)
    return o.Gather(a, index, axis=axis)


@pick.onnx
def _pick_onnx(o: Any, data: Any, index: Any, *, axis: int, keepdims: bool, mode: str) -> Any:
    axis = normalize_axis(axis, data.rank)
    bounded = _bound_onnx(o, index, _axis_size_onnx(o, data, axis), mode)
    if index.rank < data.rank:
        bounded = o.unsqueeze(bounded, [axis])
    picked = o.GatherElements(data, bounded, axis=axis)
    return picked if keepdims else o.squeeze(picked, [axis])


@one_hot.onnx
def _one_hot_onnx(
    o: Any, indices: Any, *, depth: int, on_value: float, off_value: float, dtype: DType
) -> Any:
    # NOTE: not ONNX OneHot, which counts negative indices from the end; MXNet gives off_value
    hot = o.Equal(o.unsqueeze(o.cast(indices, DType.int64), [indices.rank]), o.ints(range(depth)))
    return o.Where(hot, o.scalar(on_value, dtype), o.scalar(off_value, dtype))


@gather_nd.onnx
def _gather_nd_onnx(o: Any, data: Any, indices: Any) -> Any:
    count = indices.shape[0]
    sizes = [data.shape[i] for i in range(count)]
    if not all(isinstance(s, int) for s in sizes):
        o.fail(f"gather_nd over symbolic dimensions {sizes} is not supported")
    # MXNet's indices are (M, ...); ONNX GatherND's are (..., M)
    index = o.cast(indices, DType.int64)
    index = o.Transpose(index, perm=[*range(1, indices.rank), 0])
    return o.GatherND(data, o.Mod(index, o.ints(sizes), fmod=0))


def _ordered_onnx(
    o: Any, data: Any, axis: int | None, k: int, largest: bool
) -> tuple[Any, Any, Any, int]:
    """(values, int64 indices, the data as searched, axis searched) of ONNX TopK, which puts
    equal values in index order for both directions, as MXNet's stable sort."""
    if axis is None:
        x, position = o.Reshape(data, o.ints([-1])), 0
        length: Dim = num_elements(data.shape)
    else:
        position = normalize_axis(axis, data.rank)
        x, length = data, data.shape[position]
    if k >= 1:
        count = o.ints([k])
    elif isinstance(length, int):
        count = o.ints([length])
    else:
        count = o.Shape(x, start=position, end=position + 1)
    values, index = o.TopK(x, count, axis=position, largest=int(largest), sorted=1, outputs=2)
    return values, index, x, position


@topk.onnx
def _topk_onnx(
    o: Any, data: Any, *, axis: int | None, k: int, ret_typ: str, is_ascend: bool, dtype: DType
) -> Any:
    values, index, x, position = _ordered_onnx(o, data, axis, k, largest=not is_ascend)
    if ret_typ == "mask":
        zeros = o.ConstantOfShape(o.Shape(x), value=o.tensor_attr(np.zeros(1, data.dtype.numpy)))
        ones = o.ConstantOfShape(o.Shape(index), value=o.tensor_attr(np.ones(1, data.dtype.numpy)))
        mask = o.ScatterElements(zeros, index, ones, axis=position)
        return o.Reshape(mask, o.Shape(data)) if axis is None else mask
    indices = o.cast(index, dtype)
    return {"value": values, "indices": indices, "both": (values, indices)}[ret_typ]


@sort.onnx
def _sort_onnx(o: Any, data: Any, *, axis: int | None, is_ascend: bool) -> Any:
    return _ordered_onnx(o, data, axis, 0, largest=not is_ascend)[0]


@argsort.onnx
def _argsort_onnx(o: Any, data: Any, *, axis: int | None, is_ascend: bool, dtype: DType) -> Any:
    return o.cast(_ordered_onnx(o, data, axis, 0, largest=not is_ascend)[1], dtype)
