"""Random sampling ops: _random_uniform/_normal/_randint, _sample_uniform/_normal, _shuffle.

Every op here is `rng=True`: its last input, `key`, is a raw JAX PRNG key, the uint32[2]
that `jax.random.key_data(jax.random.key(seed))` gives for JAX's default threefry2x32
implementation (checked on jax 0.10); the frontend supplies and advances it. The lowering
wraps it back with `jax.random.wrap_key_data`. The numpy `ref` seeds `default_rng` from the
two key words, so ref and lower draw different numbers from the same distribution: tests
compare them by shape, dtype and statistics. No op here has a gradient (MXNet registers none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, ShapeError, TypeMismatchError
from hybrix.ir.ops._infer import same_dtype
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import TensorType

__all__ = [
    "random_normal",
    "random_randint",
    "random_uniform",
    "sample_normal",
    "sample_uniform",
    "shuffle",
]

_NO_GRAD = "random samples"
_NO_ONNX = (
    "draws from a JAX PRNG key input; ONNX's Random* ops take no key, so the samples "
    "(and a seeded stream) could not match; random ops are not exported"
)
_FLOATS = (DType.float16, DType.float32, DType.float64)


def _check_key(key: TensorType) -> None:
    if key.dtype is not DType.uint32 or key.shape != (2,):
        raise TypeMismatchError(f"key should be a raw PRNG key u32[2], got {key}")


def _numpy_rng(key: np.ndarray) -> np.random.Generator:
    return np.random.default_rng([int(word) for word in np.asarray(key).reshape(-1)])


def _jax_key(jx: Any, key: Any) -> Any:
    return jx.random.wrap_key_data(key.astype(jx.jnp.uint32))


def _float_dtype(dtype: DType | None) -> DType:
    return DType.float32 if dtype is None else dtype


def _scalar_attrs(**params: Attr) -> dict[str, Attr]:
    return {
        **params,
        "shape": Attr.ints(()),
        "ctx": Attr.str(None, doc="MXNet device; ignored"),
        "dtype": Attr.dtype(None, choices=_FLOATS, doc="None means float32"),
    }


def _scalar_infer(
    key: TensorType, *, shape: tuple[int, ...], dtype: DType | None, **_: Any
) -> TensorType:
    _check_key(key)
    return TensorType(_float_dtype(dtype), shape)


# -- _random_uniform, _random_normal, _random_randint ---------------------------------------
random_uniform = defop(
    "_random_uniform",
    inputs=["key"],
    attrs=_scalar_attrs(low=Attr.float(0.0), high=Attr.float(1.0)),
    infer=_scalar_infer,
    aliases=["random_uniform", "uniform"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad=_NO_GRAD,
    doc="Samples of U[low, high). MXNet: _random_uniform (nd.random.uniform).",
)


@random_uniform.ref
def _uniform_ref(
    key: np.ndarray,
    *,
    low: float,
    high: float,
    shape: tuple[int, ...],
    dtype: DType | None,
    **_: Any,
) -> np.ndarray:
    samples = _numpy_rng(key).uniform(low, high, shape)
    return samples.astype(_float_dtype(dtype).numpy)


@random_uniform.lower
def _uniform_lower(
    jx: Any,
    key: Any,
    *,
    low: float,
    high: float,
    shape: tuple[int, ...],
    dtype: DType | None,
    **_: Any,
) -> Any:
    out_dtype = _float_dtype(dtype).numpy
    return jx.random.uniform(_jax_key(jx, key), shape, out_dtype, minval=low, maxval=high)


random_normal = defop(
    "_random_normal",
    inputs=["key"],
    attrs=_scalar_attrs(loc=Attr.float(0.0), scale=Attr.float(1.0)),
    infer=_scalar_infer,
    aliases=["random_normal", "normal"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad=_NO_GRAD,
    doc="Samples of N(loc, scale^2). MXNet: _random_normal (nd.random.normal).",
)


@random_normal.ref
def _normal_ref(
    key: np.ndarray,
    *,
    loc: float,
    scale: float,
    shape: tuple[int, ...],
    dtype: DType | None,
    **_: Any,
) -> np.ndarray:
    samples = _numpy_rng(key).normal(loc, scale, shape)
    return samples.astype(_float_dtype(dtype).numpy)


@random_normal.lower
def _normal_lower(
    jx: Any,
    key: Any,
    *,
    loc: float,
    scale: float,
    shape: tuple[int, ...],
    dtype: DType | None,
    **_: Any,
) -> Any:
    samples = jx.random.normal(_jax_key(jx, key), shape, _float_dtype(dtype).numpy)
    return loc + scale * samples


random_randint = defop(
    "_random_randint",
    inputs=["key"],
    attrs={
        "low": Attr.int(),
        "high": Attr.int(),
        "shape": Attr.ints(()),
        "ctx": Attr.str(None, doc="MXNet device; ignored"),
        "dtype": Attr.dtype(None, choices=(DType.int32, DType.int64), doc="None means int32"),
    },
    aliases=["random_randint"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad=_NO_GRAD,
    doc="Integers drawn uniformly from [low, high). MXNet: _random_randint.",
)


def _int_dtype(dtype: DType | None) -> DType:
    return DType.int32 if dtype is None else dtype


@random_randint.infer
def _randint_infer(
    key: TensorType, *, low: int, high: int, shape: tuple[int, ...], dtype: DType | None, **_: Any
) -> TensorType:
    _check_key(key)
    if low >= high:
        raise AttrError(f"needs low < high, got low={low}, high={high}")
    return TensorType(_int_dtype(dtype), shape)


@random_randint.ref
def _randint_ref(
    key: np.ndarray, *, low: int, high: int, shape: tuple[int, ...], dtype: DType | None, **_: Any
) -> np.ndarray:
    return _numpy_rng(key).integers(low, high, shape, dtype=_int_dtype(dtype).numpy)


@random_randint.lower
def _randint_lower(
    jx: Any, key: Any, *, low: int, high: int, shape: tuple[int, ...], dtype: DType | None, **_: Any
) -> Any:
    return jx.random.randint(_jax_key(jx, key), shape, low, high, _int_dtype(dtype).numpy)


# -- _sample_uniform, _sample_normal: one distribution per parameter element ---------------
def _sample_attrs() -> dict[str, Attr]:
    return {
        "shape": Attr.ints((), doc="samples drawn per parameter element"),
        "dtype": Attr.dtype(None, choices=_FLOATS, doc="None means float32"),
    }


def _sample_infer(
    first: TensorType,
    second: TensorType,
    key: TensorType,
    *,
    shape: tuple[int, ...],
    dtype: DType | None,
) -> TensorType:
    _check_key(key)
    same_dtype(first, second)
    if first.shape != second.shape:
        raise ShapeError(f"parameter shapes {first.shape} and {second.shape} differ")
    return TensorType(_float_dtype(dtype), first.shape + shape)


def _per_element(param: Any, shape: tuple[int, ...]) -> Any:
    """A parameter array with trailing unit axes, to broadcast over its samples."""
    return param.reshape(param.shape + (1,) * len(shape))


sample_uniform = defop(
    "_sample_uniform",
    inputs=["low", "high", "key"],
    attrs=_sample_attrs(),
    infer=_sample_infer,
    aliases=["sample_uniform"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad=_NO_GRAD,
    doc="`shape` samples of U[low[i], high[i]) per element i: shape low.shape + shape. "
    "MXNet: _sample_uniform (nd.sample_uniform).",
)


@sample_uniform.ref
def _sample_uniform_ref(
    low: np.ndarray,
    high: np.ndarray,
    key: np.ndarray,
    *,
    shape: tuple[int, ...],
    dtype: DType | None,
) -> np.ndarray:
    unit = _numpy_rng(key).uniform(0.0, 1.0, low.shape + shape)
    low, high = _per_element(low, shape), _per_element(high, shape)
    return (low + (high - low) * unit).astype(_float_dtype(dtype).numpy)


@sample_uniform.lower
def _sample_uniform_lower(
    jx: Any, low: Any, high: Any, key: Any, *, shape: tuple[int, ...], dtype: DType | None
) -> Any:
    out_dtype = _float_dtype(dtype).numpy
    unit = jx.random.uniform(_jax_key(jx, key), low.shape + shape, out_dtype)
    low, high = (_per_element(p, shape).astype(out_dtype) for p in (low, high))
    return low + (high - low) * unit


sample_normal = defop(
    "_sample_normal",
    inputs=["mu", "sigma", "key"],
    attrs=_sample_attrs(),
    infer=_sample_infer,
    aliases=["sample_normal"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad=_NO_GRAD,
    doc="`shape` samples of N(mu[i], sigma[i]^2) per element i: shape mu.shape + shape. "
    "MXNet: _sample_normal (nd.sample_normal).",
)


@sample_normal.ref
def _sample_normal_ref(
    mu: np.ndarray,
    sigma: np.ndarray,
    key: np.ndarray,
    *,
    shape: tuple[int, ...],
    dtype: DType | None,
) -> np.ndarray:
    unit = _numpy_rng(key).standard_normal(mu.shape + shape)
    mu, sigma = _per_element(mu, shape), _per_element(sigma, shape)
    return (mu + sigma * unit).astype(_float_dtype(dtype).numpy)


@sample_normal.lower
def _sample_normal_lower(
    jx: Any, mu: Any, sigma: Any, key: Any, *, shape: tuple[int, ...], dtype: DType | None
) -> Any:
    out_dtype = _float_dtype(dtype).numpy
    unit = jx.random.normal(_jax_key(jx, key), mu.shape + shape, out_dtype)
    mu, sigma = (_per_element(p, shape).astype(out_dtype) for p in (mu, sigma))
    return mu + sigma * unit


# -- _shuffle -----------------------------------------------------------------------------
shuffle = defop(
    "_shuffle",
    inputs=["data", "key"],
    aliases=["shuffle"],
    rng=True,
    no_onnx=_NO_ONNX,
    no_grad="MXNet registers no gradient for shuffling",
    doc="The data with its first axis randomly permuted. MXNet: _shuffle (nd.shuffle).",
)


@shuffle.infer
def _shuffle_infer(data: TensorType, key: TensorType) -> TensorType:
    _check_key(key)
    if data.rank == 0:
        raise ShapeError("needs an array of rank >= 1, got a scalar")
    return data


@shuffle.ref
def _shuffle_ref(data: np.ndarray, key: np.ndarray) -> np.ndarray:
    return _numpy_rng(key).permutation(data, axis=0)


@shuffle.lower
def _shuffle_lower(jx: Any, data: Any, key: Any) -> Any:
    return jx.random.permutation(_jax_key(jx, key), data, axis=0, independent=False)
