"""TensorType and dimensions: a dimension is an int or a symbolic name such as 'N'.

Symbolic dimensions are products of names and an integer coefficient, written in a
canonical form ('N', '4*N', 'N*T'), so that Flatten or Reshape of a batch-symbolic
tensor still has a type. Anything else (a sum of symbols) stays an opaque string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError

__all__ = [
    "Dim",
    "Shape",
    "TensorType",
    "broadcast_shapes",
    "dim_add",
    "dim_div",
    "dim_mul",
    "dim_prod",
    "is_static",
    "num_elements",
]

Dim = int | str
Shape = tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class TensorType:
    """The type of a Value: dtype and shape; symbolic dimensions are strings."""

    dtype: DType
    shape: Shape

    def __post_init__(self) -> None:
        for dim in self.shape:
            if isinstance(dim, bool) or not isinstance(dim, int | str):
                raise ShapeError(f"a dimension must be an int or a name, got {dim!r}")
            if isinstance(dim, int) and dim < 0:
                raise ShapeError(f"negative dimension {dim} in shape {self.shape}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return is_static(self.shape)

    def with_shape(self, shape: Iterable[Dim]) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(str(d) for d in self.shape)}]"


def is_static(shape: Sequence[Dim]) -> bool:
    return all(isinstance(d, int) for d in shape)


def _split(dim: Dim) -> tuple[int, tuple[str, ...]] | None:
    """(coefficient, sorted names) of a dimension, or None for an opaque expression."""
    if isinstance(dim, int):
        return dim, ()
    coefficient, names = 1, []
    for part in dim.split("*"):
        part = part.strip()
        if part.isdigit():
            coefficient *= int(part)
        elif part.isidentifier():
            names.append(part)
        else:
            return None
    return coefficient, tuple(sorted(names))


def _join(coefficient: int, names: tuple[str, ...]) -> Dim:
    if not names or coefficient == 0:
        return coefficient
    head = [] if coefficient == 1 else [str(coefficient)]
    return "*".join(head + list(names))


def dim_mul(a: Dim, b: Dim) -> Dim:
    left, right = _split(a), _split(b)
    if left is None or right is None:
        return f"({a})*({b})"
    return _join(left[0] * right[0], tuple(sorted(left[1] + right[1])))


def dim_prod(dims: Iterable[Dim]) -> Dim:
    result: Dim = 1
    for dim in dims:
        result = dim_mul(result, dim)
    return result


def dim_add(a: Dim, b: Dim) -> Dim:
    """a + b; a sum involving symbols stays an opaque expression ('N+M')."""
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    return f"{a}+{b}"


def dim_div(a: Dim, b: Dim) -> Dim:
    """a / b, exactly; ShapeError when it does not divide."""
    left, right = _split(a), _split(b)
    if left is not None and right is not None:
        names = list(left[1])
        for name in right[1]:
            if name not in names:
                break
            names.remove(name)
        else:
            if right[0] != 0 and left[0] % right[0] == 0:
                return _join(left[0] // right[0], tuple(names))
    raise ShapeError(f"dimension {a} is not divisible by {b}")


def num_elements(shape: Sequence[Dim]) -> Dim:
    return dim_prod(shape) if shape else 1


def broadcast_shapes(*shapes: Sequence[Dim]) -> Shape:
    """NumPy broadcasting; symbolic dims broadcast with 1 and with themselves."""
    rank = max((len(s) for s in shapes), default=0)
    result: list[Dim] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ShapeError(f"shapes {shown} do not broadcast")
        result.append(dims.pop() if dims else 1)
    return tuple(result)
