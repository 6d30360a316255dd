"""NDArray: MXNet's imperative array, wrapping a jax.Array (or an ir.Value while tracing).

JAX arrays are immutable, so MXNet's in-place writes (`x += y`, `x[:] = v`, `out=`,
BatchNorm's moving statistics) rebind the NDArray to a new jax.Array: every Python
reference to that NDArray sees the change, as in MXNet.

NOTE: MXNet's basic slices (`x[1:3]`, `x[0]`) are views sharing memory with `x`; here a
slice is a new array, so writing into a slice does not change `x`. Write through the
parent instead: `x[1:3] = v`.

Autograd (hybrix.autograd): `_ag` is None, the array's Variable (after `attach_grad`), or
the (TapeNode, output index) that produced it under `autograd.record()`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from hybrix import autograd
from hybrix.ir import DType, HybrixError, TypeMismatchError, Value
from hybrix.ndarray import _dispatch
from hybrix.ndarray._dispatch import AUTOGRAD, LAST_RESULT, call_entry, entry_for, invoke, op_info

__all__ = ["NDArray", "as_ndarray"]

_NO_ATTRS: dict[str, Any] = {}
_SCALAR_ENTRIES: dict[tuple, Any] = {}


class NDArray:
    """An n-dimensional array on a Context, with MXNet's methods and operators."""

    __slots__ = ("__weakref__", "_ag", "_ctx", "_data")
    # numpy defers `np_scalar * nd` to NDArray's reflected operators.
    __array_priority__ = 1000.0
    __array_ufunc__ = None

    def __init__(self, data: Any, ctx: Any = None) -> None:
        self._data = data
        self._ctx = ctx
        self._ag: Any = None

    # -- properties -----------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    @property
    def dtype(self) -> type:
        """The numpy scalar type (np.float32), as MXNet returns it."""
        data = self._data
        if type(data) is Value:
            return data.dtype.numpy.type
        return data.dtype.type

    @property
    def size(self) -> Any:
        size = 1
        for dim in self.shape:
            size = size * dim if isinstance(dim, int) else f"{size}*{dim}"
        return size

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def context(self) -> Any:
        """The context of the data's device.

        Derived from the data itself, so code that swaps `_data` for an array on another
        device (a kvstore pull, a parameter reset) never leaves a stale context behind; the
        Context given at creation is kept while it still names that device (cpu_pinned).
        """
        data = self._data
        if type(data) is Value:
            if self._ctx is not None:
                return self._ctx
            from hybrix.context import current_context

            return current_context()
        (device,) = data.devices()
        ctx = self._ctx
        if ctx is None or ctx.device != device:
            from hybrix.context import context_of_device

            ctx = self._ctx = context_of_device(device)
        return ctx

    ctx = context

    @property
    def stype(self) -> str:
        return "default"

    @property
    def writable(self) -> bool:
        return True

    @property
    def T(self) -> NDArray:
        """The transpose; arrays of rank < 2 are returned as they are (as in MXNet)."""
        if self.ndim < 2:
            return self
        return _call("transpose", self)

    @property
    def is_traced(self) -> bool:
        """True while this array stands for a value of a graph being traced."""
        return type(self._data) is Value

    # -- conversion -----------------------------------------------------------------
    def _concrete(self, what: str) -> Any:
        if type(self._data) is Value:
            raise HybrixError(
                f"NDArray.{what}() reads values, which a traced array ({self._data.type}) "
                "does not have; return the array from the traced function instead"
            )
        return self._data

    def asnumpy(self) -> np.ndarray:
        return np.array(self._concrete("asnumpy"))

    def asscalar(self) -> Any:
        if self.size != 1:
            raise ValueError("The current array is not a scalar")
        return self.asnumpy().reshape(-1)[0]

    def tolist(self) -> list:
        return self.asnumpy().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = np.asarray(self._concrete("__array__"))
        return array if dtype is None else array.astype(dtype)

    def wait_to_read(self) -> None:
        self._concrete("wait_to_read").block_until_ready()

    def astype(self, dtype: Any, copy: bool = True) -> NDArray:
        """A copy with elements of `dtype`; `copy=False` returns self when it already is."""
        target = DType.from_any(dtype).numpy
        if not copy and np.dtype(self.dtype) == target:
            return self
        if type(self._data) is Value:
            return _call("Cast", self, dtype=DType.from_any(dtype).name)
        result = NDArray(self._data.astype(target), self._ctx)
        _record_unary(("astype", target.name), self, result)
        return result

    def copy(self) -> NDArray:
        # NOTE: a real copy, not a shared buffer: optimizers donate parameter buffers, which
        # would delete a snapshot that shared them.
        data = self._data
        if type(data) is not Value:
            import jax.numpy as jnp

            data = jnp.array(data, copy=True)
        result = NDArray(data, self._ctx)
        _record_unary(("copy",), self, result)
        return result

    def copyto(self, other: Any) -> NDArray:
        """Copy into `other` (an NDArray, converting dtype) or onto a Context."""
        from hybrix.context import Context

        if isinstance(other, Context):
            if type(self._data) is Value:
                return self.copy()
            result = NDArray(_device_put(self._data, other), other)
            _record_unary(("copy",), self, result)
            return result
        if not isinstance(other, NDArray):
            raise HybrixError(f"copyto expects an NDArray or a Context, got {type(other).__name__}")
        if other is self:
            return other
        if other.shape != self.shape:
            raise HybrixError(f"copyto: shape {self.shape} does not match target {other.shape}")
        if AUTOGRAD.recording:
            autograd.check_writable(other, "NDArray.copyto")
        source = self if other.dtype == self.dtype else self.astype(other.dtype)
        data = source._data
        if type(data) is not Value and type(other._data) is not Value:
            data = _device_put(data, other.context)
        _dispatch._assign(other, data)
        _record_unary(("copy",), source, other)
        return other

    def as_in_context(self, context: Any) -> NDArray:
        if type(self._data) is Value or self.context == context:
            return self
        return self.copyto(context)

    def reshape(self, *shape: Any, **kwargs: Any) -> NDArray:
        """Reshape with MXNet's codes (0, -1, -2, -3, -4) via the Reshape op."""
        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = tuple(shape[0])
        elif not shape:
            shape = kwargs.get("shape")
            if shape is None:
                raise HybrixError("NDArray.reshape needs a shape")
        unknown = sorted(set(kwargs) - {"shape", "reverse"})
        if unknown:
            raise HybrixError(
                f"NDArray.reshape got unknown keywords {unknown}; expected shape, reverse"
            )
        return _call("Reshape", self, shape=tuple(shape), reverse=kwargs.get("reverse", False))

    def broadcast_to(self, shape: Any) -> NDArray:
        """Broadcast to `shape`, first adding leading axes of size 1 as MXNet does."""
        shape = tuple(shape)
        current = self.shape
        if len(shape) < len(current):
            raise HybrixError(f"cannot broadcast an array of shape {current} to {shape}")
        padded = (1,) * (len(shape) - len(current)) + current
        source = self if padded == current else self.reshape(padded)
        return _call("broadcast_to", source, shape=shape)

    # -- autograd (MXNet: NDArray.attach_grad, grad, backward, detach) -------------------
    def attach_grad(self, grad_req: str = "write", stype: str | None = None) -> None:
        """Attach a zero gradient buffer (`.grad`) and mark this array as a variable;
        grad_req 'write' overwrites it on backward, 'add' accumulates, 'null' skips it."""
        if stype not in (None, "default"):
            raise HybrixError(
                f"attach_grad: stype {stype!r} is not supported; hybrix has dense arrays only"
            )
        if type(self._data) is Value:
            raise HybrixError("attach_grad: a traced array has no gradient buffer")
        import jax.numpy as jnp

        gradient = NDArray(jnp.zeros(self._data.shape, self._data.dtype), self._ctx)
        autograd.mark_variables([self], [gradient], grad_req)

    @property
    def grad(self) -> NDArray | None:
        """The gradient buffer from `attach_grad` (None without one)."""
        ref = self._ag
        return ref.grad if type(ref) is autograd.Variable else None

    def backward(
        self, out_grad: Any = None, retain_graph: bool = False, train_mode: bool = True
    ) -> None:
        """Gradients of this array (head gradient `out_grad`, default ones) into the
        `.grad` of every variable it was computed from under `autograd.record()`."""
        head_grads = None if out_grad is None else [out_grad]
        autograd.backward([self], head_grads, retain_graph, train_mode)

    def detach(self) -> NDArray:
        """The same values, cut from the recorded graph (no gradient flows through)."""
        return NDArray(self._data, self._ctx)

    # -- Python protocol --------------------------------------------------------------
    def __repr__(self) -> str:
        if type(self._data) is Value:
            return f"<NDArray traced %{self._data.name}: {self._data.type}>"
        shape_info = "x".join(str(d) for d in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape_info} @{self.context}>"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d NDArray")
        return self.shape[0]

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        size = self.size
        if size == 0:
            return False
        if size == 1:
            return bool(self.asscalar())
        raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    def __hash__(self) -> int:
        return id(self) // 16

    def __getitem__(self, key: Any) -> NDArray:
        from hybrix.ndarray._indexing import getitem

        result = getitem(self, key)
        if AUTOGRAD.recording and self._ag is not None and type(self._data) is not Value:
            _record_indexing(self, key, result, None)
        return result

    def __setitem__(self, key: Any, value: Any) -> None:
        from hybrix.ndarray._indexing import setitem

        if not AUTOGRAD.recording or type(self._data) is Value:
            setitem(self, key, value)
            return
        autograd.check_writable(self, "NDArray.__setitem__")
        old = NDArray(self._data, self._ctx)
        setitem(self, key, value)
        if isinstance(value, NDArray) and value._ag is not None:
            _record_indexing(old, key, self, value)

    def __getstate__(self) -> dict:
        return {"array": self.asnumpy()}

    def __setstate__(self, state: dict) -> None:
        import jax.numpy as jnp

        self._data = jnp.asarray(state["array"])
        self._ctx = None
        self._ag = None

    # -- arithmetic (MXNet's op choices: ndarray.py _ufunc_helper) --------------------
    def __add__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_add", "_plus_scalar")

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_sub", "_minus_scalar")

    def __rsub__(self, other: Any) -> Any:
        return _binary(self, other, None, "_rminus_scalar")

    def __mul__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_mul", "_mul_scalar")

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_div", "_div_scalar")

    def __rtruediv__(self, other: Any) -> Any:
        return _binary(self, other, None, "_rdiv_scalar")

    def __mod__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_mod", "_mod_scalar")

    def __rmod__(self, other: Any) -> Any:
        return _binary(self, other, None, "_rmod_scalar")

    def __pow__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_power", "_power_scalar")

    def __rpow__(self, other: Any) -> Any:
        return _binary(self, other, None, "_rpower_scalar")

    def __neg__(self) -> NDArray:
        return _scalar_op("_mul_scalar", self, -1.0)

    def __abs__(self) -> NDArray:
        return _call("abs", self)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return _binary(self, other, "broadcast_equal", "_equal_scalar")

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return _binary(self, other, "broadcast_not_equal", "_not_equal_scalar")

    def __gt__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_greater", "_greater_scalar")

    def __ge__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_greater_equal", "_greater_equal_scalar")

    def __lt__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_lesser", "_lesser_scalar")

    def __le__(self, other: Any) -> Any:
        return _binary(self, other, "broadcast_lesser_equal", "_lesser_equal_scalar")

    def __iadd__(self, other: Any) -> NDArray:
        return _inplace(self, self.__add__(other), "+=")

    def __isub__(self, other: Any) -> NDArray:
        return _inplace(self, self.__sub__(other), "-=")

    def __imul__(self, other: Any) -> NDArray:
        return _inplace(self, self.__mul__(other), "*=")

    def __itruediv__(self, other: Any) -> NDArray:
        return _inplace(self, self.__truediv__(other), "/=")

    def __imod__(self, other: Any) -> NDArray:
        return _inplace(self, self.__mod__(other), "%=")

    def __ipow__(self, other: Any) -> NDArray:
        return _inplace(self, self.__pow__(other), "**=")


