"""Checking concrete arrays against a graph's input signature (symbolic dims bind once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import HybrixError, ShapeError, TypeMismatchError
from hybrix.ir.graph import Value

__all__ = ["check_inputs"]


def check_inputs(inputs: Sequence[Value], arrays: Sequence[Any], where: str) -> dict[str, int]:
    """Check count, dtype and shape of `arrays` (anything with .shape and .dtype).

    Returns the binding of symbolic dimensions ({'N': 4}); errors name the input and say
    what was expected.
    """
    if len(arrays) != len(inputs):
        names = ", ".join(v.name for v in inputs)
        raise HybrixError(f"{where}: expected {len(inputs)} inputs ({names}), got {len(arrays)}")
    bindings: dict[str, int] = {}
    for value, array in zip(inputs, arrays, strict=True):
        _check_one(value, array, bindings, where)
    return bindings


def _check_one(value: Value, array: Any, bindings: dict[str, int], where: str) -> None:
    if not (hasattr(array, "dtype") and hasattr(array, "shape")):
        raise TypeMismatchError(
            f"{where}: input {value.name} expects an array (with dtype and shape), got "
            f"{type(array).__name__}"
        )
    dtype = DType.from_any(array.dtype)
    if dtype != value.dtype:
        raise TypeMismatchError(
            f"{where}: input {value.name} expects dtype {value.dtype.name}, got {dtype.name}"
        )
    shape = tuple(array.shape)
    expected = value.shape
    ok = len(shape) == len(expected)
    for want, got in zip(expected, shape, strict=False):
        if isinstance(want, str):
            ok = ok and bindings.setdefault(want, got) == got
        else:
            ok = ok and want == got
    if not ok:
        shown = ",".join(str(d) for d in expected)
        bound = f" with {bindings}" if bindings else ""
        raise ShapeError(
            f"{where}: input {value.name} expects shape [{shown}]{bound}, got {list(shape)}"
        )
