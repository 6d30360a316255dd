"""np.random: mxnet.numpy.random's samplers on hybrix's per-context PRNG (float32 default)."""

from __future__ import annotations

from typing import Any

import numpy as onp

from hybrix.ir import HybrixError
from hybrix.mxnp._array import as_array, call, ndarray, to_np
from hybrix.ndarray import random as nd_random
from hybrix.ndarray.ndarray import NDArray

__all__ = ["choice", "normal", "rand", "randint", "randn", "seed", "shuffle", "uniform"]


def seed(seed: int, ctx: Any = "all") -> None:
    nd_random.seed(seed, ctx)


def _size(size: Any) -> tuple:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, int | onp.integer) else tuple(size)


def _scalar_draw(sampler: Any, size: Any, **kwargs: Any) -> ndarray:
    shape = _size(size)
    result = to_np(sampler(shape=shape or (1,), **kwargs))
    return result.reshape(()) if not shape else result


def uniform(
    low: Any = 0.0,
    high: Any = 1.0,
    size: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
) -> ndarray:
    """Samples from U[low, high); array bounds broadcast to `size`."""
    if isinstance(low, NDArray) or isinstance(high, NDArray):
        return _with_arrays(uniform, low, high, size, dtype, ctx)
    return _scalar_draw(
        nd_random.uniform, size, low=low, high=high, dtype=dtype or "float32", ctx=ctx
    )


def normal(
    loc: Any = 0.0,
    scale: Any = 1.0,
    size: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
) -> ndarray:
    if isinstance(loc, NDArray) or isinstance(scale, NDArray):
        return _with_arrays(normal, loc, scale, size, dtype, ctx)
    return _scalar_draw(
        nd_random.normal, size, loc=loc, scale=scale, dtype=dtype or "float32", ctx=ctx
    )


def _with_arrays(sampler: Any, first: Any, second: Any, size: Any, dtype: Any, ctx: Any) -> ndarray:
    """a + b * standard draw: array parameters broadcast against `size`."""
    first, second = to_np(as_array(first)), to_np(as_array(second))
    shape = _size(size) or onp.broadcast_shapes(first.shape, second.shape)
    if sampler is uniform:
        base = uniform(0.0, 1.0, shape, dtype, ctx)
        return first + base * (second - first)
    base = normal(0.0, 1.0, shape, dtype, ctx)
    return first + base * second


def randn(*size: int, **kwargs: Any) -> ndarray:
    return normal(0.0, 1.0, size or None, **kwargs)


def rand(*size: int, **kwargs: Any) -> ndarray:
    return uniform(0.0, 1.0, size or None, **kwargs)


def randint(
    low: int,
    high: int | None = None,
    size: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
) -> ndarray:
    """Integers in [low, high); int64 by default (mxnet.numpy)."""
    if high is None:
        low, high = 0, low
    return _scalar_draw(
        nd_random.randint, size, low=low, high=high, dtype=dtype or "int64", ctx=ctx
    )


def choice(
    a: Any, size: Any = None, replace: bool = True, p: Any = None, ctx: Any = None, out: Any = None
) -> ndarray:
    """Samples from arange(a) or from the 1-D array `a` (with probabilities p)."""
    population = a.shape[0] if isinstance(a, NDArray) else int(a)
    shape = _size(size)
    count = int(onp.prod(shape)) if shape else 1
    if not replace and count > population:
        raise HybrixError(
            f"np.random.choice: cannot take {count} samples from {population} without replacement"
        )
    if p is None and replace:
        picks = randint(0, population, shape or None, ctx=ctx)
    else:
        weights = (
            onp.ones(population) / population
            if p is None
            else onp.asarray(to_np(as_array(p)).asnumpy(), onp.float64)
        )
        keys = uniform(size=(population,), ctx=ctx).asnumpy().astype(onp.float64)
        if replace:
            cumulative = onp.cumsum(weights / weights.sum())
            draws = uniform(size=(count,), ctx=ctx).asnumpy()
            picked = onp.minimum(onp.searchsorted(cumulative, draws, side="right"), population - 1)
        else:  # NOTE: Efraimidis-Spirakis: the k largest u^(1/w) are a weighted sample
            picked = onp.argsort(-(keys ** (1.0 / onp.maximum(weights, 1e-300))))[:count]
        from hybrix.mxnp._functions import array

        picks = array(picked.reshape(shape), dtype="int64", ctx=ctx)
    if isinstance(a, NDArray):
        return call(
            "take", [a, picks.reshape(-1) if picks.ndim else picks.reshape(1)], axis=0
        ).reshape(shape + a.shape[1:])
    return picks


def shuffle(x: NDArray) -> None:
    """Shuffle `x` along its first axis in place (as numpy.random.shuffle)."""
    x._data = nd_random.shuffle(x)._data
