"""Array creation (array, zeros, ones, full, empty, arange, eye, ...), save/load, waitall.

dtype rules follow MXNet 1.9 (python/mxnet/ndarray/ndarray.py): every creation function
defaults to float32, and `array()` gives float32 for lists *and numpy arrays* unless a
dtype is given; only an NDArray source keeps its dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir import DType, HybrixError
from hybrix.ndarray import _dispatch
from hybrix.ndarray.ndarray import NDArray

__all__ = [
    "arange",
    "array",
    "concatenate",
    "empty",
    "eye",
    "full",
    "load",
    "ones",
    "save",
    "waitall",
    "zeros",
]


def _context(ctx: Any) -> Any:
    from hybrix.context import Context, current_context

    if ctx is None:
        return current_context()
    return ctx if isinstance(ctx, Context) else Context(ctx)


def _dtype(dtype: Any) -> np.dtype:
    return DType.from_any("float32" if dtype is None else dtype).numpy


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(d) for d in shape)


def _place(host: np.ndarray, ctx: Any) -> NDArray:
    import jax

    ctx = _context(ctx)
    return NDArray(jax.device_put(host, ctx.device), ctx)


def array(source_array: Any, ctx: Any = None, dtype: Any = None) -> NDArray:
    """An NDArray from an NDArray, numpy array, or nested sequence (float32 by default)."""
    if isinstance(source_array, NDArray):
        dtype = source_array.dtype if dtype is None else dtype
        return source_array.astype(dtype).copyto(_context(ctx))
    try:
        host = np.asarray(source_array, dtype=_dtype(dtype))
    except (TypeError, ValueError) as e:
        raise HybrixError(
            f"nd.array: source_array must be array-like, got {source_array!r:.60}"
        ) from e
    return _place(host, ctx)


def empty(shape: Any, ctx: Any = None, dtype: Any = None) -> NDArray:
    """An array of the given shape (zero-filled: XLA has no uninitialised buffers)."""
    return zeros(shape, ctx, dtype)


def zeros(shape: Any, ctx: Any = None, dtype: Any = None, **kwargs: Any) -> NDArray:
    return full(shape, 0, ctx, dtype, kwargs.get("out"))


def ones(shape: Any, ctx: Any = None, dtype: Any = None, **kwargs: Any) -> NDArray:
    return full(shape, 1, ctx, dtype, kwargs.get("out"))


def full(shape: Any, val: Any, ctx: Any = None, dtype: Any = None, out: Any = None) -> NDArray:
    """An array filled with `val`; with out= the value is written into `out`."""
    if out is not None:
        out[:] = val
        return out
    import jax
    import jax.numpy as jnp

    ctx = _context(ctx)
    with jax.default_device(ctx.device):
        data = jnp.full(_shape(shape), val, dtype=_dtype(dtype))
    # NOTE: device_put commits the array, so later ops run on ctx rather than the default
    return NDArray(jax.device_put(data, ctx.device), ctx)


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1.0,
    repeat: int = 1,
    infer_range: Any = None,
    ctx: Any = None,
    dtype: Any = None,
) -> NDArray:
    """Evenly spaced values in [start, stop), each repeated `repeat` times (float32)."""
    if stop is None:
        start, stop = 0, start
    values = np.arange(start, stop, step, dtype=np.float64)
    if repeat != 1:
        values = np.repeat(values, repeat)
    return _place(values.astype(_dtype(dtype)), ctx)


def eye(
    N: int, M: int = 0, k: int = 0, ctx: Any = None, dtype: Any = None, **kwargs: Any
) -> NDArray:
    """Ones on the k-th diagonal of an N x M (M=0: N x N) matrix."""
    return _place(np.eye(N, M or N, k, dtype=_dtype(dtype)), ctx)


def zeros_like(data: NDArray, **kwargs: Any) -> NDArray:
    """Frontend fallback used when no zeros_like op is registered."""
    return full(data.shape, 0, data.context, data.dtype)


def ones_like(data: NDArray, **kwargs: Any) -> NDArray:
    """Frontend fallback used when no ones_like op is registered."""
    return full(data.shape, 1, data.context, data.dtype)


def concatenate(arrays: list, axis: int = 0, always_copy: bool = True) -> NDArray:
    """DEPRECATED in MXNet; use concat. Joins `arrays` along `axis`."""
    from hybrix.ndarray._dispatch import invoke, op_info

    if not always_copy and len(arrays) == 1:
        return arrays[0]
    return invoke(op_info("Concat"), list(arrays), {"dim": axis})


def waitall() -> None:
    """Block until dispatched work is done (the last eager result, and effects)."""
    import jax

    last = _dispatch.LAST_RESULT[0]
    if last is not None:
        last.block_until_ready()
    jax.effects_barrier()


def save(fname: str, data: Any) -> None:
    """Save an NDArray, a list or a dict of them in MXNet's .params format."""
    from hybrix.importers.mxnet import params

    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        payload: Any = {str(k): _to_numpy(v, k) for k, v in data.items()}
    elif isinstance(data, list | tuple):
        payload = [_to_numpy(v, i) for i, v in enumerate(data)]
    else:
        raise HybrixError(f"nd.save: expected an NDArray, list or dict, got {type(data).__name__}")
    params.save(fname, payload)


def load(fname: str) -> Any:
    """Load a .params file: a dict of NDArrays (named) or a list (unnamed)."""
    from hybrix.importers.mxnet import params

    loaded = params.load(fname)
    if isinstance(loaded, dict):
        return {k: _from_numpy(v) for k, v in loaded.items()}
    return [_from_numpy(v) for v in loaded]


def _to_numpy(value: Any, key: Any) -> np.ndarray:
    if not isinstance(value, NDArray):
        raise HybrixError(
            f"nd.save: entry {key!r} is a {type(value).__name__}, expected an NDArray"
        )
    return value.asnumpy()


def _from_numpy(value: np.ndarray) -> NDArray:
    return array(value, dtype=value.dtype)
