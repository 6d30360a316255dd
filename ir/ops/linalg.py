"""Matrix products: dot, batch_dot, khatri_rao, _linalg_gemm2."""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.ir.errors import ShapeError
from hybrix.ir.ops._infer import normalize_axis, same_dtype
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, Shape, TensorType, dim_prod

__all__ = ["batch_dot", "dot", "khatri_rao", "linalg_gemm2"]

_TRANSPOSE_ATTRS = {
    "transpose_a": Attr.bool(False),
    "transpose_b": Attr.bool(False),
    "forward_stype": Attr.str(None, doc="MXNet's sparse storage choice; ignored"),
}


# -- dot ----------------------------------------------------------------------------------
dot = defop(
    "dot",
    inputs=["lhs", "rhs"],
    attrs=_TRANSPOSE_ATTRS,
    doc="MXNet's dot: contracts the last axis of lhs (the first with transpose_a) with the "
    "first axis of rhs (the last with transpose_b); the other axes of both are kept in "
    "order. Two vectors give shape (1,). MXNet: dot.",
)


def _dot_split(shape: Shape, contract_last: bool) -> tuple[Shape, Dim]:
    """(kept dims, contracted dim) of one dot operand."""
    if contract_last:
        return shape[:-1], shape[-1]
    return shape[1:], shape[0]


