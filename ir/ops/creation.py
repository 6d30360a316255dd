"""Ops that create arrays from attributes alone: _zeros, _ones, _full, _arange, _eye, _linspace.

They take no array inputs; `infer` gives a concrete shape from the attributes. `ctx` (the
MXNet device) is accepted and ignored: placement is the compiler's business. A 0 in
`shape` is kept as a real 0: MXNet uses it for "unknown, inferred later" in exported
symbols (lstm-symbol.json's `_zeros` of shape (1, 0, 32)), which the importer resolves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import TensorType

__all__ = ["arange", "eye", "full", "linspace", "ones", "zeros"]

_NO_GRAD = "no array inputs"


def _common_attrs() -> dict[str, Attr]:
    return {
        "ctx": Attr.str(None, doc="MXNet device; ignored"),
        "dtype": Attr.dtype(DType.float32),
    }


def _filled_infer(*, shape: tuple[int, ...], dtype: DType, **_: Any) -> TensorType:
    return TensorType(dtype, shape)


# -- _zeros, _ones, _full -----------------------------------------------------------------
zeros = defop(
    "_zeros",
    inputs=[],
    attrs={"shape": Attr.ints(()), **_common_attrs()},
    infer=_filled_infer,
    aliases=["zeros"],
    no_grad=_NO_GRAD,
    doc="An array of zeros. MXNet: _zeros (nd.zeros).",
)
ones = defop(
    "_ones",
    inputs=[],
    attrs={"shape": Attr.ints(()), **_common_attrs()},
    infer=_filled_infer,
    aliases=["ones"],
    no_grad=_NO_GRAD,
    doc="An array of ones. MXNet: _ones (nd.ones).",
)
full = defop(
    "_full",
    inputs=[],
    attrs={"shape": Attr.ints(()), "value": Attr.float(), **_common_attrs()},
    infer=_filled_infer,
    aliases=["full"],
    no_grad=_NO_GRAD,
    doc="An array filled with `value`. MXNet: _full (nd.full).",
)


@zeros.ref
def _zeros_ref(*, shape: tuple[int, ...], dtype: DType, **_: Any) -> np.ndarray:
    return np.zeros(shape, dtype.numpy)


@zeros.lower
def _zeros_lower(jx: Any, *, shape: tuple[int, ...], dtype: DType, **_: Any) -> Any:
    return jx.jnp.zeros(shape, dtype.numpy)


@ones.ref
def _ones_ref(*, shape: tuple[int, ...], dtype: DType, **_: Any) -> np.ndarray:
    return np.ones(shape, dtype.numpy)


@ones.lower
def _ones_lower(jx: Any, *, shape: tuple[int, ...], dtype: DType, **_: Any) -> Any:
    return jx.jnp.ones(shape, dtype.numpy)


@full.ref
def _full_ref(*, shape: tuple[int, ...], value: float, dtype: DType, **_: Any) -> np.ndarray:
    return np.full(shape, _scalar(value, dtype))


@full.lower
def _full_lower(jx: Any, *, shape: tuple[int, ...], value: float, dtype: DType, **_: Any) -> Any:
    return jx.jnp.full(shape, _scalar(value, dtype))


def _scalar(value: float, dtype: DType) -> np.ndarray:
    """`value` as a 0-d array of dtype, cast like C++'s static_cast (ints truncate, wrap)."""
    if dtype.is_int:
        return np.array(int(value)).astype(dtype.numpy)
    return np.array(value).astype(dtype.numpy)


def _filled_onnx(o: Any, shape: tuple[int, ...], value: np.ndarray) -> Any:
    """ConstantOfShape: a small node instead of a (possibly large) initializer."""
    return o.ConstantOfShape(o.ints(shape), value=o.tensor_attr(value.reshape(1)))


@zeros.onnx
def _zeros_onnx(o: Any, *, shape: tuple[int, ...], dtype: DType, **_: Any) -> Any:
    return _filled_onnx(o, shape, np.zeros((), dtype.numpy))


@ones.onnx
def _ones_onnx(o: Any, *, shape: tuple[int, ...], dtype: DType, **_: Any) -> Any:
    return _filled_onnx(o, shape, np.ones((), dtype.numpy))


@full.onnx
def _full_onnx(o: Any, *, shape: tuple[int, ...], value: float, dtype: DType, **_: Any) -> Any:
    return _filled_onnx(o, shape, _scalar(value, dtype))


# -- _arange ------------------------------------------------------------------------------
arange = defop(
    "_arange",
    inputs=[],
    attrs={
        "start": Attr.float(),
        "stop": Attr.float(None),
        "step": Attr.float(1.0),
        "repeat": Attr.int(1),
        "infer_range": Attr.bool(False),
        **_common_attrs(),
    },
    aliases=["arange"],
    no_grad=_NO_GRAD,
    doc="start, start+step, ... below stop (stop=None: the range [0, start)), each value "
    "repeated `repeat` times; computed in `dtype` as MXNet does. infer_range=True with no "
    "stop (length taken from a consumer) is not supported. MXNet: _arange (nd.arange).",
)


