"""Shape manipulation: reshape, transpose, join/split, slicing, tiling, padding, broadcasting.

Names, attributes and checks follow MXNet 1.9 (src/operator/tensor/matrix_op-inl.h,
nn/concat.cc, slice_channel-inl.h, pad-inl.h, swapaxis-inl.h,
tensor/broadcast_reduce_op.h). Every op keeps its input dtype except shape_array and
size_array, which return int64 as MXNet does. Shapes are worked out once, by helpers that
take (possibly symbolic) dimensions, and `ref`/`lower` reuse them on concrete shapes.
NOTE: `ref` kernels return fresh arrays, never views of their inputs, so the reference
executor may reuse an input's buffer once the op has run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, ShapeError
from hybrix.ir.ops._infer import normalize_axes, normalize_axis, same_dtype
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import (
    Dim,
    Shape,
    TensorType,
    dim_add,
    dim_div,
    dim_mul,
    dim_prod,
    num_elements,
)

Array = Any  # a numpy array in `ref`, a jax array or tracer in `lower`


# -- dimension helpers ---------------------------------------------------------------
def _is_opaque(dim: Dim) -> bool:
    return isinstance(dim, str) and any(c in dim for c in "()+-")


def _same_size(a: Dim, b: Dim) -> bool:
    """Whether two element counts can be equal (opaque expressions are given the benefit)."""
    return a == b or _is_opaque(a) or _is_opaque(b)


def _show(shape: Sequence[Dim]) -> str:
    """A shape as MXNet prints it: (N, 3, 4)."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape(array: Array) -> Shape:
    return tuple(int(d) for d in array.shape)


def _reshaped(jx: Any, data: Array, target: Callable[[Shape], Shape]) -> Array:
    """jnp.reshape to target(shape), also for jax.export's symbolic dimensions.

    NOTE: symbolic jax dims are named for our shape arithmetic (which handles products
    and exact quotients of names) and substituted back into the result.
    """
    symbols: dict[str, Any] = {}
    shape = []
    for dim in data.shape:
        if isinstance(dim, int | np.integer):
            shape.append(int(dim))
        else:
            symbols[f"_jx{len(symbols)}"] = dim
            shape.append(f"_jx{len(symbols) - 1}")
    return jx.jnp.reshape(data, tuple(_substitute(d, symbols) for d in target(tuple(shape))))


def _substitute(dim: Dim, symbols: dict[str, Any]) -> Any:
    if isinstance(dim, int):
        return dim
    value: Any = 1
    for part in dim.split("*"):
        if part.isdigit():
            value = value * int(part)
        elif part in symbols:
            value = value * symbols[part]
        else:
            raise ShapeError(f"cannot express dimension {dim} with symbolic shapes")
    return value


# -- Reshape -------------------------------------------------------------------------
def _take(source: Sequence[Dim], start: int, count: int, code: int) -> list[Dim]:
    if start + count > len(source):
        raise ShapeError(f"code {code} needs {count} more input dimension(s), none are left")
    return list(source[start : start + count])


def _split_dim(dim: Dim, first: int, second: int) -> list[Dim]:
    """MXNet's -4: split `dim` into (first, second); one of them may be -1."""
    if first == -1 and second == -1:
        raise ShapeError("code -4 cannot split into two inferred (-1) dimensions")
    if (first < 1 and first != -1) or (second < 1 and second != -1):
        raise ShapeError(f"code -4 needs two positive sizes or -1, got {first}, {second}")
    left: Dim = dim_div(dim, second) if first == -1 else first
    right: Dim = dim_div(dim, first) if second == -1 else second
    if not _same_size(dim_mul(left, right), dim):
        raise ShapeError(f"code -4 cannot split dimension {dim} into {left} x {right}")
    return [left, right]


def _apply_codes(source: Sequence[Dim], codes: Sequence[int]) -> tuple[list[Dim], int | None]:
    """Translate MXNet shape codes left to right (InferReshapeShape in matrix_op-inl.h)."""
    out: list[Dim] = []
    inferred: int | None = None
    src = i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            out += _take(source, src, 1, code)
            src += 1
        elif code == -1:
            if inferred is not None:
                raise ShapeError("at most one dimension can be -1")
            inferred = len(out)
            out.append(1)
            src += 1
        elif code == -2:
            out += source[src:]
            src = len(source)
        elif code == -3:
            first, second = _take(source, src, 2, code)
            out.append(dim_mul(first, second))
            src += 2
        elif code == -4:
            if i + 2 >= len(codes):
                raise ShapeError("code -4 must be followed by two sizes")
            out += _split_dim(_take(source, src, 1, code)[0], codes[i + 1], codes[i + 2])
            src += 1
            i += 2
        elif code > 0:
            out.append(code)
            src += 1
        else:
            raise ShapeError(f"unknown shape code {code}; expected a size or 0, -1, -2, -3, -4")
        i += 1
    return out, inferred


def _fill_inferred(out: list[Dim], inferred: int | None, total: Dim) -> list[Dim]:
    if inferred is None:
        return out
    known = dim_prod(out)
    if known == 0:
        raise ShapeError("cannot infer the -1 dimension next to a zero-size dimension")
    out[inferred] = dim_div(total, known)
    return out


def reshape_shape(shape: Shape, codes: Sequence[int], reverse: bool = False) -> Shape:
    """The output shape of MXNet's Reshape for an input `shape` and shape `codes`.

    With `reverse`, codes are matched against the input from the right: both sequences
    are reversed, translated, and the result reversed back, as MXNet does.
    """
    source = list(reversed(shape)) if reverse else list(shape)
    target = list(reversed(codes)) if reverse else list(codes)
    try:
        out, inferred = _apply_codes(source, target)
        out = _fill_inferred(out, inferred, num_elements(shape))
    except ShapeError as e:
        raise ShapeError(
            f"shape codes {tuple(codes)} (reverse={reverse}) cannot reshape "
            f"input shape {_show(shape)}: {e}"
        ) from None
    result = tuple(reversed(out)) if reverse else tuple(out)
    if not _same_size(num_elements(result), num_elements(shape)):
        raise ShapeError(
            f"shape codes {tuple(codes)} (reverse={reverse}) give shape {_show(result)} of "
            f"{num_elements(result)} elements; input shape {_show(shape)} has "
            f"{num_elements(shape)}"
        )
    return result


def _reshape_target(shape: Shape, attrs: dict[str, Any]) -> Shape:
    if attrs["target_shape"] or attrs["keep_highest"]:
        raise AttrError(
            "Reshape: target_shape and keep_highest are MXNet's deprecated attributes and "
            f"are not supported (got target_shape={attrs['target_shape']}, keep_highest="
            f"{attrs['keep_highest']}); use shape=... with codes 0/-1/-2/-3/-4 instead"
        )
    if not attrs["shape"]:
        raise AttrError(f"Reshape: needs a non-empty shape for input shape {_show(shape)}")
    return reshape_shape(shape, attrs["shape"], attrs["reverse"])


