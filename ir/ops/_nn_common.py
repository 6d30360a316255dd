"""Helpers shared by the layer ops (nn.py) and the normalisation ops (norm.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError, TypeMismatchError
from hybrix.ir.ops._infer import same_dtype
from hybrix.ir.types import Dim, TensorType

FLOAT_OUT = (DType.float16, DType.float32, DType.float64)
LOW_PRECISION = (DType.float16, DType.bfloat16)


# -- shared helpers ------------------------------------------------------------------
def dims_match(a: Dim, b: Dim) -> bool:
    """Equal, or not decidable because one side is symbolic."""
    return a == b or isinstance(a, str) or isinstance(b, str)


def check_shape(what: str, got: TensorType, expected: tuple[Dim, ...]) -> None:
    ok = got.rank == len(expected) and all(map(dims_match, got.shape, expected))
    if not ok:
        raise ShapeError(f"{what} has shape {got.shape}, expected {expected}")


def require_float(what: str, t: TensorType) -> None:
    if not t.dtype.is_float:
        raise TypeMismatchError(f"{what} is {t.dtype.name}, expected a float dtype")


def param_dtype(data: TensorType, *params: TensorType) -> DType:
    """Norm parameters share one dtype: the data's, or float32 for 16-bit data (as MXNet)."""
    dtype = same_dtype(*params)
    allowed = {data.dtype} | ({DType.float32} if data.dtype in LOW_PRECISION else set())
    if dtype not in allowed:
        shown = " or ".join(sorted(d.name for d in allowed))
        raise TypeMismatchError(f"parameters are {dtype.name}, expected {shown}")
    return dtype


def np_wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype.itemsize < 4 else x


def jx_wide(jx: Any, x: Any) -> Any:
    return x.astype(jx.jnp.float32) if x.dtype.itemsize < 4 else x


def channel_shape(rank: int, axis: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector along `axis`."""
    return tuple(-1 if i == axis else 1 for i in range(rank))


def other_axes(rank: int, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if i != axis)