def _binary(lhs: NDArray, rhs: Any, tensor_op: str | None, scalar_op: str) -> Any:
    """NDArray (op) NDArray -> broadcast op; NDArray (op) scalar -> the scalar op."""
    if type(rhs) is NDArray:
        if tensor_op is None:  # reflected call with an NDArray never happens
            return NotImplemented
        entry = _SCALAR_ENTRIES.get(tensor_op)
        if entry is None:
            entry = _SCALAR_ENTRIES[tensor_op] = entry_for(op_info(tensor_op), _NO_ATTRS)
        if _dispatch.TRACER is None and not AUTOGRAD.recording:
            left, right = lhs._data, rhs._data
            if (left.aval, right.aval) not in entry.seen:
                entry.check((left, right))
            result = LAST_RESULT[0] = entry.fn(left, right)
            return NDArray(result)
        return call_entry(entry, [lhs, rhs])
    if isinstance(rhs, numbers.Number | np.generic) and not isinstance(rhs, np.ndarray):
        return _scalar_op(scalar_op, lhs, rhs)
    return NotImplemented


def _scalar_op(name: str, array: NDArray, scalar: Any) -> NDArray:
    key = (name, scalar)
    entry = _SCALAR_ENTRIES.get(key)
    if entry is None:
        entry = _SCALAR_ENTRIES[key] = entry_for(op_info(name), {"scalar": float(scalar)})
    if _dispatch.TRACER is None and not AUTOGRAD.recording:
        data = array._data
        if (data.aval,) not in entry.seen:
            entry.check((data,))
        result = LAST_RESULT[0] = entry.fn(data)
        return NDArray(result)
    return call_entry(entry, [array])