reshape = defop(
    "Reshape",
    inputs=["data"],
    attrs={
        "shape": Attr.ints(()),
        "reverse": Attr.bool(False),
        "target_shape": Attr.ints((), doc="deprecated in MXNet; rejected when set"),
        "keep_highest": Attr.bool(False, doc="deprecated in MXNet; rejected when set"),
    },
    aliases=["reshape"],
    inplace={0: 0},
    doc="Reshape with MXNet's codes 0 (copy), -1 (infer), -2 (copy rest), -3 (merge two), "
    "-4 (split one into the next two); reverse=True matches from the right. MXNet: Reshape.",
)


@reshape.infer
def _reshape_infer(data: TensorType, **attrs: Any) -> TensorType:
    return data.with_shape(_reshape_target(data.shape, attrs))


@reshape.ref
def _reshape_ref(data: Array, **attrs: Any) -> Array:
    return np.reshape(data, _reshape_target(_shape(data), attrs)).copy()


@reshape.lower
def _reshape_lower(jx: Any, data: Array, **attrs: Any) -> Array:
    return _reshaped(jx, data, lambda shape: _reshape_target(shape, attrs))


# -- Flatten -------------------------------------------------------------------------
def _flatten_shape(shape: Shape) -> Shape:
    if not shape:
        raise ShapeError("needs an input of rank 1 or more, got a scalar")
    return (shape[0], num_elements(shape[1:]))


flatten = defop(
    "Flatten",
    inputs=["data"],
    aliases=["flatten"],
    inplace={0: 0},
    doc="(d1, d2, ..., dk) -> (d1, d2*...*dk); rank 1 gives (d1, 1). MXNet: Flatten.",
)


@flatten.infer
def _flatten_infer(data: TensorType) -> TensorType:
    return data.with_shape(_flatten_shape(data.shape))


@flatten.ref
def _flatten_ref(data: Array) -> Array:
    return np.reshape(data, _flatten_shape(_shape(data))).copy()


@flatten.lower
def _flatten_lower(jx: Any, data: Array) -> Array:
    return _reshaped(jx, data, _flatten_shape)


