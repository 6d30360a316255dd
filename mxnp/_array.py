"""hybrix.np.ndarray: MXNet's NumPy-compatible array, an NDArray with NumPy's rules.

It is a subclass of hybrix's NDArray, so autograd, tracing and Gluon treat it as any
array; np functions dispatch through the same per-(op, attrs) jitted entries as nd
(see `call`). What differs from NDArray follows mxnet.numpy 1.9.1: comparisons give
bool, `/` of integers gives float32, argmax gives int64, full reductions and full
integer indexing give 0-d arrays, `reshape` takes NumPy's -1 only, and there are
`.item()`, `.as_in_ctx()`, `.as_nd_ndarray()`.

NOTE: a 0-d result is made eagerly; inside a hybridized (traced) graph the IR's
reductions keep MXNet's legacy shape (1,), which broadcasts the same way.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from hybrix import autograd
from hybrix.ir import DType, HybrixError, Value
from hybrix.ndarray import _dispatch
from hybrix.ndarray._dispatch import AUTOGRAD, LAST_RESULT, call_entry, entry_for, op_info
from hybrix.ndarray.ndarray import NDArray

__all__ = ["call", "from_nd", "ndarray", "to_np"]

_ENTRIES: dict[Any, Any] = {}
_RNG: dict[Any, bool] = {}


def call(op_name: str, arrays: list[NDArray], **attrs: Any) -> Any:
    """Run a registered op on arrays; np.ndarray results (a list for several outputs)."""
    key = (op_name, *attrs.items()) if attrs else op_name
    entry = _ENTRIES.get(key)
    if entry is None:
        entry = _ENTRIES[key] = entry_for(op_info(op_name), attrs)
        _RNG[key] = entry.info.op.rng
    if _dispatch.TRACER is None and not AUTOGRAD.recording and not _RNG[key]:
        if entry.single and len(arrays) == 1:
            data = arrays[0]._data
            if (data.aval,) not in entry.seen:
                entry.check((data,))
            result = LAST_RESULT[0] = entry.fn(data)
            return ndarray(result)
        data = [a._data for a in arrays]
        if tuple(d.aval for d in data) not in entry.seen:
            entry.check(data)
        result = entry.fn(*data)
        if entry.single:
            LAST_RESULT[0] = result
            return ndarray(result)
        LAST_RESULT[0] = result[0]
        results = result[: entry.visible]
        return ndarray(results[0]) if len(results) == 1 else [ndarray(r) for r in results]
    return to_np(call_entry(entry, arrays))


def from_nd(array: NDArray) -> ndarray:
    """The same array (data and autograd history) as an np.ndarray."""
    if type(array) is ndarray:
        return array
    result = ndarray(array._data, array._ctx)
    result._ag = array._ag
    return result


def to_np(value: Any) -> Any:
    """np.ndarray for NDArrays, also inside lists and tuples."""
    if isinstance(value, NDArray):
        return from_nd(value)
    if isinstance(value, list | tuple):
        return type(value)(to_np(v) for v in value)
    return value


def as_array(value: Any, like: NDArray | None = None) -> NDArray:
    """An array for an operand: arrays pass, numpy/jax arrays keep their dtype, Python
    numbers and lists become float32 (int for ints only with an int `like`)."""
    if isinstance(value, NDArray):
        return value
    import jax.numpy as jnp

    if isinstance(value, np.ndarray | np.generic) or type(value).__module__.startswith("jax"):
        return ndarray(jnp.asarray(value))
    array = np.asarray(value)
    if array.dtype.kind == "f" or (array.dtype.kind in "iu" and like is None):
        array = array.astype(np.float32)
    elif array.dtype.kind in "iu" and like is not None:
        array = array.astype(
            np.dtype(like.dtype) if np.dtype(like.dtype).kind in "iu" else np.float32
        )
    return ndarray(jnp.asarray(array))


def to_scalar_shape(array: ndarray) -> ndarray:
    """(1,) -> () eagerly (recorded for autograd); traced arrays keep (1,)."""
    data = array._data
    if type(data) is Value or data.shape == ():
        return array
    result = ndarray(data.reshape(()))
    if AUTOGRAD.recording and array._ag is not None:
        autograd.record_op(_squeeze_all, [array], [result])
    return result


def _squeeze_all(data: Any) -> tuple:
    return (data.reshape(()),)


def promote(lhs: NDArray, rhs: NDArray) -> tuple[NDArray, NDArray]:
    """Cast two arrays to NumPy's common dtype (MXNet np's mixed-precision rule)."""
    left, right = np.dtype(lhs.dtype), np.dtype(rhs.dtype)
    if left == right:
        return lhs, rhs
    common = np.result_type(left, right)
    if common == np.float64 and np.float64 not in (left, right):
        common = np.dtype(np.float32)  # NOTE: MXNet promotes int/float32 mixes to float32
    return _cast(lhs, common), _cast(rhs, common)


def _cast(array: NDArray, dtype: np.dtype) -> NDArray:
    if np.dtype(array.dtype) == dtype:
        return array
    return call("Cast", [array], dtype=DType.from_any(dtype).name)


def binary(lhs: Any, rhs: Any, tensor_op: str, scalar_op: str | None, reverse: bool = False) -> Any:
    """lhs (op) rhs with NumPy broadcasting and promotion; Python scalars use *_scalar."""
    if type(rhs) is ndarray and type(lhs) is ndarray and not reverse:
        left, right = lhs._data, rhs._data
        if (
            _dispatch.TRACER is None
            and not AUTOGRAD.recording
            and type(left) is not Value
            and left.dtype == right.dtype
        ):
            entry = _ENTRIES.get(tensor_op)
            if entry is not None:
                if (left.aval, right.aval) not in entry.seen:
                    entry.check((left, right))
                result = LAST_RESULT[0] = entry.fn(left, right)
                return ndarray(result)
    if isinstance(rhs, numbers.Number | np.number) and not isinstance(rhs, bool) and scalar_op:
        return call(scalar_op, [lhs], scalar=float(rhs))
    if isinstance(rhs, list | tuple | np.ndarray | np.generic | numbers.Number):
        rhs = as_array(rhs, lhs)
    if not isinstance(rhs, NDArray):
        return NotImplemented
    left, right = (rhs, lhs) if reverse else (lhs, rhs)
    left, right = promote(left, right)
    return call(tensor_op, [left, right])


def compare(lhs: Any, rhs: Any, tensor_op: str, scalar_op: str) -> Any:
    result = binary(lhs, rhs, tensor_op, scalar_op)
    if result is NotImplemented:
        return result
    return _cast(result, np.dtype(np.bool_))


class ndarray(NDArray):  # noqa: N801 (MXNet's name)
    """mxnet.numpy.ndarray: see the module docstring for how it differs from NDArray."""

    __slots__ = ()

    # -- MXNet np extras ---------------------------------------------------------------
    def as_in_ctx(self, ctx: Any) -> ndarray:
        return from_nd(self.as_in_context(ctx))

    def as_nd_ndarray(self) -> NDArray:
        result = NDArray(self._data, self._ctx)
        result._ag = self._ag
        return result

    def as_np_ndarray(self) -> ndarray:
        return self

    def item(self, *args: Any) -> Any:
        return self.asnumpy().item(*args)

    def asscalar(self) -> Any:
        return self.item()

    def __repr__(self) -> str:
        if type(self._data) is Value:
            return f"<ndarray traced %{self._data.name}: {self._data.type}>"
        text = repr(self.asnumpy()).replace(", dtype=float32)", ")")  # MXNet's repr
        context = self.context
        return text if context.device_type == "cpu" else f"{text[:-1]}, ctx={context})"

    def __str__(self) -> str:
        return str(self.asnumpy()) if type(self._data) is not Value else repr(self)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if np.dtype(self.dtype).kind not in "iu":
            raise TypeError("only integer arrays can be used as an index")
        return int(self.item())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous")
        return bool(self.item())

    # -- autograd ----------------------------------------------------------------------
    def attach_grad(self, grad_req: str = "write", stype: str | None = None) -> None:
        super().attach_grad(grad_req, stype)
        variable = self._ag
        variable.grad = from_nd(variable.grad)

    def detach(self) -> ndarray:
        return ndarray(self._data, self._ctx)

    # -- conversion and shape ----------------------------------------------------------
    def astype(self, dtype: Any, copy: bool = True) -> ndarray:
        return from_nd(super().astype(dtype, copy))

    def copy(self) -> ndarray:
        return from_nd(super().copy())

    def copyto(self, other: Any) -> Any:
        return to_np(super().copyto(other))

    def reshape(self, *shape: Any, **kwargs: Any) -> ndarray:
        from hybrix.mxnp._functions import reshape

        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = tuple(shape[0])
        return reshape(self, shape or kwargs.get("newshape", kwargs.get("shape")))

    @property
    def T(self) -> ndarray:
        return self.transpose()

    def transpose(self, *axes: Any) -> ndarray:
        if len(axes) == 1 and isinstance(axes[0], list | tuple | type(None)):
            axes = axes[0] or ()
        return call("transpose", [self], axes=tuple(axes))

    def flatten(self, order: str = "C") -> ndarray:
        return self.reshape(-1)

    def ravel(self, order: str = "C") -> ndarray:
        return self.reshape(-1)

    def __getitem__(self, key: Any) -> ndarray:
        result = from_nd(super().__getitem__(_index_key(key)))
        if _full_integer_index(key, self.ndim):
            return to_scalar_shape(result)
        return result

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(_index_key(key), value)

    # -- arithmetic --------------------------------------------------------------------
    def __add__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_add", "_plus_scalar")

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_sub", "_minus_scalar")

    def __rsub__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_sub", "_rminus_scalar", reverse=True)

    def __mul__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_mul", "_mul_scalar")

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        return binary(_float_if_int(self, other), other, "broadcast_div", "_div_scalar")

    def __rtruediv__(self, other: Any) -> Any:
        return binary(_float_if_int(self, other), other, "broadcast_div", "_rdiv_scalar", True)

    def __mod__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_mod", "_mod_scalar")

    def __rmod__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_mod", "_rmod_scalar", reverse=True)

    def __pow__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_power", "_power_scalar")

    def __rpow__(self, other: Any) -> Any:
        return binary(self, other, "broadcast_power", "_rpower_scalar", reverse=True)

    def __matmul__(self, other: Any) -> Any:
        from hybrix.mxnp._functions import matmul

        return matmul(self, other)

    def __neg__(self) -> ndarray:
        return call("negative", [self])

    def __abs__(self) -> ndarray:
        return call("abs", [self])

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return compare(self, other, "broadcast_equal", "_equal_scalar")

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return compare(self, other, "broadcast_not_equal", "_not_equal_scalar")

    def __gt__(self, other: Any) -> Any:
        return compare(self, other, "broadcast_greater", "_greater_scalar")

    def __ge__(self, other: Any) -> Any:
        return compare(self, other, "broadcast_greater_equal", "_greater_equal_scalar")

    def __lt__(self, other: Any) -> Any:
        return compare(self, other, "broadcast_lesser", "_lesser_scalar")

    def __le__(self, other: Any) -> Any:
        return compare(self, other, "broadcast_lesser_equal", "_lesser_equal_scalar")

    __hash__ = NDArray.__hash__


def _float_if_int(array: ndarray, other: Any) -> NDArray:
    """MXNet np's true_divide of integers gives float32."""
    other_int = isinstance(other, int) or (
        isinstance(other, NDArray) and np.dtype(other.dtype).kind in "iub"
    )
    if np.dtype(array.dtype).kind in "iub" and other_int:
        return _cast(array, np.dtype(np.float32))
    return array