def _inplace(target: NDArray, result: Any, symbol: str) -> NDArray:
    if result is NotImplemented:
        raise TypeError(f"unsupported operand for NDArray {symbol}")
    if AUTOGRAD.recording:
        autograd.check_writable(target, f"NDArray {symbol}")
    _dispatch._write_out(target, [result._data], symbol)
    if AUTOGRAD.recording and result._ag is not None and target.dtype == result.dtype:
        target._ag = result._ag  # the target now is that recorded result
    return target


_RECORD_FNS: dict[tuple, Any] = {}


def _record_unary(key: tuple, source: NDArray, result: NDArray) -> None:
    """Record `result` as a copy (or cast) of `source` while recording."""
    if not AUTOGRAD.recording or source._ag is None or type(source._data) is Value:
        return
    fn = _RECORD_FNS.get(key)
    if fn is None:
        dtype = np.dtype(key[1]) if key[0] == "astype" else None
        fn = _RECORD_FNS[key] = (
            (lambda data: (data,)) if dtype is None else (lambda data: (data.astype(dtype),))
        )
    autograd.add_node(fn, fn, [source], [source._data], [result])


class _IndexArray:
    """Stands for an index array in an indexing key's cached template."""


def _record_indexing(source: NDArray, key: Any, result: NDArray, value: Any) -> None:
    """Record `result = source[key]` (value None) or `result = source` with `[key] = value`.

    Index arrays become extra inputs without gradient, so one jitted VJP serves every
    key of the same structure.
    """
    from hybrix.ndarray._indexing import _expand_key, _index_array, _is_advanced

    template: list[Any] = []
    index_arrays = []
    for item in _expand_key(key, source.ndim):
        if _is_advanced(item):
            template.append(_IndexArray)
            index_arrays.append(_index_array(item))
        elif isinstance(item, slice):
            template.append((item.start, item.stop, item.step))
        else:
            template.append(item)
    cache_key = ("setitem" if value is not None else "getitem", tuple(template))
    fn = _RECORD_FNS.get(cache_key)
    if fn is None:
        fn = _RECORD_FNS[cache_key] = _indexing_fn(cache_key[1], value is not None)
    inputs = [source] if value is None else [source, value]
    primals = [array._data for array in inputs] + index_arrays
    autograd.add_node(fn, fn, inputs, primals, [result])


