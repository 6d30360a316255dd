"""Shared pieces of type inference and attribute handling used by several op families."""

from __future__ import annotations

from collections.abc import Sequence

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError, TypeMismatchError
from hybrix.ir.types import TensorType, broadcast_shapes

__all__ = [
    "broadcast_binary",
    "normalize_axes",
    "normalize_axis",
    "same_as_input",
    "same_dtype",
]


def same_as_input(data: TensorType, *rest: TensorType, **attrs: object) -> TensorType:
    """Output has the first input's type (unary elementwise ops)."""
    return data


def same_dtype(*types: TensorType) -> DType:
    """The common dtype of the inputs; TypeMismatchError when they differ."""
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        shown = ", ".join(sorted(d.name for d in dtypes))
        raise TypeMismatchError(f"inputs have different dtypes ({shown}); expected one dtype")
    return types[0].dtype


def broadcast_binary(lhs: TensorType, rhs: TensorType, **attrs: object) -> TensorType:
    """NumPy broadcasting of two inputs of one dtype (MXNet's broadcast_* ops)."""
    return TensorType(same_dtype(lhs, rhs), broadcast_shapes(lhs.shape, rhs.shape))


def normalize_axis(axis: int, rank: int) -> int:
    """A non-negative axis; ShapeError when out of range."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def normalize_axes(axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Sorted non-negative axes (None means every axis); ShapeError on repeats."""
    if axes is None:
        return tuple(range(rank))
    result = tuple(sorted(normalize_axis(a, rank) for a in axes))
    if len(set(result)) != len(result):
        raise ShapeError(f"repeated axis in {tuple(axes)}")
    return result