def _index_key(key: Any) -> Any:
    """Float index arrays (np.array of Python ints is float32 in MXNet) become int64."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, NDArray) and np.dtype(key.dtype).kind == "f":
        return key.astype(np.int64)
    if isinstance(key, NDArray) and np.dtype(key.dtype).kind == "b":
        raise HybrixError("boolean mask indexing is not supported; use np.where instead")
    return key


def _full_integer_index(key: Any, rank: int) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return len(items) == rank and all(
        isinstance(k, int | np.integer) and not isinstance(k, bool) for k in items
    )


_REDUCTIONS = ("sum", "mean", "prod", "max", "min", "argmax", "argmin")
_UNARY_METHODS = [
    "exp",
    "log",
    "sqrt",
    "square",
    "abs",
    "sign",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "relu",
    "floor",
    "ceil",
    "round",
    "log1p",
    "expm1",
]


def _make_reduction(name: str) -> Any:
    def method(self: ndarray, axis: Any = None, *args: Any, **kwargs: Any) -> Any:
        from hybrix.mxnp import _functions

        return getattr(_functions, name)(self, axis, *args, **kwargs)

    method.__name__ = name
    return method


def _make_unary(name: str) -> Any:
    def method(self: ndarray) -> ndarray:
        return call(name, [self])

    method.__name__ = name
    return method


def _make_fluent(name: str) -> Any:
    base = getattr(NDArray, name)

    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        return to_np(base(self, *args, **kwargs))

    method.__name__ = name
    return method


for _name in _REDUCTIONS:
    setattr(ndarray, _name, _make_reduction(_name))
for _name in _UNARY_METHODS:
    setattr(ndarray, _name, _make_unary(_name))
for _name in (
    "squeeze",
    "expand_dims",
    "clip",
    "repeat",
    "tile",
    "take",
    "swapaxes",
    "flip",
    "broadcast_to",
    "split",
    "topk",
    "sort",
    "argsort",
    "one_hot",
    "pick",
    "as_in_context",
    "copyto",
):
    if _name not in ndarray.__dict__:
        setattr(ndarray, _name, _make_fluent(_name))
