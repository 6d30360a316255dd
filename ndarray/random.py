"""nd.random: MXNet's sampling functions over the registered random ops, and the seed.

Every random op takes a raw PRNG key (uint32[2]) as its last input. The frontend draws a
fresh key per call from one global numpy generator, so `seed(s)` makes the following
draws repeatable, as `mx.random.seed` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir import HybrixError
from hybrix.ndarray._dispatch import invoke, op_info

__all__ = [
    "next_key",
    "normal",
    "randint",
    "randn",
    "seed",
    "shuffle",
    "uniform",
]

_GENERATOR = [np.random.default_rng(0)]


def seed(seed_state: int, ctx: Any = "all") -> None:
    """Seed the generator behind every random op (MXNet: mx.random.seed)."""
    if not isinstance(seed_state, int | np.integer):
        raise HybrixError(f"seed expects an integer, got {seed_state!r}")
    _GENERATOR[0] = np.random.default_rng(int(seed_state))


def host_generator() -> np.random.Generator:
    """The numpy generator behind hybrix's random state (seeded by `seed`), for host draws."""
    return _GENERATOR[0]


def next_key(ctx: Any = None) -> Any:
    """A fresh raw PRNG key (uint32[2]) on the device of `ctx` (default: current)."""
    import jax

    key = _GENERATOR[0].integers(0, 2**32, size=2, dtype=np.uint32)
    if ctx is None:
        return jax.numpy.asarray(key)
    return jax.device_put(key, ctx.device)


def _sample(op_name: str, shape: Any, dtype: Any, ctx: Any, out: Any, **attrs: Any) -> Any:
    from hybrix.context import current_context

    if shape is not None:
        attrs["shape"] = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is not None:
        attrs["dtype"] = dtype
    return invoke(op_info(op_name), (), attrs, out=out, ctx=ctx or current_context())


def _tensor_params(*params: Any) -> bool:
    from hybrix.ndarray.ndarray import NDArray

    return any(isinstance(p, NDArray) for p in params)


def uniform(
    low: Any = 0,
    high: Any = 1,
    shape: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
    **kwargs: Any,
) -> Any:
    """Samples from U[low, high); NDArray low/high give per-element distributions."""
    if _tensor_params(low, high):
        return invoke(op_info("_sample_uniform"), (low, high), _shape_kw(shape, dtype, kwargs), out)
    return _sample("_random_uniform", shape, dtype, ctx, out, low=low, high=high, **kwargs)


def normal(
    loc: Any = 0,
    scale: Any = 1,
    shape: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
    **kwargs: Any,
) -> Any:
    """Samples from N(loc, scale**2)."""
    if _tensor_params(loc, scale):
        return invoke(op_info("_sample_normal"), (loc, scale), _shape_kw(shape, dtype, kwargs), out)
    return _sample("_random_normal", shape, dtype, ctx, out, loc=loc, scale=scale, **kwargs)


def randn(*shape: Any, **kwargs: Any) -> Any:
    """Standard normal samples of the given shape: randn(2, 3)."""
    return normal(kwargs.pop("loc", 0), kwargs.pop("scale", 1), shape or None, **kwargs)


def randint(
    low: int,
    high: int,
    shape: Any = None,
    dtype: Any = None,
    ctx: Any = None,
    out: Any = None,
    **kwargs: Any,
) -> Any:
    """Integers in [low, high) (int32 unless dtype says otherwise)."""
    return _sample("_random_randint", shape, dtype, ctx, out, low=low, high=high, **kwargs)


def shuffle(data: Any, **kwargs: Any) -> Any:
    """A random permutation of `data` along its first axis."""
    return invoke(op_info("_shuffle"), (data,), kwargs)


def _shape_kw(shape: Any, dtype: Any, kwargs: dict) -> dict:
    attrs = dict(kwargs)
    if shape is not None:
        attrs["shape"] = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is not None:
        attrs["dtype"] = dtype
    return attrs
