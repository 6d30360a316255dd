"""DType: the element types of hybrix tensors, with their numpy and MXNet spellings."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from hybrix.ir.errors import HybrixError

__all__ = ["DType"]


def _bfloat16() -> Any:
    """numpy has no bfloat16; ml_dtypes (shipped with jax) provides it."""
    try:
        import ml_dtypes
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise HybrixError("bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") from e
    return np.dtype(ml_dtypes.bfloat16)


class DType(enum.Enum):
    """An element type. The value is the short name used by the text form (`f32`)."""

    float16 = "f16"
    bfloat16 = "bf16"
    float32 = "f32"
    float64 = "f64"
    int8 = "i8"
    int16 = "i16"
    int32 = "i32"
    int64 = "i64"
    uint8 = "u8"
    uint16 = "u16"
    uint32 = "u32"
    uint64 = "u64"
    bool = "bool"

    @property
    def short(self) -> str:
        return self.value

    @property
    def numpy(self) -> np.dtype:
        if self is DType.bfloat16:
            return _bfloat16()
        return np.dtype(self.name)

    @property
    def is_float(self) -> bool:
        return self in _FLOATS

    @property
    def is_int(self) -> bool:
        return not self.is_float and self is not DType.bool

    @property
    def itemsize(self) -> int:
        return 2 if self is DType.bfloat16 else np.dtype(self.name).itemsize

    @property
    def mxnet_flag(self) -> int:
        """MXNet's mshadow type flag (mshadow/base.h), used by .params files."""
        return _TO_MXNET[self]

    @staticmethod
    def from_mxnet_flag(flag: int) -> DType:
        try:
            return _FROM_MXNET[flag]
        except KeyError:
            raise HybrixError(
                f"unknown MXNet type flag {flag}; expected one of {sorted(_FROM_MXNET)}"
            ) from None

    @staticmethod
    def from_any(value: Any) -> DType:
        """A DType from a DType, a name ('float32', 'f32'), a numpy dtype or scalar type."""
        if isinstance(value, DType):
            return value
        try:
            found = _BY_NAME.get(value) or _BY_NUMPY.get(value)
        except TypeError:  # unhashable
            found = None
        if found is not None:
            return found
        try:
            dtype = np.dtype(value)
        except TypeError:
            dtype = None
        if dtype is not None:
            if dtype.name == "bfloat16":
                return DType.bfloat16
            found = _BY_NAME.get(dtype.name)
            if found is not None:
                _BY_NUMPY[dtype] = found  # NOTE: dtype.name costs ~2 us; called per input per call
                return found
        names = ", ".join(d.name for d in DType)
        raise HybrixError(f"unsupported dtype {value!r}; expected one of {names}")

    def __repr__(self) -> str:
        return f"DType.{self.name}"


_FLOATS = {DType.float16, DType.bfloat16, DType.float32, DType.float64}
_BY_NAME = {d.name: d for d in DType} | {d.value: d for d in DType} | {"bool_": DType.bool}
_BY_NUMPY: dict[np.dtype, DType] = {}
_TO_MXNET = {
    DType.float32: 0,
    DType.float64: 1,
    DType.float16: 2,
    DType.uint8: 3,
    DType.int32: 4,
    DType.int8: 5,
    DType.int64: 6,
    DType.bool: 7,
    DType.int16: 8,
    DType.uint16: 9,
    DType.uint32: 10,
    DType.uint64: 11,
    DType.bfloat16: 12,
}
_FROM_MXNET = {flag: dtype for dtype, flag in _TO_MXNET.items()}