# -- transpose, SwapAxis, expand_dims, squeeze ---------------------------------------
def _permutation(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    if not axes:
        return tuple(reversed(range(rank)))
    if len(axes) != rank:
        raise ShapeError(f"axes {tuple(axes)} must name each of the {rank} axes once")
    perm = tuple(normalize_axis(a, rank) for a in axes)
    if sorted(perm) != list(range(rank)):
        raise ShapeError(f"axes {tuple(axes)} are not a permutation of {rank} axes")
    return perm


transpose = defop(
    "transpose",
    inputs=["data"],
    attrs={"axes": Attr.ints((), doc="a permutation; () reverses the axes")},
    doc="Permute the axes (default: reverse them). MXNet: transpose.",
)


@transpose.infer
def _transpose_infer(data: TensorType, *, axes: tuple[int, ...]) -> TensorType:
    perm = _permutation(axes, data.rank)
    return data.with_shape(data.shape[a] for a in perm)


@transpose.ref
def _transpose_ref(data: Array, *, axes: tuple[int, ...]) -> Array:
    return np.transpose(data, _permutation(axes, data.ndim)).copy()


@transpose.lower
def _transpose_lower(jx: Any, data: Array, *, axes: tuple[int, ...]) -> Array:
    return jx.jnp.transpose(data, _permutation(axes, data.ndim))


def _swap_perm(rank: int, dim1: int, dim2: int) -> list[int]:
    perm = list(range(rank))
    first, second = normalize_axis(dim1, rank), normalize_axis(dim2, rank)
    perm[first], perm[second] = perm[second], perm[first]
    return perm


swap_axis = defop(
    "SwapAxis",
    inputs=["data"],
    attrs={"dim1": Attr.int(0), "dim2": Attr.int(0)},
    aliases=["swapaxes"],
    doc="Interchange axes dim1 and dim2 (negative axes count from the end). MXNet: SwapAxis.",
)


@swap_axis.infer
def _swap_axis_infer(data: TensorType, *, dim1: int, dim2: int) -> TensorType:
    return data.with_shape(data.shape[a] for a in _swap_perm(data.rank, dim1, dim2))


@swap_axis.ref
def _swap_axis_ref(data: Array, *, dim1: int, dim2: int) -> Array:
    return np.transpose(data, _swap_perm(data.ndim, dim1, dim2)).copy()


@swap_axis.lower
def _swap_axis_lower(jx: Any, data: Array, *, dim1: int, dim2: int) -> Array:
    return jx.jnp.transpose(data, _swap_perm(data.ndim, dim1, dim2))


def _expand_shape(shape: Shape, axis: int) -> Shape:
    position = normalize_axis(axis, len(shape) + 1)
    return (*shape[:position], 1, *shape[position:])


expand_dims = defop(
    "expand_dims",
    inputs=["data"],
    attrs={"axis": Attr.int(doc="position of the new axis, in [-ndim-1, ndim]")},
    inplace={0: 0},
    doc="Insert an axis of size 1. MXNet: expand_dims.",
)


@expand_dims.infer
def _expand_dims_infer(data: TensorType, *, axis: int) -> TensorType:
    return data.with_shape(_expand_shape(data.shape, axis))


@expand_dims.ref
def _expand_dims_ref(data: Array, *, axis: int) -> Array:
    return np.reshape(data, _expand_shape(_shape(data), axis)).copy()


@expand_dims.lower
def _expand_dims_lower(jx: Any, data: Array, *, axis: int) -> Array:
    return _reshaped(jx, data, lambda shape: _expand_shape(shape, axis))


def _squeeze_shape(shape: Shape, axis: tuple[int, ...] | None) -> Shape:
    """numpy.squeeze, except that MXNet keeps one axis: squeezing (1, 1) gives (1,)."""
    if axis is None:
        drop = {i for i, d in enumerate(shape) if d == 1}
    else:
        drop = set(normalize_axes(axis, len(shape)))
        wrong = [(i, shape[i]) for i in sorted(drop) if shape[i] != 1]
        if wrong:
            raise ShapeError(
                f"can only squeeze axes of size 1; axis {wrong[0][0]} of "
                f"shape {_show(shape)} has size {wrong[0][1]}"
            )
    kept = tuple(d for i, d in enumerate(shape) if i not in drop)
    return kept or (1,)


squeeze = defop(
    "squeeze",
    inputs=["data"],
    attrs={"axis": Attr.ints(None, doc="axes of size 1 to remove; None: every one")},
    inplace={0: 0},
    doc="Remove axes of size 1; keeps at least one axis, as MXNet does. MXNet: squeeze.",
)


@squeeze.infer
def _squeeze_infer(data: TensorType, *, axis: tuple[int, ...] | None) -> TensorType:
    return data.with_shape(_squeeze_shape(data.shape, axis))


@squeeze.ref
def _squeeze_ref(data: Array, *, axis: tuple[int, ...] | None) -> Array:
    return np.reshape(data, _squeeze_shape(_shape(data), axis)).copy()


@squeeze.lower
def _squeeze_lower(jx: Any, data: Array, *, axis: tuple[int, ...] | None) -> Array:
    return _reshaped(jx, data, lambda shape: _squeeze_shape(shape, axis))


# -- Concat, stack, split ------------------------------------------------------------
def _check_num_args(count: int, num_args: int | None) -> None:
    if count == 0:
        raise ShapeError("needs at least one input")
    if num_args is not None and num_args != count:
        raise ShapeError(f"num_args={num_args} but {count} inputs were given")


def _concat_shape(shapes: Sequence[Shape], dim: int) -> Shape:
    rank = len(shapes[0])
    axis = normalize_axis(dim, rank)
    total: Dim = 0
    for position, shape in enumerate(shapes):
        others = [d for i, d in enumerate(shape) if i != axis]
        expected = [d for i, d in enumerate(shapes[0]) if i != axis]
        if len(shape) != rank or others != expected:
            raise ShapeError(
                f"input {position} has shape {_show(shape)}; expected {_show(shapes[0])} "
                f"except along dim {dim}"
            )
        total = dim_add(total, shape[axis])
    return (*shapes[0][:axis], total, *shapes[0][axis + 1 :])


concat = defop(
    "Concat",
    inputs=["*data"],
    attrs={"dim": Attr.int(1), "num_args": Attr.int(None, doc="checked when given")},
    aliases=["concat"],
    doc="Join arrays along an existing axis `dim`. MXNet: Concat.",
)


@concat.infer
def _concat_infer(*data: TensorType, dim: int, num_args: int | None) -> TensorType:
    _check_num_args(len(data), num_args)
    return TensorType(same_dtype(*data), _concat_shape([t.shape for t in data], dim))


@concat.ref
def _concat_ref(*data: Array, dim: int, num_args: int | None) -> Array:
    _check_num_args(len(data), num_args)
    return np.concatenate(data, axis=dim)


@concat.lower
def _concat_lower(jx: Any, *data: Array, dim: int, num_args: int | None) -> Array:
    return jx.jnp.concatenate(data, axis=dim)


def _stack_shape(shapes: Sequence[Shape], axis: int) -> Shape:
    for position, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ShapeError(
                f"input {position} has shape {_show(shape)}; expected {_show(shapes[0])}"
            )
    position = normalize_axis(axis, len(shapes[0]) + 1)
    return (*shapes[0][:position], len(shapes), *shapes[0][position:])


stack = defop(
    "stack",
    inputs=["*data"],
    attrs={"axis": Attr.int(0), "num_args": Attr.int(None, doc="checked when given")},
    doc="Join arrays of one shape along a new axis. MXNet: stack.",
)


@stack.infer
def _stack_infer(*data: TensorType, axis: int, num_args: int | None) -> TensorType:
    _check_num_args(len(data), num_args)
    return TensorType(same_dtype(*data), _stack_shape([t.shape for t in data], axis))


@stack.ref
def _stack_ref(*data: Array, axis: int, num_args: int | None) -> Array:
    _check_num_args(len(data), num_args)
    return np.stack(data, axis=axis)


@stack.lower
def _stack_lower(jx: Any, *data: Array, axis: int, num_args: int | None) -> Array:
    return jx.jnp.stack(data, axis=axis)


def _split_part(shape: Shape, num_outputs: int, axis: int, squeeze_axis: bool) -> Shape:
    """The shape of each of split's outputs (SliceChannel in slice_channel-inl.h)."""
    position = normalize_axis(axis, len(shape))
    if num_outputs < 1:
        raise ShapeError(f"num_outputs must be at least 1, got {num_outputs}")
    dim = shape[position]
    try:
        part = dim_div(dim, num_outputs)
    except ShapeError:
        raise ShapeError(
            f"axis {axis} of shape {_show(shape)} (size {dim}) does not split evenly "
            f"into {num_outputs} outputs"
        ) from None
    if not squeeze_axis:
        return (*shape[:position], part, *shape[position + 1 :])
    if part != 1:
        raise ShapeError(
            f"squeeze_axis needs axis {axis} of shape {_show(shape)} to have size "
            f"num_outputs={num_outputs}, got {dim}"
        )
    return (*shape[:position], *shape[position + 1 :])


split = defop(
    "split",
    inputs=["data"],
    outputs=lambda attrs: [f"output{i}" for i in range(int(attrs["num_outputs"]))],
    attrs={"num_outputs": Attr.int(), "axis": Attr.int(1), "squeeze_axis": Attr.bool(False)},
    aliases=["SliceChannel"],
    doc="Split evenly into num_outputs arrays along `axis`; squeeze_axis drops that axis "
    "(its size must then equal num_outputs). MXNet: SliceChannel, split.",
)


@split.infer
def _split_infer(
    data: TensorType, *, num_outputs: int, axis: int, squeeze_axis: bool
) -> tuple[TensorType, ...]:
    part = data.with_shape(_split_part(data.shape, num_outputs, axis, squeeze_axis))
    return (part,) * num_outputs


@split.ref
def _split_ref(
    data: Array, *, num_outputs: int, axis: int, squeeze_axis: bool
) -> tuple[Array, ...]:
    part = _split_part(_shape(data), num_outputs, axis, squeeze_axis)
    return tuple(np.reshape(p, part).copy() for p in np.split(data, num_outputs, axis=axis))


@split.lower
def _split_lower(
    jx: Any, data: Array, *, num_outputs: int, axis: int, squeeze_axis: bool
) -> tuple[Array, ...]:
    pieces = jx.jnp.split(data, num_outputs, axis=axis)
    if not squeeze_axis:
        return tuple(pieces)
    return tuple(_reshaped(jx, p, lambda shape: _squeeze_shape(shape, (axis,))) for p in pieces)


# -- slice, slice_axis, slice_like ---------------------------------------------------
def _slices(
    rank: int, begin: Sequence[int | None], end: Sequence[int | None], step: Sequence[int | None]
) -> list[slice]:
    """MXNet's slice arguments as Python slices (GetIndexRange clamps exactly like them)."""
    if len(begin) != len(end):
        raise ShapeError(f"begin {tuple(begin)} and end {tuple(end)} differ in length")
    if len(begin) > rank:
        raise ShapeError(f"begin {tuple(begin)} slices more axes than the input's {rank}")
    if step and len(step) != len(begin):
        raise ShapeError(f"step {tuple(step)} and begin {tuple(begin)} differ in length")
    steps = list(step) or [None] * len(begin)
    if 0 in steps:
        raise ShapeError(f"step {tuple(step)} has a zero entry")
    return [slice(b, e, s) for b, e, s in zip(begin, end, steps, strict=True)]


def _symbolic_slice_len(dim: str, start: int | None, stop: int | None) -> Dim:
    """The length of dim[start:stop] (step 1) when it does not depend on the unknown dim."""
    if start in (None, 0) and stop is None:
        return dim
    start = start or 0
    if start >= 0 and stop is not None and stop >= 0:
        return max(stop - start, 0)
    if start < 0 and (stop is None or stop < 0):
        return max((stop or 0) - start, 0)
    raise ShapeError(
        f"slicing [{start}:{stop}] of the symbolic dimension {dim} gives a "
        "size that depends on it; give a static shape"
    )


def _slice_len(dim: Dim, piece: slice) -> Dim:
    if isinstance(dim, int):
        return len(range(*piece.indices(dim)))
    if piece.step not in (None, 1):
        raise ShapeError(
            f"slicing the symbolic dimension {dim} with step {piece.step} needs a static shape"
        )
    return _symbolic_slice_len(dim, piece.start, piece.stop)


def _slice_shape(shape: Shape, pieces: Sequence[slice]) -> Shape:
    sliced = [_slice_len(d, p) for d, p in zip(shape, pieces, strict=False)]
    return (*sliced, *shape[len(pieces) :])


slice_op = defop(
    "slice",
    inputs=["data"],
    attrs={
        "begin": Attr.opt_ints(),
        "end": Attr.opt_ints(),
        "step": Attr.opt_ints((), doc="None entries mean 1"),
    },
    aliases=["crop"],
    doc="data[b0:e0:s0, b1:e1:s1, ...] over the first len(begin) axes, None entries and "
    "negative values as in Python slicing. MXNet: slice (crop is its deprecated alias).",
)


@slice_op.infer
def _slice_infer(data: TensorType, *, begin: Any, end: Any, step: Any) -> TensorType:
    return data.with_shape(_slice_shape(data.shape, _slices(data.rank, begin, end, step)))


@slice_op.ref
def _slice_ref(data: Array, *, begin: Any, end: Any, step: Any) -> Array:
    return data[tuple(_slices(data.ndim, begin, end, step))].copy()


@slice_op.lower
def _slice_lower(jx: Any, data: Array, *, begin: Any, end: Any, step: Any) -> Array:
    return data[tuple(_slices(data.ndim, begin, end, step))]


def _axis_range(dim: Dim, begin: int, end: int | None) -> tuple[int, int | None]:
    """MXNet's slice_axis bounds (GetSliceAxisParams): an empty slice is an error."""
    if not isinstance(dim, int):
        return begin, end
    if dim == 0:
        return 0, 0
    start = begin + dim if begin < 0 else begin
    stop = dim if end is None else (end + dim if end < 0 else end)
    if not 0 <= start < stop <= dim:
        raise ShapeError(
            f"begin={begin}, end={end} select nothing from an axis of size {dim}; "
            "expected 0 <= begin < end <= size after counting negatives from the end"
        )
    return start, stop


def _slice_axis_shape(shape: Shape, axis: int, begin: int, end: int | None) -> Shape:
    position = normalize_axis(axis, len(shape))
    start, stop = _axis_range(shape[position], begin, end)
    size = _slice_len(shape[position], slice(start, stop))
    return (*shape[:position], size, *shape[position + 1 :])


def _slice_axis_index(rank: int, axis: int, start: int, stop: int | None) -> tuple[slice, ...]:
    pieces = [slice(None)] * rank
    pieces[normalize_axis(axis, rank)] = slice(start, stop)
    return tuple(pieces)


slice_axis = defop(
    "slice_axis",
    inputs=["data"],
    attrs={"axis": Attr.int(), "begin": Attr.int(), "end": Attr.int(None, doc="None: to the end")},
    doc="data[begin:end] along `axis`; negative bounds count from the end, an empty result "
    "is an error as in MXNet. MXNet: slice_axis.",
)


@slice_axis.infer
def _slice_axis_infer(data: TensorType, *, axis: int, begin: int, end: int | None) -> TensorType:
    return data.with_shape(_slice_axis_shape(data.shape, axis, begin, end))


@slice_axis.ref
def _slice_axis_ref(data: Array, *, axis: int, begin: int, end: int | None) -> Array:
    start, stop = _axis_range(data.shape[normalize_axis(axis, data.ndim)], begin, end)
    return data[_slice_axis_index(data.ndim, axis, start, stop)].copy()


@slice_axis.lower
def _slice_axis_lower(jx: Any, data: Array, *, axis: int, begin: int, end: int | None) -> Array:
    start, stop = _axis_range(data.shape[normalize_axis(axis, data.ndim)], begin, end)
    return data[_slice_axis_index(data.ndim, axis, start, stop)]


def _slice_like_shape(shape: Shape, like: Shape, axes: tuple[int, ...]) -> Shape:
    """SliceLikeShape: `axes` index both inputs (negative ones counted on data's rank)."""
    if not axes:
        if len(shape) != len(like):
            raise ShapeError(
                f"shape_like {_show(like)} and data {_show(shape)} differ in rank; give axes"
            )
        axes = tuple(range(len(shape)))
    out = list(shape)
    for axis in normalize_axes(axes, len(shape)):
        if axis >= len(like):
            raise ShapeError(f"axis {axis} is out of range for shape_like {_show(like)}")
        if (
            isinstance(like[axis], int)
            and isinstance(shape[axis], int)
            and like[axis] > shape[axis]
        ):
            raise ShapeError(
                f"shape_like {_show(like)} is larger than data {_show(shape)} on axis {axis}"
            )
        out[axis] = like[axis]
    return tuple(out)


slice_like = defop(
    "slice_like",
    inputs=["data", "shape_like"],
    attrs={"axes": Attr.ints((), doc="axes to slice; (): all, ranks must then match")},
    nondiff_inputs=("shape_like",),
    doc="Slice data from the start to shape_like's size on `axes`. MXNet: slice_like.",
)


@slice_like.infer
def _slice_like_infer(data: TensorType, shape_like: TensorType, *, axes: Any) -> TensorType:
    return data.with_shape(_slice_like_shape(data.shape, shape_like.shape, axes))


@slice_like.ref
def _slice_like_ref(data: Array, shape_like: Array, *, axes: Any) -> Array:
    out = _slice_like_shape(_shape(data), _shape(shape_like), axes)
    return data[tuple(slice(0, d) for d in out)].copy()


@slice_like.lower
def _slice_like_lower(jx: Any, data: Array, shape_like: Array, *, axes: Any) -> Array:
    out = _slice_like_shape(_shape(data), _shape(shape_like), axes)
    return data[tuple(slice(0, d) for d in out)]


# -- tile, repeat, Pad, reverse ------------------------------------------------------
def _tile_shape(shape: Shape, reps: tuple[int, ...]) -> Shape:
    if any(r < 0 for r in reps):
        raise ShapeError(f"reps {reps} must be non-negative")
    rank = max(len(shape), len(reps))
    dims = (1,) * (rank - len(shape)) + tuple(shape)
    counts = (1,) * (rank - len(reps)) + tuple(reps)
    return tuple(dim_mul(d, r) for d, r in zip(dims, counts, strict=True))


tile = defop(
    "tile",
    inputs=["data"],
    attrs={"reps": Attr.ints()},
    doc="Repeat the whole array reps[i] times along axis i (numpy.tile). MXNet: tile.",
)


@tile.infer
def _tile_infer(data: TensorType, *, reps: tuple[int, ...]) -> TensorType:
    return data.with_shape(_tile_shape(data.shape, reps))


@tile.ref
def _tile_ref(data: Array, *, reps: tuple[int, ...]) -> Array:
    _tile_shape(_shape(data), reps)
    return np.tile(data, reps)


@tile.lower
def _tile_lower(jx: Any, data: Array, *, reps: tuple[int, ...]) -> Array:
    return jx.jnp.tile(data, reps)


def _repeat_shape(shape: Shape, repeats: int, axis: int | None) -> Shape:
    if repeats < 0:
        raise ShapeError(f"repeats must be non-negative, got {repeats}")
    if axis is None:
        return (dim_mul(num_elements(shape), repeats),)
    position = normalize_axis(axis, len(shape))
    return (*shape[:position], dim_mul(shape[position], repeats), *shape[position + 1 :])


repeat = defop(
    "repeat",
    inputs=["data"],
    attrs={"repeats": Attr.int(), "axis": Attr.int(None, doc="None: repeat the flattened array")},
    doc="Repeat each element `repeats` times along `axis` (numpy.repeat). MXNet: repeat.",
)


@repeat.infer
def _repeat_infer(data: TensorType, *, repeats: int, axis: int | None) -> TensorType:
    return data.with_shape(_repeat_shape(data.shape, repeats, axis))


@repeat.ref
def _repeat_ref(data: Array, *, repeats: int, axis: int | None) -> Array:
    _repeat_shape(_shape(data), repeats, axis)
    return np.repeat(data, repeats, axis=axis)


@repeat.lower
def _repeat_lower(jx: Any, data: Array, *, repeats: int, axis: int | None) -> Array:
    return jx.jnp.repeat(data, repeats, axis=axis)


def _pad_pairs(shape: Shape, mode: str, pad_width: tuple[int, ...]) -> list[tuple[int, int]]:
    """pad_width as (before, after) per axis, checked as MXNet checks reflect padding."""
    if len(pad_width) != 2 * len(shape):
        raise ShapeError(
            f"pad_width {pad_width} must hold 2 entries per axis of shape {_show(shape)}"
        )
    if any(p < 0 for p in pad_width):
        raise ShapeError(f"pad_width {pad_width} must be non-negative")
    pairs = [(pad_width[2 * i], pad_width[2 * i + 1]) for i in range(len(shape))]
    for axis, (dim, (before, after)) in enumerate(zip(shape, pairs, strict=True)):
        if mode == "constant" or not (before or after) or not isinstance(dim, int):
            continue
        if mode == "reflect" and max(before, after) >= dim:
            raise ShapeError(
                f"reflect padding {before, after} on axis {axis} needs a size "
                f"larger than the padding; shape is {_show(shape)}"
            )
        if dim == 0:
            raise ShapeError(
                f"{mode} padding cannot extend the empty axis {axis} of {_show(shape)}"
            )
    return pairs


def _pad_shape(shape: Shape, mode: str, pad_width: tuple[int, ...]) -> Shape:
    pairs = _pad_pairs(shape, mode, pad_width)
    return tuple(dim_add(d, b + a) for d, (b, a) in zip(shape, pairs, strict=True))


pad = defop(
    "Pad",
    inputs=["data"],
    attrs={
        "mode": Attr.str("constant", choices=("constant", "edge", "reflect")),
        "pad_width": Attr.ints(doc="(before, after) for each axis in turn"),
        "constant_value": Attr.float(0.0),
    },
    aliases=["pad"],
    doc="Pad every axis by pad_width (constant, edge or reflect). MXNet: Pad, pad; MXNet "
    "itself only pads the last two/three axes of 4-D/5-D inputs, this op takes any axes.",
)


@pad.infer
def _pad_infer(data: TensorType, *, mode: str, pad_width: Any, constant_value: float) -> TensorType:
    return data.with_shape(_pad_shape(data.shape, mode, pad_width))


@pad.ref
def _pad_ref(data: Array, *, mode: str, pad_width: Any, constant_value: float) -> Array:
    pairs = _pad_pairs(_shape(data), mode, pad_width)
    if mode == "constant":
        return np.pad(data, pairs, mode="constant", constant_values=constant_value)
    return np.pad(data, pairs, mode="edge" if mode == "edge" else "reflect")


@pad.lower
def _pad_lower(jx: Any, data: Array, *, mode: str, pad_width: Any, constant_value: float) -> Array:
    pairs = _pad_pairs(_shape(data), mode, pad_width)
    if mode == "constant":
        value = jx.jnp.asarray(constant_value, dtype=data.dtype)
        return jx.jnp.pad(data, pairs, mode="constant", constant_values=value)
    return jx.jnp.pad(data, pairs, mode=mode)


reverse = defop(
    "reverse",
    inputs=["data"],
    attrs={"axis": Attr.ints()},
    aliases=["flip"],
    doc="Reverse the order of elements along `axis`. MXNet: reverse, flip.",
)


@reverse.infer
def _reverse_infer(data: TensorType, *, axis: tuple[int, ...]) -> TensorType:
    normalize_axes(axis, data.rank)
    return data


@reverse.ref
def _reverse_ref(data: Array, *, axis: tuple[int, ...]) -> Array:
    return np.flip(data, normalize_axes(axis, data.ndim)).copy()


@reverse.lower
def _reverse_lower(jx: Any, data: Array, *, axis: tuple[int, ...]) -> Array:
    return jx.jnp.flip(data, normalize_axes(axis, data.ndim))


# -- broadcast_to, broadcast_axis, broadcast_like, reshape_like -------------------------
def _broadcast_dim(dim: Dim, target: Dim, where: str) -> Dim:
    """`dim` stretched to `target`; a symbolic `dim` is trusted to be 1 or `target`."""
    if dim == target or dim == 1 or isinstance(dim, str):
        return target
    raise ShapeError(f"{where}: size {dim} cannot be broadcast to {target}; expected 1 or {target}")


def _broadcast_to_shape(shape: Shape, target: tuple[int, ...]) -> Shape:
    if len(target) != len(shape):
        raise ShapeError(f"shape {_show(target)} and input shape {_show(shape)} differ in rank")
    return tuple(
        d if t == 0 else _broadcast_dim(d, t, f"axis {i} of {_show(shape)} to {_show(target)}")
        for i, (d, t) in enumerate(zip(shape, target, strict=True))
    )


broadcast_to = defop(
    "broadcast_to",
    inputs=["data"],
    attrs={"shape": Attr.ints((), doc="target shape of the same rank; 0 keeps the input's")},
    doc="Broadcast size-1 axes to `shape`. MXNet: broadcast_to.",
)


@broadcast_to.infer
def _broadcast_to_infer(data: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    return data.with_shape(_broadcast_to_shape(data.shape, shape))


@broadcast_to.ref
def _broadcast_to_ref(data: Array, *, shape: tuple[int, ...]) -> Array:
    return np.broadcast_to(data, _broadcast_to_shape(_shape(data), shape)).copy()


@broadcast_to.lower
def _broadcast_to_lower(jx: Any, data: Array, *, shape: tuple[int, ...]) -> Array:
    return jx.jnp.broadcast_to(data, _broadcast_to_shape(_shape(data), shape))


def _axes_to_sizes(shape: Shape, axes: Sequence[int], sizes: Sequence[Dim]) -> Shape:
    """`shape` with each axis in `axes` (of size 1) set to the matching size."""
    if len(axes) != len(sizes):
        raise ShapeError(f"axes {tuple(axes)} and sizes {tuple(sizes)} differ in length")
    out = list(shape)
    for axis, size in zip(axes, sizes, strict=True):
        position = normalize_axis(axis, len(shape))
        if shape[position] != 1:
            raise ShapeError(
                f"axis {axis} of shape {_show(shape)} has size {shape[position]}; "
                "only axes of size 1 can be broadcast"
            )
        out[position] = size
    return tuple(out)


broadcast_axis = defop(
    "broadcast_axis",
    inputs=["data"],
    attrs={"axis": Attr.ints(()), "size": Attr.ints(())},
    aliases=["broadcast_axes"],
    doc="Broadcast the size-1 axes `axis` to `size`. MXNet: broadcast_axis, broadcast_axes.",
)


@broadcast_axis.infer
def _broadcast_axis_infer(data: TensorType, *, axis: Any, size: Any) -> TensorType:
    return data.with_shape(_axes_to_sizes(data.shape, axis, size))


@broadcast_axis.ref
def _broadcast_axis_ref(data: Array, *, axis: Any, size: Any) -> Array:
    return np.broadcast_to(data, _axes_to_sizes(_shape(data), axis, size)).copy()


@broadcast_axis.lower
def _broadcast_axis_lower(jx: Any, data: Array, *, axis: Any, size: Any) -> Array:
    return jx.jnp.broadcast_to(data, _axes_to_sizes(_shape(data), axis, size))


def _broadcast_like_shape(
    lhs: Shape, rhs: Shape, lhs_axes: tuple[int, ...] | None, rhs_axes: tuple[int, ...] | None
) -> Shape:
    """BroadcastLikeShape: all of rhs's shape, or rhs's sizes on rhs_axes to lhs_axes."""
    if lhs_axes is None and rhs_axes is None:
        if len(lhs) != len(rhs):
            raise ShapeError(
                f"lhs {_show(lhs)} and rhs {_show(rhs)} differ in rank; give lhs_axes/rhs_axes"
            )
        return tuple(
            _broadcast_dim(d, t, f"axis {i} of lhs {_show(lhs)} to rhs {_show(rhs)}")
            for i, (d, t) in enumerate(zip(lhs, rhs, strict=True))
        )
    if lhs_axes is None or rhs_axes is None:
        raise ShapeError("lhs_axes and rhs_axes must be given together")
    sizes = [rhs[normalize_axis(a, len(rhs))] for a in rhs_axes]
    return _axes_to_sizes(lhs, lhs_axes, sizes)


broadcast_like = defop(
    "broadcast_like",
    inputs=["lhs", "rhs"],
    attrs={"lhs_axes": Attr.ints(None), "rhs_axes": Attr.ints(None)},
    nondiff_inputs=("rhs",),
    doc="Broadcast lhs to rhs's shape (or rhs's sizes on rhs_axes to lhs_axes). "
    "MXNet: broadcast_like.",
)


@broadcast_like.infer
def _broadcast_like_infer(lhs: TensorType, rhs: TensorType, **attrs: Any) -> TensorType:
    return lhs.with_shape(_broadcast_like_shape(lhs.shape, rhs.shape, **attrs))


@broadcast_like.ref
def _broadcast_like_ref(lhs: Array, rhs: Array, **attrs: Any) -> Array:
    return np.broadcast_to(lhs, _broadcast_like_shape(_shape(lhs), _shape(rhs), **attrs)).copy()


@broadcast_like.lower
def _broadcast_like_lower(jx: Any, lhs: Array, rhs: Array, **attrs: Any) -> Array:
    return jx.jnp.broadcast_to(lhs, _broadcast_like_shape(_shape(lhs), _shape(rhs), **attrs))


def _bound(value: int | None, default: int, rank: int, name: str) -> int:
    bound = default if value is None else (value + rank if value < 0 else value)
    if not 0 <= bound <= rank:
        raise ShapeError(f"{name}={value} is out of range for rank {rank}")
    return bound


def _reshape_like_shape(lhs: Shape, rhs: Shape, **attrs: int | None) -> Shape:
    """lhs[:lhs_begin] + rhs[rhs_begin:rhs_end] + lhs[lhs_end:] (ReshapeLikeShapeCompute)."""
    lhs_begin = _bound(attrs["lhs_begin"], 0, len(lhs), "lhs_begin")
    lhs_end = _bound(attrs["lhs_end"], len(lhs), len(lhs), "lhs_end")
    rhs_begin = _bound(attrs["rhs_begin"], 0, len(rhs), "rhs_begin")
    rhs_end = _bound(attrs["rhs_end"], len(rhs), len(rhs), "rhs_end")
    out = (*lhs[:lhs_begin], *rhs[rhs_begin:rhs_end], *lhs[lhs_end:])
    if not _same_size(num_elements(out), num_elements(lhs)):
        raise ShapeError(
            f"lhs {_show(lhs)} cannot take shape {_show(out)} from rhs {_show(rhs)}: sizes "
            f"{num_elements(lhs)} and {num_elements(out)} differ"
        )
    return out


reshape_like = defop(
    "reshape_like",
    inputs=["lhs", "rhs"],
    attrs={name: Attr.int(None) for name in ("lhs_begin", "lhs_end", "rhs_begin", "rhs_end")},
    nondiff_inputs=("rhs",),
    inplace={0: 0},
    doc="Reshape lhs to rhs's shape, or replace lhs's axes [lhs_begin, lhs_end) by rhs's "
    "[rhs_begin, rhs_end). MXNet: reshape_like.",
)


@reshape_like.infer
def _reshape_like_infer(lhs: TensorType, rhs: TensorType, **attrs: Any) -> TensorType:
    return lhs.with_shape(_reshape_like_shape(lhs.shape, rhs.shape, **attrs))


@reshape_like.ref
def _reshape_like_ref(lhs: Array, rhs: Array, **attrs: Any) -> Array:
    return np.reshape(lhs, _reshape_like_shape(_shape(lhs), _shape(rhs), **attrs)).copy()


@reshape_like.lower
def _reshape_like_lower(jx: Any, lhs: Array, rhs: Array, **attrs: Any) -> Array:
    return jx.jnp.reshape(lhs, _reshape_like_shape(_shape(lhs), _shape(rhs), **attrs))


# -- shape_array, size_array ---------------------------------------------------------
shape_array = defop(
    "shape_array",
    inputs=["data"],
    no_grad="returns the input's shape as int64, which has no gradient",
    doc="The input's shape as a 1-D int64 array. MXNet: shape_array.",
)


@shape_array.infer
def _shape_array_infer(data: TensorType) -> TensorType:
    return TensorType(DType.int64, (data.rank,))


@shape_array.ref
def _shape_array_ref(data: Array) -> Array:
    return np.asarray(_shape(data), dtype=np.int64)


@shape_array.lower
def _shape_array_lower(jx: Any, data: Array) -> Array:
    return jx.jnp.asarray(_shape_array_ref(data))


size_array = defop(
    "size_array",
    inputs=["data"],
    no_grad="returns the input's size as int64, which has no gradient",
    doc="The input's number of elements as an int64 array of shape (1,). MXNet: size_array.",
)


@size_array.infer
def _size_array_infer(data: TensorType) -> TensorType:
    return TensorType(DType.int64, (1,))


@size_array.ref
def _size_array_ref(data: Array) -> Array:
    return np.asarray([int(np.prod(_shape(data)))], dtype=np.int64)


@size_array.lower
def _size_array_lower(jx: Any, data: Array) -> Array:
    return jx.jnp.asarray(_size_array_ref(data))


# -- depth_to_space, space_to_depth --------------------------------------------------
def _blocks(shape: Shape, block_size: int) -> None:
    if len(shape) != 4:
        raise ShapeError(f"needs a 4-D (N, C, H, W) input, got shape {_show(shape)}")
    if block_size < 1:
        raise ShapeError(f"block_size must be positive, got {block_size}")


def _depth_to_space_shape(shape: Shape, block_size: int) -> Shape:
    _blocks(shape, block_size)
    n, c, h, w = shape
    try:
        depth = dim_div(c, block_size * block_size)
    except ShapeError:
        raise ShapeError(
            f"channels {c} of shape {_show(shape)} are not divisible by "
            f"block_size^2 = {block_size * block_size}"
        ) from None
    return (n, depth, dim_mul(h, block_size), dim_mul(w, block_size))


def _space_to_depth_shape(shape: Shape, block_size: int) -> Shape:
    _blocks(shape, block_size)
    n, c, h, w = shape
    try:
        height, width = dim_div(h, block_size), dim_div(w, block_size)
    except ShapeError:
        raise ShapeError(
            f"height and width of shape {_show(shape)} are not divisible by block_size {block_size}"
        ) from None
    return (n, dim_mul(c, block_size * block_size), height, width)


def _depth_to_space(xp: Any, data: Array, block_size: int) -> Array:
    """DCR order: reshape (N, b, b, C/b^2, H, W), transpose (0, 3, 4, 1, 5, 2), merge."""
    out = _depth_to_space_shape(_shape(data), block_size)
    n, c, h, w = _shape(data)
    split = xp.reshape(data, (n, block_size, block_size, c // block_size**2, h, w))
    return xp.reshape(xp.transpose(split, (0, 3, 4, 1, 5, 2)), out)


def _space_to_depth(xp: Any, data: Array, block_size: int) -> Array:
    """Reshape (N, C, H/b, b, W/b, b), transpose (0, 3, 5, 1, 2, 4), merge."""
    out = _space_to_depth_shape(_shape(data), block_size)
    n, c, h, w = _shape(data)
    split = xp.reshape(data, (n, c, h // block_size, block_size, w // block_size, block_size))
    return xp.reshape(xp.transpose(split, (0, 3, 5, 1, 2, 4)), out)


depth_to_space = defop(
    "depth_to_space",
    inputs=["data"],
    attrs={"block_size": Attr.int()},
    doc="Move channel blocks into b x b spatial blocks (ONNX DepthToSpace, DCR). "
    "MXNet: depth_to_space.",
)


@depth_to_space.infer
def _depth_to_space_infer(data: TensorType, *, block_size: int) -> TensorType:
    return data.with_shape(_depth_to_space_shape(data.shape, block_size))


@depth_to_space.ref
def _depth_to_space_ref(data: Array, *, block_size: int) -> Array:
    return _depth_to_space(np, data, block_size).copy()


@depth_to_space.lower
def _depth_to_space_lower(jx: Any, data: Array, *, block_size: int) -> Array:
    return _depth_to_space(jx.jnp, data, block_size)


space_to_depth = defop(
    "space_to_depth",
    inputs=["data"],
    attrs={"block_size": Attr.int()},
    doc="Move b x b spatial blocks into channels; inverse of depth_to_space. "
    "MXNet: space_to_depth.",
)


@space_to_depth.infer
def _space_to_depth_infer(data: TensorType, *, block_size: int) -> TensorType:
    return data.with_shape(_space_to_depth_shape(data.shape, block_size))


@space_to_depth.ref
def _space_to_depth_ref(data: Array, *, block_size: int) -> Array:
    return _space_to_depth(np, data, block_size).copy()


@space_to_depth.lower
def _space_to_depth_lower(jx: Any, data: Array, *, block_size: int) -> Array:
    return _space_to_depth(jx.jnp, data, block_size)


# -- ONNX ----------------------------------------------------------------------------------
# NOTE: most facets reshape or expand to the node's inferred output type (o.output_types),
# so MXNet's shape codes are resolved once, by `infer`; symbolic dims are read at run time.
_INT64_MAX = 2**63 - 1


def _to_output_shape(o: Any, data: Any, like: Sequence[Any] = ()) -> Any:
    return o.reshape(data, o.output_types[0].shape, like=[data, *like])


reshape.onnx(lambda o, data, **attrs: _to_output_shape(o, data))
flatten.onnx(lambda o, data: o.Flatten(data, axis=1))
squeeze.onnx(lambda o, data, *, axis: _to_output_shape(o, data))
reshape_like.onnx(lambda o, lhs, rhs, **attrs: _to_output_shape(o, lhs, [rhs]))


@transpose.onnx
def _transpose_onnx(o: Any, data: Any, *, axes: tuple[int, ...]) -> Any:
    return o.Transpose(data, perm=list(_permutation(axes, data.rank)))


@swap_axis.onnx
def _swap_axis_onnx(o: Any, data: Any, *, dim1: int, dim2: int) -> Any:
    return o.Transpose(data, perm=_swap_perm(data.rank, dim1, dim2))


@expand_dims.onnx
def _expand_dims_onnx(o: Any, data: Any, *, axis: int) -> Any:
    return o.unsqueeze(data, [normalize_axis(axis, data.rank + 1)])


@concat.onnx
def _concat_onnx(o: Any, *data: Any, dim: int, num_args: int | None) -> Any:
    return o.Concat(*data, axis=normalize_axis(dim, data[0].rank))


@stack.onnx
def _stack_onnx(o: Any, *data: Any, axis: int, num_args: int | None) -> Any:
    position = normalize_axis(axis, data[0].rank + 1)
    return o.Concat(*[o.unsqueeze(d, [position]) for d in data], axis=position)


@split.onnx
def _split_onnx(o: Any, data: Any, *, num_outputs: int, axis: int, squeeze_axis: bool) -> Any:
    position = normalize_axis(axis, data.rank)
    size = data.shape[position]
    if isinstance(size, int):
        sizes = o.ints([size // num_outputs] * num_outputs)
        parts = o.Split(data, sizes, axis=position, outputs=num_outputs)
    elif o.opset >= 18:
        parts = o.Split(data, axis=position, num_outputs=num_outputs, outputs=num_outputs)
    else:
        o.fail(f"splitting the symbolic axis of size {size} needs opset 18 (num_outputs)")
    parts = parts if isinstance(parts, tuple) else (parts,)
    if squeeze_axis:
        parts = tuple(o.squeeze(p, [position]) for p in parts)
    return parts


def _onnx_slice(
    o: Any, data: Any, axes: list[int], starts: list[Any], ends: list[Any], steps: list[Any]
) -> Any:
    """ONNX Slice with Python's None: a missing start/end is the far side for the step."""
    begin, end = [], []
    for start, stop, step in zip(starts, ends, steps, strict=True):
        forward = (step or 1) > 0
        begin.append(start if start is not None else (0 if forward else _INT64_MAX))
        end.append(stop if stop is not None else (_INT64_MAX if forward else -_INT64_MAX))
    return o.Slice(data, o.ints(begin), o.ints(end), o.ints(axes), o.ints([s or 1 for s in steps]))


@slice_op.onnx
def _slice_onnx(o: Any, data: Any, *, begin: Any, end: Any, step: Any) -> Any:
    pieces = _slices(data.rank, begin, end, step)
    if not pieces:
        return o.Identity(data)
    return _onnx_slice(
        o,
        data,
        list(range(len(pieces))),
        [p.start for p in pieces],
        [p.stop for p in pieces],
        [p.step for p in pieces],
    )


@slice_axis.onnx
def _slice_axis_onnx(o: Any, data: Any, *, axis: int, begin: int, end: int | None) -> Any:
    position = normalize_axis(axis, data.rank)
    start, stop = _axis_range(data.shape[position], begin, end)
    return _onnx_slice(o, data, [position], [start], [stop], [1])


@slice_like.onnx
def _slice_like_onnx(o: Any, data: Any, shape_like: Any, *, axes: Any) -> Any:
    out = o.output_types[0].shape
    changed = [i for i, (a, b) in enumerate(zip(data.shape, out, strict=True)) if a != b]
    if not changed:
        return o.Identity(data)
    ends = o.shape_of([out[i] for i in changed], [shape_like, data])
    return o.Slice(data, o.ints([0] * len(changed)), ends, o.ints(changed))


@tile.onnx
def _tile_onnx(o: Any, data: Any, *, reps: tuple[int, ...]) -> Any:
    rank = max(data.rank, len(reps))
    x = data
    if rank > data.rank:  # numpy.tile: the data gains leading axes of size 1
        x = o.unsqueeze(data, range(rank - data.rank))
    return o.Tile(x, o.ints((1,) * (rank - len(reps)) + tuple(reps)))


@repeat.onnx
def _repeat_onnx(o: Any, data: Any, *, repeats: int, axis: int | None) -> Any:
    if axis is None:  # numpy.repeat of the flattened data
        x, rank, position = o.Reshape(data, o.ints([-1])), 1, 0
    else:
        x, rank, position = data, data.rank, normalize_axis(axis, data.rank)
    # each element gains a new axis of `repeats` copies right after its own; then merge
    reps = [1] * (rank + 1)
    reps[position + 1] = repeats
    copies = o.Tile(o.unsqueeze(x, [position + 1]), o.ints(reps))
    return o.reshape(copies, o.output_types[0].shape, like=[data])


@pad.onnx
def _pad_onnx(o: Any, data: Any, *, mode: str, pad_width: Any, constant_value: float) -> Any:
    pairs = _pad_pairs(data.shape, mode, pad_width)
    pads = o.ints([b for b, _ in pairs] + [a for _, a in pairs])
    if mode == "constant":
        return o.Pad(data, pads, o.scalar(constant_value, data.dtype), mode="constant")
    return o.Pad(data, pads, mode="edge" if mode == "edge" else "reflect")


@reverse.onnx
def _reverse_onnx(o: Any, data: Any, *, axis: tuple[int, ...]) -> Any:
    axes = list(normalize_axes(axis, data.rank))
    count = len(axes)
    return _onnx_slice(o, data, axes, [None] * count, [None] * count, [-1] * count)


def _expand_onnx(o: Any, data: Any, *like: Any) -> Any:
    return o.Expand(data, o.shape_of(o.output_types[0].shape, [data, *like]))


broadcast_to.onnx(lambda o, data, *, shape: _expand_onnx(o, data))
broadcast_axis.onnx(lambda o, data, *, axis, size: _expand_onnx(o, data))
broadcast_like.onnx(lambda o, lhs, rhs, **attrs: _expand_onnx(o, lhs, rhs))
shape_array.onnx(lambda o, data: o.Shape(data))
size_array.onnx(lambda o, data: o.Reshape(o.Size(data), o.ints([1])))
depth_to_space.onnx(
    lambda o, data, *, block_size: o.DepthToSpace(data, blocksize=block_size, mode="DCR")
)
space_to_depth.onnx(lambda o, data, *, block_size: o.SpaceToDepth(data, blocksize=block_size))
