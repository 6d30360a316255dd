"""np.<function>: creation, ufuncs, reductions, shape manipulation and products.

Each function maps NumPy's signature onto registered ops (so calls dispatch through the
jitted per-op entries, record for autograd and trace into the IR) with mxnet.numpy's
defaults: float32 for arrays made from Python numbers, `ctx=` placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as onp

from hybrix.ir import DType, HybrixError, Value
from hybrix.mxnp._array import (
    _cast,
    as_array,
    binary,
    call,
    compare,
    from_nd,
    ndarray,
    promote,
    to_scalar_shape,
)
from hybrix.ndarray.ndarray import NDArray

float32 = onp.float32
float64 = onp.float64
float16 = onp.float16
int8 = onp.int8
int32 = onp.int32
int64 = onp.int64
uint8 = onp.uint8
bool_ = onp.bool_
pi = onp.pi
e = onp.e
inf = onp.inf
nan = onp.nan
newaxis = None


def _dtype(dtype: Any, default: Any = onp.float32) -> onp.dtype:
    return onp.dtype(default if dtype is None else DType.from_any(dtype).numpy)


def _place(data: Any, ctx: Any) -> ndarray:
    import jax

    if ctx is not None:
        data = jax.device_put(data, ctx.device)
    return ndarray(data, ctx)


def _shape(shape: Any) -> tuple:
    return (int(shape),) if isinstance(shape, int | onp.integer) else tuple(int(d) for d in shape)


# -- creation -----------------------------------------------------------------------------
def array(object: Any, dtype: Any = None, ctx: Any = None) -> ndarray:
    """An array of `object`; float32 unless `object` has a dtype or `dtype` is given."""
    import jax.numpy as jnp

    if isinstance(object, NDArray):
        data = object._data if dtype is None else object._data.astype(_dtype(dtype))
        return _place(data, ctx)
    if dtype is None and hasattr(object, "dtype"):
        dtype = onp.dtype(object.dtype)
    values = onp.asarray(object, dtype=_dtype(dtype))
    return _place(jnp.asarray(values), ctx)


asarray = array


def zeros(shape: Any, dtype: Any = None, order: str = "C", ctx: Any = None) -> ndarray:
    import jax.numpy as jnp

    return _place(jnp.zeros(_shape(shape), _dtype(dtype)), ctx)


def ones(shape: Any, dtype: Any = None, order: str = "C", ctx: Any = None) -> ndarray:
    import jax.numpy as jnp

    return _place(jnp.ones(_shape(shape), _dtype(dtype)), ctx)


empty = zeros


def full(
    shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", ctx: Any = None
) -> ndarray:
    import jax.numpy as jnp

    if isinstance(fill_value, NDArray):
        fill_value = fill_value.item()
    return _place(jnp.full(_shape(shape), fill_value, _dtype(dtype)), ctx)


def arange(
    start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, ctx: Any = None
) -> ndarray:
    """Evenly spaced values; float32 by default, as mxnet.numpy (not NumPy's int64)."""
    import jax.numpy as jnp

    if stop is None:
        start, stop = 0, start
    return _place(jnp.arange(start, stop, step, dtype=_dtype(dtype)), ctx)


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
    ctx: Any = None,
) -> Any:
    import jax.numpy as jnp

    values = jnp.linspace(start, stop, num, endpoint=endpoint, dtype=_dtype(dtype))
    result = _place(values, ctx)
    if retstep:
        return result, (stop - start) / max(num - 1 if endpoint else num, 1)
    return result


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None, ctx: Any = None) -> ndarray:
    import jax.numpy as jnp

    return _place(jnp.eye(N, M, k, dtype=_dtype(dtype)), ctx)


identity = eye


def _like(maker: Any, a: NDArray, dtype: Any, ctx: Any) -> ndarray:
    return maker(a.shape, dtype=a.dtype if dtype is None else dtype, ctx=ctx or a.context)


def zeros_like(a: NDArray, dtype: Any = None, order: str = "C", ctx: Any = None) -> ndarray:
    return _like(zeros, a, dtype, ctx)


def ones_like(a: NDArray, dtype: Any = None, order: str = "C", ctx: Any = None) -> ndarray:
    return _like(ones, a, dtype, ctx)


empty_like = zeros_like