def _arange_range(
    start: float, stop: float | None, step: float, repeat: int, infer_range: bool
) -> tuple[float, int]:
    """(start, number of distinct values) with MXNet's checks."""
    if stop is None:
        if infer_range:
            raise ShapeError("infer_range=True without stop is not supported")
        start, stop = 0.0, start
    if step == 0 or repeat < 1:
        raise ShapeError(f"needs step != 0 and repeat >= 1, got {step} and {repeat}")
    if (stop - start) * step <= 0:
        raise ShapeError(f"empty range (start, stop, step) = ({start}, {stop}, {step})")
    return start, math.ceil((stop - start) / step)


@arange.infer
def _arange_infer(
    *,
    start: float,
    stop: float | None,
    step: float,
    repeat: int,
    infer_range: bool,
    dtype: DType,
    **_: Any,
) -> TensorType:
    count = _arange_range(start, stop, step, repeat, infer_range)[1]
    return TensorType(dtype, (count * repeat,))


@arange.ref
def _arange_ref(
    *,
    start: float,
    stop: float | None,
    step: float,
    repeat: int,
    infer_range: bool,
    dtype: DType,
    **_: Any,
) -> np.ndarray:
    start, count = _arange_range(start, stop, step, repeat, infer_range)
    positions = np.repeat(np.arange(count), repeat).astype(dtype.numpy)
    return _scalar(start, dtype) + positions * _scalar(step, dtype)


@arange.lower
def _arange_lower(
    jx: Any,
    *,
    start: float,
    stop: float | None,
    step: float,
    repeat: int,
    infer_range: bool,
    dtype: DType,
    **_: Any,
) -> Any:
    jnp = jx.jnp
    start, count = _arange_range(start, stop, step, repeat, infer_range)
    positions = (jnp.arange(count * repeat) // repeat).astype(dtype.numpy)
    return jnp.asarray(_scalar(start, dtype)) + positions * jnp.asarray(_scalar(step, dtype))


@arange.onnx
def _arange_onnx(o: Any, **attrs: Any) -> Any:
    return o.const(_arange_ref(**attrs))  # fixed by the attributes: an initializer


# -- _eye ---------------------------------------------------------------------------------
eye = defop(
    "_eye",
    inputs=[],
    attrs={"N": Attr.int(), "M": Attr.int(0), "k": Attr.int(0), **_common_attrs()},
    aliases=["eye"],
    no_grad=_NO_GRAD,
    doc="An N x M (M=0: N x N) matrix with ones on diagonal k. MXNet: _eye (nd.eye).",
)


@eye.infer
def _eye_infer(*, N: int, M: int, dtype: DType, **_: Any) -> TensorType:
    return TensorType(dtype, (N, M or N))


@eye.ref
def _eye_ref(*, N: int, M: int, k: int, dtype: DType, **_: Any) -> np.ndarray:
    return np.eye(N, M or N, k, dtype=dtype.numpy)


@eye.lower
def _eye_lower(jx: Any, *, N: int, M: int, k: int, dtype: DType, **_: Any) -> Any:
    return jx.jnp.eye(N, M or N, k, dtype=dtype.numpy)


@eye.onnx
def _eye_onnx(o: Any, **attrs: Any) -> Any:
    return o.const(_eye_ref(**attrs))


# -- _linspace ----------------------------------------------------------------------------
linspace = defop(
    "_linspace",
    inputs=[],
    attrs={
        "start": Attr.float(),
        "stop": Attr.float(),
        "num": Attr.int(),
        "endpoint": Attr.bool(True),
        **_common_attrs(),
    },
    aliases=["linspace"],
    no_grad=_NO_GRAD,
    doc="num values start + i*step, step = (stop-start)/(num-1) (endpoint) or /num, "
    "computed in float64 and cast. MXNet: _linspace (nd.linspace).",
)


def _linspace_step(start: float, stop: float, num: int, endpoint: bool) -> float:
    intervals = num - 1 if endpoint else num
    return (stop - start) / intervals if intervals > 0 else 0.0


@linspace.infer
def _linspace_infer(*, num: int, dtype: DType, **_: Any) -> TensorType:
    if num < 0:
        raise ShapeError(f"num must be >= 0, got {num}")
    return TensorType(dtype, (num,))


@linspace.ref
def _linspace_ref(
    *, start: float, stop: float, num: int, endpoint: bool, dtype: DType, **_: Any
) -> np.ndarray:
    step = _linspace_step(start, stop, num, endpoint)
    return (start + step * np.arange(num, dtype=np.float64)).astype(dtype.numpy)


@linspace.lower
def _linspace_lower(
    jx: Any, *, start: float, stop: float, num: int, endpoint: bool, dtype: DType, **_: Any
) -> Any:
    step = _linspace_step(start, stop, num, endpoint)
    return (start + step * jx.jnp.arange(num)).astype(dtype.numpy)


@linspace.onnx
def _linspace_onnx(o: Any, **attrs: Any) -> Any:
    return o.const(_linspace_ref(**attrs))
