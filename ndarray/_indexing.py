"""NDArray indexing: `x[key]` and `x[key] = value` with MXNet's rules.

Eager arrays index through jax (basic: ints, slices with any step, None, Ellipsis;
advanced: integer lists, numpy arrays and NDArrays, with numpy's rules for combining
them) and write through `.at[key].set`. As in MXNet's legacy NDArray, indexing every
axis with an integer gives shape (1,), not a 0-d array, and integers out of range raise
IndexError. Traced arrays index through ops (slice, Reshape, take) so that the graph
records them; writes into traced arrays use `_slice_assign(_scalar)` when registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir import HybrixError, Value
from hybrix.ndarray import _dispatch

__all__ = ["getitem", "setitem"]


def _expand_key(key: Any, rank: int) -> tuple:
    """The key as a tuple with Ellipsis replaced by full slices."""
    items = key if isinstance(key, tuple) else (key,)
    ellipses = [i for i, k in enumerate(items) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for k in items if k is not None and k is not Ellipsis)
    if used > rank:
        raise IndexError(f"too many indices ({used}) for an array of rank {rank}")
    if ellipses:
        at = ellipses[0]
        items = items[:at] + (slice(None),) * (rank - used) + items[at + 1 :]
    return tuple(items)


def _is_int(item: Any) -> bool:
    return isinstance(item, int | np.integer) and not isinstance(item, bool)


def _is_advanced(item: Any) -> bool:
    from hybrix.ndarray.ndarray import NDArray

    return isinstance(item, list | np.ndarray | NDArray)


def _check_ints(items: tuple, shape: tuple) -> None:
    axis = 0
    for item in items:
        if item is None:
            continue
        if _is_int(item) and isinstance(shape[axis], int):
            size = shape[axis]
            if not -size <= item < size:
                raise IndexError(f"index {item} is out of bounds for axis {axis} with size {size}")
        if isinstance(item, bool):
            raise HybrixError("boolean indices are not supported by NDArray indexing")
        axis += 1


def _index_array(item: Any) -> Any:
    """An integer index array (MXNet passes float32 index arrays too)."""
    from hybrix.ndarray.ndarray import NDArray

    array = item._data if isinstance(item, NDArray) else np.asarray(item)
    if array.dtype.kind == "b":
        raise HybrixError("boolean mask indexing is not supported by NDArray")
    return array if array.dtype.kind in "iu" else array.astype(np.int64)


def getitem(array: Any, key: Any) -> Any:
    from hybrix.ndarray.ndarray import NDArray

    items = _expand_key(key, array.ndim)
    _check_ints(items, array.shape)
    if type(array._data) is Value or any(
        isinstance(i, NDArray) and type(i._data) is Value for i in items
    ):
        return _traced_getitem(array, items)
    jax_key = tuple(_index_array(i) if _is_advanced(i) else i for i in items)
    result = array._data[jax_key]
    if result.ndim == 0:
        result = result.reshape((1,))  # MXNet has no 0-d results from indexing
    return NDArray(result, array._ctx)


def setitem(array: Any, key: Any, value: Any) -> None:
    from hybrix.ndarray.ndarray import NDArray

    items = _expand_key(key, array.ndim)
    _check_ints(items, array.shape)
    if type(array._data) is Value or (isinstance(value, NDArray) and type(value._data) is Value):
        _traced_setitem(array, items, value)
        return
    import jax.numpy as jnp

    if all(type(i) is slice and i == slice(None) for i in items):
        whole = _whole_array(array, value)
        if whole is not None:
            array._data = whole
            return
    jax_key = tuple(_index_array(i) if _is_advanced(i) else i for i in items)
    dtype = array._data.dtype
    if isinstance(value, NDArray):
        value = value._data
    value = jnp.asarray(value, dtype=dtype)
    target_shape = np.broadcast_to(np.empty((), np.int8), array.shape)[jax_key].shape
    if value.shape != target_shape and value.size == int(np.prod(target_shape)):
        value = value.reshape(target_shape)  # MXNet's (1,)-shaped values for integer keys
    try:
        array._data = array._data.at[jax_key].set(value)
    except (ValueError, TypeError) as e:
        raise HybrixError(
            f"cannot assign a value of shape {value.shape} to an index of shape {target_shape}"
        ) from e


def _whole_array(array: Any, value: Any) -> Any:
    """`array[:] = value` as a new buffer on the array's device, without a compiled scatter
    (initializers write every parameter so: ResNet-18's deferred init compiled 17 programs);
    None where the general path is needed (a broadcast, a sharded array)."""
    import jax

    from hybrix.ndarray.ndarray import NDArray

    devices = array._data.devices()
    if len(devices) != 1:
        return None
    dtype = array._data.dtype
    if isinstance(value, NDArray):
        value = value._data
    if isinstance(value, jax.Array):
        if value.shape != array.shape:
            return None
        value = value if value.dtype == dtype else value.astype(dtype)
    else:
        value = np.asarray(value, dtype=dtype)
        if value.shape != array.shape:
            if value.size != 1:
                return None
            value = np.full(array.shape, value.reshape(()), dtype)
    return jax.device_put(value, next(iter(devices)))


# -- traced ------------------------------------------------------------------------------
def _basic_parts(items: tuple, rank: int) -> tuple[list, list, list, list, list]:
    """begin/end/step for the slice op, the integer axes to drop, and the None positions."""
    begin, end, step, dropped, new_axes = [], [], [], [], []
    axis = 0
    for position, item in enumerate(items):
        if item is None:
            new_axes.append(position)
            continue
        if _is_int(item):
            item = int(item)
            begin.append(item)
            end.append(item + 1 if item != -1 else None)
            step.append(1)
            dropped.append(axis)
        else:
            begin.append(item.start)
            end.append(item.stop)
            step.append(item.step)
        axis += 1
    return begin, end, step, dropped, new_axes


def _traced_getitem(array: Any, items: tuple) -> Any:
    from hybrix.ndarray.ndarray import _call

    advanced = [i for i, item in enumerate(items) if _is_advanced(item)]
    if advanced:
        return _traced_take(array, items, advanced)
    begin, end, step, dropped, new_axes = _basic_parts(items, array.ndim)
    result = array
    if begin:
        result = _call("slice", array, begin=tuple(begin), end=tuple(end), step=tuple(step))
    kept = [d for axis, d in enumerate(result.shape) if axis not in dropped]
    for position in new_axes:
        kept.insert(position, 1)
    if list(result.shape) == kept:
        return result
    if not kept:
        kept = [1]
    symbolic = [d for d in kept if not isinstance(d, int)]
    if len(symbolic) > 1:
        raise HybrixError(
            f"indexing a traced array of shape {array.shape} with {items} needs a reshape "
            "with more than one symbolic dimension, which is not supported"
        )
    return _call("Reshape", result, shape=tuple(d if isinstance(d, int) else -1 for d in kept))


def _traced_take(array: Any, items: tuple, advanced: list[int]) -> Any:
    from hybrix.ndarray.ndarray import NDArray, _call

    plain = all(
        isinstance(i, slice) and i == slice(None) for j, i in enumerate(items) if j not in advanced
    )
    if len(advanced) != 1 or not plain or None in items:
        raise HybrixError(
            f"advanced index {items} on a traced array: only one index array with full slices "
            "(x[idx], x[:, idx]) is supported while tracing"
        )
    item = items[advanced[0]]
    indices = item if isinstance(item, NDArray) else NDArray(_index_array(item))
    return _call("take", array, indices, axis=advanced[0])


def _traced_setitem(array: Any, items: tuple, value: Any) -> None:
    """x[key] = value on a traced array, from ops every build has: the new array is a
    `take` from concat(x, value) with a constant index map (static shapes only)."""
    from hybrix.ndarray.ndarray import NDArray, _call
    from hybrix.ndarray.utils import full

    shape = array.shape
    if not all(isinstance(d, int) for d in shape):
        raise HybrixError(f"assigning into part of a traced array of symbolic shape {shape}")
    jax_key = tuple(_index_array(i) if _is_advanced(i) else i for i in items)
    if any(isinstance(i, NDArray) and type(i._data) is Value for i in items):
        raise HybrixError("assigning through a traced index array is not supported")
    size = int(np.prod(shape))
    positions = np.arange(size).reshape(shape)[jax_key]
    if isinstance(value, int | float | np.number):
        value = full(positions.shape, value, dtype=array.dtype)
    elif not isinstance(value, NDArray):
        value = NDArray(np.asarray(value, dtype=array.dtype))
    if value.dtype != array.dtype:
        value = value.astype(array.dtype)
    if value.shape != positions.shape:
        if value.size == positions.size:
            value = value.reshape(positions.shape or (1,))
        value = value.broadcast_to(positions.shape or (1,))
    index = np.arange(size)
    index[positions.reshape(-1)] = size + np.arange(positions.size)
    merged = _call("Concat", array.reshape(-1), value.reshape(-1), dim=0)
    new = _call("take", merged, NDArray(index.astype(np.int64))).reshape(shape)
    _dispatch._assign(array, new._data)