def full_like(
    a: NDArray, fill_value: Any, dtype: Any = None, order: str = "C", ctx: Any = None
) -> ndarray:
    return full(a.shape, fill_value, a.dtype if dtype is None else dtype, ctx=ctx or a.context)


# -- elementwise ----------------------------------------------------------------------
def _unary(op_name: str) -> Any:
    def function(x: Any, out: Any = None, **kwargs: Any) -> ndarray:
        if type(x) is ndarray and type(x._data) is not Value and x._data.dtype.kind == "f":
            return call(op_name, [x])
        array = as_array(x)
        if onp.dtype(array.dtype).kind in "iub" and op_name not in _INT_KEEPING:
            array = _cast(array, onp.dtype(onp.float32))
        return call(op_name, [array])

    function.__name__ = op_name
    function.__doc__ = f"Elementwise {op_name} (mxnet.numpy.{op_name})."
    return function


_INT_KEEPING = {
    "abs",
    "sign",
    "square",
    "negative",
    "relu",
    "floor",
    "ceil",
    "rint",
    "trunc",
    "fix",
}
_UNARY = [
    "exp",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sqrt",
    "cbrt",
    "square",
    "abs",
    "sign",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "degrees",
    "radians",
    "floor",
    "ceil",
    "rint",
    "fix",
    "trunc",
    "negative",
    "reciprocal",
]
_UNARY_FUNCTIONS = {name: _unary(name) for name in _UNARY}
globals().update(_UNARY_FUNCTIONS)
absolute = _UNARY_FUNCTIONS["abs"]


def _binary_function(tensor_op: str, scalar_op: str, rscalar_op: str | None = None) -> Any:
    def function(x1: Any, x2: Any, out: Any = None, **kwargs: Any) -> ndarray:
        if type(x1) is ndarray:
            return binary(x1, x2, tensor_op, scalar_op)
        if not isinstance(x1, NDArray) and isinstance(x2, NDArray):
            if rscalar_op is not None and isinstance(x1, int | float):
                return call(rscalar_op, [x2], scalar=float(x1))
            return binary(x2, x1, tensor_op, None, reverse=True)
        return binary(as_array(x1), x2, tensor_op, scalar_op)

    function.__name__ = tensor_op.replace("broadcast_", "")
    return function


add = _binary_function("broadcast_add", "_plus_scalar", "_plus_scalar")
subtract = _binary_function("broadcast_sub", "_minus_scalar", "_rminus_scalar")
multiply = _binary_function("broadcast_mul", "_mul_scalar", "_mul_scalar")
power = _binary_function("broadcast_power", "_power_scalar", "_rpower_scalar")
mod = remainder = _binary_function("broadcast_mod", "_mod_scalar", "_rmod_scalar")
maximum = _binary_function("broadcast_maximum", "_maximum_scalar", "_maximum_scalar")
minimum = _binary_function("broadcast_minimum", "_minimum_scalar", "_minimum_scalar")
hypot = _binary_function("broadcast_hypot", "_hypot_scalar", "_hypot_scalar")


def divide(x1: Any, x2: Any, out: Any = None) -> ndarray:
    if isinstance(x1, NDArray):
        return x1.__truediv__(x2) if isinstance(x1, ndarray) else from_nd(x1).__truediv__(x2)
    return from_nd(as_array(x2)).__rtruediv__(x1)


true_divide = divide


def _comparison(tensor_op: str, scalar_op: str) -> Any:
    def function(x1: Any, x2: Any, out: Any = None) -> ndarray:
        return compare(as_array(x1), x2, tensor_op, scalar_op)

    function.__name__ = tensor_op.replace("broadcast_", "")
    return function


equal = _comparison("broadcast_equal", "_equal_scalar")
not_equal = _comparison("broadcast_not_equal", "_not_equal_scalar")
greater = _comparison("broadcast_greater", "_greater_scalar")
greater_equal = _comparison("broadcast_greater_equal", "_greater_equal_scalar")
less = _comparison("broadcast_lesser", "_lesser_scalar")
less_equal = _comparison("broadcast_lesser_equal", "_lesser_equal_scalar")


