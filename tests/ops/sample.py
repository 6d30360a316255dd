"""Sample: one row of the op table (tests/ops/op_db.py), like PyTorch's OpInfo samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# rtol, atol per dtype when comparing the JAX lowering to the numpy ref
TOLERANCES = {
    "float16": (2e-2, 2e-2),
    "bfloat16": (5e-2, 5e-2),
    "float32": (1e-5, 1e-5),
    "float64": (1e-10, 1e-10),
}


@dataclass
class Sample:
    """One call of an op: inputs, attributes and what to check.

    args: numpy arrays (float64 for float inputs; they are cast to each of `dtypes`;
    integer and bool arrays are passed unchanged) or a callable(rng) -> arrays.
    grad: check gradients of the lowering by finite differences in float64 (inputs named
    in the op's nondiff_inputs and non-float inputs are held fixed).
    random: the op draws random numbers; ref and lower are compared by `check` instead.
    """

    op: str
    args: Sequence[np.ndarray] | Callable[[np.random.Generator], Sequence[np.ndarray]]
    attrs: dict[str, Any] = field(default_factory=dict)
    dtypes: tuple[str, ...] = ("float32", "float64")
    grad: bool = True
    rtol: float | None = None
    atol: float | None = None
    name: str = ""
    check: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], None] | None = None

    def arrays(self, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
        args = self.args(rng) if callable(self.args) else self.args
        result = []
        for array in args:
            array = np.asarray(array)
            if array.dtype.kind == "f":
                array = array.astype(dtype)
            result.append(array)
        return result

    def tolerance(self, dtype: str) -> tuple[float, float]:
        rtol, atol = TOLERANCES[dtype]
        return (self.rtol or rtol, self.atol or atol) if dtype != "float64" else (rtol, atol)

    @property
    def id(self) -> str:
        return self.name or self.op
