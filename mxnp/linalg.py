"""np.linalg: norm (Frobenius / vector p-norms over axes), as mxnet.numpy.linalg.norm."""

from __future__ import annotations

from typing import Any

from hybrix.ir import HybrixError
from hybrix.mxnp import _functions as fn
from hybrix.mxnp._array import as_array, to_scalar_shape

__all__ = ["norm"]


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """2-norm (Frobenius for matrices) by default; ord 1/2/inf for vectors."""
    array = fn.from_nd(as_array(x))
    if ord in (None, 2, "fro") and (ord != 2 or axis is None or isinstance(axis, int)):
        result = fn.sqrt(fn.sum(array * array, axis=axis, keepdims=keepdims))
    elif ord == 1:
        result = fn.sum(fn.abs(array), axis=axis, keepdims=keepdims)
    elif ord in (float("inf"), "inf"):
        result = fn.max(fn.abs(array), axis=axis, keepdims=keepdims)
    else:
        raise HybrixError(
            f"np.linalg.norm: ord={ord!r} with axis={axis!r} is not supported; "
            "expected None, 1, 2, inf or 'fro'"
        )
    return (
        to_scalar_shape(result)
        if result.shape == (1,) and axis is None and not keepdims
        else result
    )