def clip(a: Any, a_min: Any, a_max: Any, out: Any = None) -> ndarray:
    low = -onp.inf if a_min is None else float(a_min)
    high = onp.inf if a_max is None else float(a_max)
    return call("clip", [as_array(a)], a_min=low, a_max=high)


def where(condition: Any, x: Any = None, y: Any = None) -> ndarray:
    """Elements of x where condition, else of y (scalars broadcast)."""
    if x is None or y is None:
        raise HybrixError(
            "np.where(condition) without x and y is not supported (data-dependent shape)"
        )
    condition = as_array(condition)
    like = x if isinstance(x, NDArray) else y if isinstance(y, NDArray) else None
    x, y = as_array(x, like), as_array(y, like)
    x, y = promote(x, y)
    shape = onp.broadcast_shapes(condition.shape, x.shape, y.shape)
    arrays = [broadcast_to(a, shape) for a in (condition, x, y)]
    return call("where", [_cast(arrays[0], onp.dtype(x.dtype)), arrays[1], arrays[2]])


# -- reductions -------------------------------------------------------------------------
def _axes(axis: Any) -> tuple | None:
    if axis is None:
        return None
    return (int(axis),) if isinstance(axis, int | onp.integer) else tuple(int(a) for a in axis)


def _reduce(op_name: str, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> ndarray:
    array = as_array(a)
    if dtype is not None:
        array = _cast(array, _dtype(dtype))
    elif op_name == "mean" and onp.dtype(array.dtype).kind in "iub":
        array = _cast(array, onp.dtype(onp.float32))
    axes = _axes(axis)
    result = call(op_name, [array], axis=axes, keepdims=bool(keepdims))
    if not keepdims and (axes is None or len(axes) == array.ndim):
        return to_scalar_shape(result)
    return result


def sum(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any
) -> ndarray:
    return _reduce("sum", a, axis, keepdims, dtype)


def mean(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any
) -> ndarray:
    return _reduce("mean", a, axis, keepdims, dtype)


def prod(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any
) -> ndarray:
    return _reduce("prod", a, axis, keepdims, dtype)


def max(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> ndarray:
    return _reduce("max", a, axis, keepdims)


def min(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> ndarray:
    return _reduce("min", a, axis, keepdims)


amax, amin = max, min


def _arg(op_name: str, a: Any, axis: Any) -> ndarray:
    array = as_array(a)
    if axis is None:
        array, axis = reshape(array, (-1,)), 0
    result = call(op_name, [array], axis=int(axis))
    result = _cast(result, onp.dtype(onp.int64))
    return to_scalar_shape(result) if result.ndim == 0 or array.ndim == 1 else result


def argmax(a: Any, axis: Any = None, out: Any = None) -> ndarray:
    """Indices of the maxima as int64 (mxnet.numpy; the legacy op gives float32)."""
    return _arg("argmax", a, axis)


def argmin(a: Any, axis: Any = None, out: Any = None) -> ndarray:
    return _arg("argmin", a, axis)


def std(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: int = 0,
    keepdims: bool = False,
) -> ndarray:
    return sqrt(var(a, axis, dtype, None, ddof, keepdims))  # type: ignore[name-defined]  # noqa: F821


def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: int = 0,
    keepdims: bool = False,
) -> ndarray:
    array = from_nd(as_array(a))
    centered = array - mean(array, axis, dtype, keepdims=True)
    count = array.size if axis is None else int(onp.prod([array.shape[i] for i in _axes(axis)]))
    return sum(centered * centered, axis, keepdims=keepdims) / float(count - ddof)


# -- shape manipulation ------------------------------------------------------------------
def reshape(a: Any, newshape: Any, order: str = "C") -> ndarray:
    """NumPy's reshape: one -1 may stand for the rest; 0 is a zero-size dim, not a copy."""
    array = as_array(a)
    shape = (int(newshape),) if isinstance(newshape, int | onp.integer) else tuple(newshape)
    if shape.count(-1) > 1 or any(isinstance(d, int) and d < -1 for d in shape):
        raise HybrixError(f"np.reshape: invalid shape {shape}; only one -1 is allowed")
    if 0 in shape:
        raise HybrixError(f"np.reshape: zero-size shape {shape} is not supported")
    return call("Reshape", [array], shape=shape)


def ravel(a: Any, order: str = "C") -> ndarray:
    return reshape(a, (-1,))


def transpose(a: Any, axes: Any = None) -> ndarray:
    return call("transpose", [as_array(a)], axes=() if axes is None else tuple(axes))


def swapaxes(a: Any, axis1: int, axis2: int) -> ndarray:
    return call("SwapAxis", [as_array(a)], dim1=axis1, dim2=axis2)


def expand_dims(a: Any, axis: int) -> ndarray:
    return call("expand_dims", [as_array(a)], axis=axis)


def squeeze(a: Any, axis: Any = None) -> ndarray:
    array = as_array(a)
    axes = _axes(axis)
    if axes is None:
        axes = tuple(i for i, d in enumerate(array.shape) if d == 1)
    if len(axes) == array.ndim and array.ndim:
        return to_scalar_shape(reshape(array, (1,)))
    return call("squeeze", [array], axis=axes)


def broadcast_to(array: Any, shape: Any) -> ndarray:
    source = as_array(array)
    shape = tuple(shape)
    if source.shape == shape:
        return from_nd(source)
    if source.ndim < len(shape):
        source = reshape(source, (1,) * (len(shape) - source.ndim) + source.shape)
    return call("broadcast_to", [source], shape=shape)


def concatenate(seq: Sequence[Any], axis: int = 0, out: Any = None) -> ndarray:
    arrays = [as_array(a) for a in seq]
    if axis is None:
        arrays, axis = [reshape(a, (-1,)) for a in arrays], 0
    return call("Concat", arrays, dim=axis, num_args=len(arrays))


concat = concatenate


def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None) -> ndarray:
    items = [as_array(a) for a in arrays]
    return call("stack", items, axis=axis, num_args=len(items))


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[ndarray]:
    if not isinstance(indices_or_sections, int):
        raise HybrixError("np.split: only an equal number of sections is supported")
    result = call("split", [as_array(ary)], num_outputs=indices_or_sections, axis=axis)
    return result if isinstance(result, list) else [result]


def tile(A: Any, reps: Any) -> ndarray:
    return call("tile", [as_array(A)], reps=_axes(reps))


def repeat(a: Any, repeats: int, axis: Any = None) -> ndarray:
    return call("repeat", [as_array(a)], repeats=int(repeats), axis=axis)


def flip(m: Any, axis: Any = None) -> ndarray:
    array = as_array(m)
    axes = tuple(range(array.ndim)) if axis is None else _axes(axis)
    return call("reverse", [array], axis=axes)


# -- products and indexing -----------------------------------------------------------------
def dot(a: Any, b: Any, out: Any = None) -> ndarray:
    """NumPy's dot for arrays up to 2-D (and N-D x 1-D/2-D as MXNet's dot)."""
    left, right = promote(as_array(a), as_array(b))
    if left.ndim == 0 or right.ndim == 0:
        return multiply(left, right)
    result = call("dot", [left, right])
    if left.ndim == 1 and right.ndim == 1:
        return to_scalar_shape(result)
    return result


def matmul(a: Any, b: Any, out: Any = None) -> ndarray:
    left, right = promote(as_array(a), as_array(b))
    if left.ndim <= 2 and right.ndim <= 2:
        return dot(left, right)
    if left.ndim == right.ndim == 3:
        return call("batch_dot", [left, right])
    batch = left.shape[:-2]
    flat = reshape(left, (-1, *left.shape[-2:]))
    other = reshape(broadcast_to(right, (*batch, *right.shape[-2:])), (-1, *right.shape[-2:]))
    return reshape(call("batch_dot", [flat, other]), (*batch, left.shape[-2], right.shape[-1]))


def take(a: Any, indices: Any, axis: Any = None, mode: str = "clip", out: Any = None) -> ndarray:
    array = as_array(a)
    if axis is None:
        array, axis = reshape(array, (-1,)), 0
    index = as_array(indices)
    return call("take", [array, index], axis=int(axis), mode=mode)


def outer(a: Any, b: Any) -> ndarray:
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def shape(a: NDArray) -> tuple:
    return a.shape


def size(a: NDArray) -> int:
    return a.size


def ndim(a: NDArray) -> int:
    return a.ndim


def may_share_memory(a: Any, b: Any) -> bool:
    return a is b


def _dtype_name(value: Any) -> str:
    return DType.from_any(value).name