def _indexing_fn(template: tuple, assign: bool) -> Any:
    def jax_key(index_arrays: Any) -> tuple:
        arrays = iter(index_arrays)
        return tuple(
            next(arrays) if item is _IndexArray else slice(*item) if type(item) is tuple else item
            for item in template
        )

    def getitem(data: Any, *index_arrays: Any) -> tuple:
        result = data[jax_key(index_arrays)]
        return (result.reshape((1,)) if result.ndim == 0 else result,)

    def setitem(data: Any, value: Any, *index_arrays: Any) -> tuple:
        key = jax_key(index_arrays)
        target_shape = data[key].shape
        value = value.astype(data.dtype)
        if value.shape != target_shape and value.size == int(np.prod(target_shape)):
            value = value.reshape(target_shape)
        return (data.at[key].set(value),)

    return setitem if assign else getitem


def _call(op_name: str, *args: Any, **kwargs: Any) -> Any:
    return invoke(op_info(op_name), args, kwargs)


def _device_put(data: Any, context: Any) -> Any:
    import jax

    return jax.device_put(data, context.device)


def as_ndarray(value: Any, where: str = "") -> NDArray:
    """An NDArray for an op input: NDArrays pass; numpy and jax arrays keep their dtype."""
    if type(value) is NDArray or isinstance(value, NDArray):
        return value
    if (
        isinstance(value, np.ndarray | np.generic)
        or hasattr(value, "__jax_array__")
        or (type(value).__module__.startswith("jax"))
    ):
        import jax.numpy as jnp

        return NDArray(jnp.asarray(value))
    raise TypeMismatchError(
        f"nd.{where}: expected an NDArray input, got {type(value).__name__} {value!r:.40}"
    )