@dot.infer
def _dot_infer(
    lhs: TensorType, rhs: TensorType, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> TensorType:
    dtype = same_dtype(lhs, rhs)
    if lhs.rank == 0 or rhs.rank == 0:
        raise ShapeError(f"needs arrays of rank >= 1, got {lhs.shape} and {rhs.shape}")
    lhs_kept, lhs_inner = _dot_split(lhs.shape, not transpose_a)
    rhs_kept, rhs_inner = _dot_split(rhs.shape, transpose_b)
    if lhs_inner != rhs_inner:
        raise ShapeError(
            f"contracted dims differ: {lhs_inner} of lhs {lhs.shape} and {rhs_inner} of rhs "
            f"{rhs.shape} (transpose_a={transpose_a}, transpose_b={transpose_b})"
        )
    return TensorType(dtype, (lhs_kept + rhs_kept) or (1,))


def _dot_operands(xp: Any, lhs: Any, rhs: Any, transpose_a: bool, transpose_b: bool) -> tuple:
    """lhs with its contracted axis last, rhs with its contracted axis first."""
    if transpose_a:
        lhs = xp.moveaxis(lhs, 0, -1)
    if transpose_b:
        rhs = xp.moveaxis(rhs, -1, 0)
    return lhs, rhs


@dot.ref
def _dot_ref(
    lhs: np.ndarray, rhs: np.ndarray, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> np.ndarray:
    lhs, rhs = _dot_operands(np, lhs, rhs, transpose_a, transpose_b)
    out = np.tensordot(lhs, rhs, axes=1)
    return out.reshape(out.shape or (1,))


@dot.lower
def _dot_lower(
    jx: Any, lhs: Any, rhs: Any, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> Any:
    lhs, rhs = _dot_operands(jx.jnp, lhs, rhs, transpose_a, transpose_b)
    out = jx.jnp.tensordot(lhs, rhs, axes=1)
    return out.reshape(out.shape or (1,))


# -- batch_dot ----------------------------------------------------------------------------
batch_dot = defop(
    "batch_dot",
    inputs=["lhs", "rhs"],
    attrs=_TRANSPOSE_ATTRS,
    doc="Matrix products over the last two axes of two arrays of one rank >= 3 whose leading "
    "(batch) dims agree; transpose_a/b transpose those matrices. MXNet: batch_dot.",
)


def _matrix_dims(shape: Shape, transpose: bool) -> tuple[Dim, Dim]:
    rows, cols = shape[-2], shape[-1]
    return (cols, rows) if transpose else (rows, cols)


@batch_dot.infer
def _batch_dot_infer(
    lhs: TensorType, rhs: TensorType, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> TensorType:
    dtype = same_dtype(lhs, rhs)
    if lhs.rank < 3 or lhs.rank != rhs.rank or lhs.shape[:-2] != rhs.shape[:-2]:
        raise ShapeError(
            f"expected two arrays of one rank >= 3 with equal batch dims, "
            f"got {lhs.shape} and {rhs.shape}"
        )
    return TensorType(dtype, lhs.shape[:-2] + _matmul_dims(lhs, rhs, transpose_a, transpose_b))


def _matmul_dims(lhs: TensorType, rhs: TensorType, transpose_a: bool, transpose_b: bool) -> Shape:
    """(rows, cols) of op(lhs) @ op(rhs) over the last two axes; ShapeError on a mismatch."""
    rows, lhs_inner = _matrix_dims(lhs.shape, transpose_a)
    rhs_inner, cols = _matrix_dims(rhs.shape, transpose_b)
    if lhs_inner != rhs_inner:
        raise ShapeError(
            f"inner dims differ: {lhs_inner} of {lhs.shape} and {rhs_inner} of {rhs.shape} "
            f"(transpose_a={transpose_a}, transpose_b={transpose_b})"
        )
    return (rows, cols)


def _matmul(xp: Any, lhs: Any, rhs: Any, transpose_a: bool, transpose_b: bool) -> Any:
    if transpose_a:
        lhs = xp.swapaxes(lhs, -1, -2)
    if transpose_b:
        rhs = xp.swapaxes(rhs, -1, -2)
    return xp.matmul(lhs, rhs)


@batch_dot.ref
def _batch_dot_ref(
    lhs: np.ndarray, rhs: np.ndarray, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> np.ndarray:
    return _matmul(np, lhs, rhs, transpose_a, transpose_b)


@batch_dot.lower
def _batch_dot_lower(
    jx: Any, lhs: Any, rhs: Any, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> Any:
    return _matmul(jx.jnp, lhs, rhs, transpose_a, transpose_b)


# -- khatri_rao ---------------------------------------------------------------------------
khatri_rao = defop(
    "khatri_rao",
    inputs=["*args"],
    doc="Column-wise Kronecker product of matrices (M_i, N): shape (M_1*...*M_n, N), row "
    "index i_1*M_2*...*M_n + ... + i_n. MXNet: khatri_rao.",
)


@khatri_rao.infer
def _khatri_rao_infer(*args: TensorType) -> TensorType:
    dtype = same_dtype(*args)
    shapes = [a.shape for a in args]
    if any(len(s) != 2 for s in shapes) or len({s[1] for s in shapes}) != 1:
        raise ShapeError(f"expected matrices with one column count, got shapes {shapes}")
    return TensorType(dtype, (dim_prod(s[0] for s in shapes), shapes[0][1]))


def _khatri_rao(xp: Any, args: tuple) -> Any:
    result = args[0]
    for matrix in args[1:]:
        result = xp.einsum("ik,jk->ijk", result, matrix).reshape(-1, matrix.shape[1])
    return result


@khatri_rao.ref
def _khatri_rao_ref(*args: np.ndarray) -> np.ndarray:
    return _khatri_rao(np, args)


@khatri_rao.lower
def _khatri_rao_lower(jx: Any, *args: Any) -> Any:
    return _khatri_rao(jx.jnp, args)


# -- _linalg_gemm2 ------------------------------------------------------------------------
linalg_gemm2 = defop(
    "_linalg_gemm2",
    inputs=["A", "B"],
    attrs={
        "transpose_a": Attr.bool(False),
        "transpose_b": Attr.bool(False),
        "alpha": Attr.float(1.0),
        "axis": Attr.int(-2),
    },
    aliases=["linalg_gemm2"],
    doc="alpha * op(A) @ op(B), batched over leading dims; the matrix rows are on `axis`, "
    "the columns on the last axis (like swapaxes(axis, -2), gemm, swapaxes back). "
    "MXNet: _linalg_gemm2 (linalg.gemm2).",
)


def _rows_to_second_last(shape: Shape, axis: int) -> Shape:
    """The shape with `axis` and the second-to-last axis swapped (its own inverse)."""
    dims = list(shape)
    dims[axis], dims[-2] = dims[-2], dims[axis]
    return tuple(dims)


@linalg_gemm2.infer
def _gemm2_infer(
    a: TensorType, b: TensorType, *, transpose_a: bool, transpose_b: bool, axis: int, **_: Any
) -> TensorType:
    dtype = same_dtype(a, b)
    if a.rank < 2 or a.rank != b.rank:
        raise ShapeError(f"expected A and B of one rank >= 2, got {a.shape} and {b.shape}")
    axis = normalize_axis(axis, a.rank)
    if axis == a.rank - 1:
        raise ShapeError(f"axis {axis} holds the matrix columns; rows need another axis")
    a, b = (t.with_shape(_rows_to_second_last(t.shape, axis)) for t in (a, b))
    if a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"batch dims of A {a.shape} and B {b.shape} differ")
    out = a.shape[:-2] + _matmul_dims(a, b, transpose_a, transpose_b)
    return TensorType(dtype, _rows_to_second_last(out, axis))


def _gemm2(
    xp: Any, a: Any, b: Any, transpose_a: bool, transpose_b: bool, alpha: float, axis: int
) -> Any:
    a, b = xp.swapaxes(a, axis, -2), xp.swapaxes(b, axis, -2)
    out = _matmul(xp, a, b, transpose_a, transpose_b) * alpha
    return xp.swapaxes(out, axis, -2)


@linalg_gemm2.ref
def _gemm2_ref(
    a: np.ndarray, b: np.ndarray, *, transpose_a: bool, transpose_b: bool, alpha: float, axis: int
) -> np.ndarray:
    return _gemm2(np, a, b, transpose_a, transpose_b, alpha, axis % a.ndim)


@linalg_gemm2.lower
def _gemm2_lower(
    jx: Any, a: Any, b: Any, *, transpose_a: bool, transpose_b: bool, alpha: float, axis: int
) -> Any:
    return _gemm2(jx.jnp, a, b, transpose_a, transpose_b, alpha, axis % a.ndim)


# -- ONNX ---------------------------------------------------------------------------------
def _swap_perm(rank: int, first: int, second: int) -> list[int]:
    perm = list(range(rank))
    perm[first], perm[second] = perm[second], perm[first]
    return perm


def _transposed_onnx(o: Any, value: Any, transpose: bool, rank: int) -> Any:
    """The last two axes of a rank-`rank` value swapped, when asked."""
    return o.Transpose(value, perm=_swap_perm(rank, -1, -2)) if transpose else value


@dot.onnx
def _dot_onnx(o: Any, lhs: Any, rhs: Any, *, transpose_a: bool, transpose_b: bool, **_: Any) -> Any:
    # as a matrix product: lhs (kept, K) @ rhs (K, kept), then MXNet's output shape
    left = o.Transpose(lhs, perm=[*range(1, lhs.rank), 0]) if transpose_a else lhs
    right = o.Transpose(rhs, perm=[rhs.rank - 1, *range(rhs.rank - 1)]) if transpose_b else rhs
    left = o.Flatten(left, axis=lhs.rank - 1)
    right = o.Flatten(right, axis=1)
    return o.reshape(o.MatMul(left, right), o.output_types[0].shape, like=[lhs, rhs])


@batch_dot.onnx
def _batch_dot_onnx(
    o: Any, lhs: Any, rhs: Any, *, transpose_a: bool, transpose_b: bool, **_: Any
) -> Any:
    left = _transposed_onnx(o, lhs, transpose_a, lhs.rank)
    return o.MatMul(left, _transposed_onnx(o, rhs, transpose_b, rhs.rank))


@khatri_rao.onnx
def _khatri_rao_onnx(o: Any, *args: Any) -> Any:
    result = args[0]
    for matrix in args[1:]:
        product = o.Mul(o.unsqueeze(result, [1]), o.unsqueeze(matrix, [0]))
        result = o.Reshape(product, o.ints([-1, matrix.shape[1]]))
    return result if len(args) > 1 else o.Identity(result)


@linalg_gemm2.onnx
def _gemm2_onnx(
    o: Any, a: Any, b: Any, *, transpose_a: bool, transpose_b: bool, alpha: float, axis: int
) -> Any:
    axis = normalize_axis(axis, a.rank)
    perm = _swap_perm(a.rank, axis, a.rank - 2)
    moved = [o.Transpose(x, perm=perm) if axis != a.rank - 2 else x for x in (a, b)]
    left = _transposed_onnx(o, moved[0], transpose_a, a.rank)
    out = o.MatMul(left, _transposed_onnx(o, moved[1], transpose_b, a.rank))
    if alpha != 1.0:
        out = o.Mul(out, o.scalar(alpha, a.dtype))
    return o.Transpose(out, perm=perm) if axis != a.rank - 2 else out