# Fluent methods: x.<method>(*args, **kw) == nd.<op>(x, *args, **kw), as in MXNet.
_FLUENT_NAMES = """
zeros_like ones_like broadcast_axes broadcast_like repeat pad swapaxes split slice
slice_axis slice_like take one_hot pick sort topk argsort argmax argmax_channel argmin clip
abs sign flatten expand_dims tile transpose flip diag sum nansum prod nanprod mean max min
norm round rint fix floor ceil trunc sin cos tan arcsin arccos arctan degrees radians sinh
cosh tanh arcsinh arccosh arctanh exp expm1 log log10 log2 log1p sqrt rsqrt cbrt rcbrt
square reciprocal relu sigmoid softmax log_softmax softmin squeeze reshape_like shape_array
size_array depth_to_space space_to_depth log_sigmoid mish
"""


def _make_fluent(op_name: str) -> Any:
    def method(self: NDArray, *args: Any, **kwargs: Any) -> Any:
        return invoke(op_info(op_name), (self, *args), kwargs)

    method.__name__ = op_name
    method.__doc__ = f"Fluent form of nd.{op_name}(self, ...)."
    return method


for _method in _FLUENT_NAMES.split():
    setattr(NDArray, _method, _make_fluent(_method))

_dispatch.NDArray = NDArray
_dispatch.as_ndarray = as_ndarray
