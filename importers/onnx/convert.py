"""ONNX op -> hybrix ops, one converter per ONNX op (the inverse of the `onnx` facets).

A converter is `fn(ctx, inputs, attrs) -> value or list of values`, one per ONNX output
it supports; `ctx` is the loader's Context (ctx.add(op, inputs, attrs), ctx.const_of(...)).
ONNX broadcasts where MXNet's elementwise ops do not, so binary ops map to broadcast_*;
ONNX comparisons return bool where MXNet's return 1.0/0.0, so a Cast follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from hybrix.ir import Value
from hybrix.ir.types import broadcast_shapes

__all__ = ["CONVERTERS", "NEWEST_OPSET"]

NEWEST_OPSET = onnx.defs.onnx_opset_version()
_BIG = 2**31  # ONNX Slice's "to the end" is any bound past the axis (INT_MAX, INT64_MAX)

Converter = Callable[[Any, list, dict], Any]
CONVERTERS: dict[str, Converter] = {}


def converts(*names: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for name in names:
            CONVERTERS[name] = fn
        return fn

    return register


# -- shared helpers -----------------------------------------------------------------------
def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _rank0(ctx: Any, value: Value) -> Value:
    """A (1,)-shaped (or size-1) value as ONNX's rank-0 tensor: take with a 0-d index."""
    flat = ctx.add1("Reshape", [value], {"shape": (1,)})
    return ctx.add1("take", [flat, ctx.constant(np.array(0, np.int64), "index")])


def _as_bool(ctx: Any, value: Value) -> Value:
    return ctx.add1("Cast", [value], {"dtype": "bool"})


def _axes_attr_or_input(ctx: Any, inputs: list, attrs: dict, index: int) -> list[int] | None:
    """Axes given as an attribute (older opsets) or as input `index` (13/18 on)."""
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in ctx.const_of(inputs[index], "axes").reshape(-1)]
    return None


def _static(ctx: Any, value: Value, what: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in value.shape):
        ctx.fail(f"{what} needs a static shape, got {value.shape}")
    return tuple(int(d) for d in value.shape)


# -- elementwise ------------------------------------------------------------------------------
def _unary(op: str, **fixed: Any) -> Converter:
    return lambda ctx, inputs, attrs: ctx.add1(op, [inputs[0]], fixed)


for _onnx, _hybrix in {
    "Neg": "negative",
    "Abs": "abs",
    "Sign": "sign",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Exp": "exp",
    "Log": "log",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "rint",  # half to even, as ONNX
    "Sin": "sin",
    "Cos": "cos",
    "Tan": "tan",
    "Asin": "arcsin",
    "Acos": "arccos",
    "Atan": "arctan",
    "Sinh": "sinh",
    "Cosh": "cosh",
    "Asinh": "arcsinh",
    "Acosh": "arccosh",
    "Atanh": "arctanh",
    "Erf": "erf",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softsign": "softsign",
    "Identity": "identity",
}.items():
    CONVERTERS[_onnx] = _unary(_hybrix)
CONVERTERS["Softplus"] = _unary("Activation", act_type="softrelu")
CONVERTERS["Mish"] = _unary("Activation", act_type="mish")


def _binary(op: str, to_bool: bool = False) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        result = ctx.add1(op, inputs[:2])
        return _as_bool(ctx, result) if to_bool else result

    return convert


for _onnx, _hybrix in {
    "Add": "broadcast_add",
    "Sub": "broadcast_sub",
    "Mul": "broadcast_mul",
    "Div": "broadcast_div",
    "And": "broadcast_logical_and",
    "Or": "broadcast_logical_or",
    "Xor": "broadcast_logical_xor",
}.items():
    CONVERTERS[_onnx] = _binary(_hybrix)
for _onnx, _hybrix in {
    "Equal": "broadcast_equal",
    "Less": "broadcast_lesser",
    "LessOrEqual": "broadcast_lesser_equal",
    "Greater": "broadcast_greater",
    "GreaterOrEqual": "broadcast_greater_equal",
}.items():
    CONVERTERS[_onnx] = _binary(_hybrix, to_bool=True)


@converts("Not")
def _not(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("logical_not", [inputs[0]])


@converts("Pow")
def _pow(ctx: Any, inputs: list, attrs: dict) -> Value:
    base, exponent = inputs
    if exponent.dtype is not base.dtype:
        exponent = ctx.add1("Cast", [exponent], {"dtype": base.dtype})
    return ctx.add1("broadcast_power", [base, exponent])


@converts("Mod")
def _mod(ctx: Any, inputs: list, attrs: dict) -> Value:
    if attrs.get("fmod", 0):
        ctx.fail("fmod=1 (the sign of the dividend) has no hybrix op; MXNet's mod is fmod=0")
    return ctx.add1("broadcast_mod", inputs[:2])


def _variadic(op: str) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        result = inputs[0]
        for other in inputs[1:]:
            result = ctx.add1(op, [result, other])
        return result if len(inputs) > 1 else ctx.add1("identity", [result])

    return convert


CONVERTERS["Sum"] = _variadic("broadcast_add")
CONVERTERS["Max"] = _variadic("broadcast_maximum")
CONVERTERS["Min"] = _variadic("broadcast_minimum")


@converts("Mean")
def _mean(ctx: Any, inputs: list, attrs: dict) -> Value:
    total = _variadic("broadcast_add")(ctx, inputs, attrs)
    return ctx.add1("_div_scalar", [total], {"scalar": float(len(inputs)), "is_int": False})


@converts("Cast")
def _cast(ctx: Any, inputs: list, attrs: dict) -> Value:
    from hybrix.importers.onnx.loader import dtype_of

    return ctx.add1("Cast", [inputs[0]], {"dtype": dtype_of(attrs["to"], ctx.describe())})


@converts("Where")
def _where(ctx: Any, inputs: list, attrs: dict) -> Value:
    shape = broadcast_shapes(*[v.shape for v in inputs])
    full = [_broadcast(ctx, v, shape) for v in inputs]
    return ctx.add1("where", full)


def _broadcast(ctx: Any, value: Value, shape: tuple) -> Value:
    """`value` broadcast (NumPy rules) to `shape`."""
    for _ in range(len(shape) - len(value.shape)):
        value = ctx.add1("expand_dims", [value], {"axis": 0})
    if value.shape == tuple(shape):
        return value
    target = [0 if d == s else s for d, s in zip(value.shape, shape, strict=True)]
    if not all(isinstance(t, int) for t in target):
        ctx.fail(f"broadcasting {value.shape} to the symbolic shape {shape} is not supported")
    return ctx.add1("broadcast_to", [value], {"shape": tuple(target)})


@converts("Clip")
def _clip(ctx: Any, inputs: list, attrs: dict) -> Value:
    data = inputs[0]
    low = attrs.get("min") if len(inputs) < 2 or inputs[1] is None else inputs[1]
    high = attrs.get("max") if len(inputs) < 3 or inputs[2] is None else inputs[2]
    result = data
    for bound, op in ((low, "broadcast_maximum"), (high, "broadcast_minimum")):
        if bound is None:
            continue
        if not isinstance(bound, Value):
            bound = ctx.constant(np.asarray(bound, data.dtype.numpy), "bound")
        result = ctx.add1(op, [result, bound])
    return result if result is not data else ctx.add1("identity", [data])


# -- activations ----------------------------------------------------------------------------
@converts("LeakyRelu")
def _leaky(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1(
        "LeakyReLU", [inputs[0]], {"act_type": "leaky", "slope": attrs.get("alpha", 0.01)}
    )


@converts("Elu")
def _elu(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("LeakyReLU", [inputs[0]], {"act_type": "elu", "slope": attrs.get("alpha", 1.0)})


@converts("Selu")
def _selu(ctx: Any, inputs: list, attrs: dict) -> Value:
    alpha, gamma = (
        attrs.get("alpha", 1.67326319217681884765625),
        attrs.get("gamma", 1.05070102214813232421875),
    )
    x = inputs[0]
    positive = ctx.add1("relu", [x])
    negative = ctx.add1("_minimum_scalar", [x], {"scalar": 0.0, "is_int": False})
    curve = ctx.add1(
        "_mul_scalar", [ctx.add1("expm1", [negative])], {"scalar": alpha, "is_int": False}
    )
    return ctx.add1(
        "_mul_scalar",
        [ctx.add1("elemwise_add", [positive, curve])],
        {"scalar": gamma, "is_int": False},
    )


@converts("PRelu")
def _prelu(ctx: Any, inputs: list, attrs: dict) -> Value:
    x, slope = inputs
    slope = _broadcast(ctx, slope, x.shape) if slope.shape != x.shape else slope
    positive = ctx.add1("relu", [x])
    negative = ctx.add1("_minimum_scalar", [x], {"scalar": 0.0, "is_int": False})
    return ctx.add1("elemwise_add", [positive, ctx.add1("elemwise_mul", [negative, slope])])


@converts("Gelu")
def _gelu(ctx: Any, inputs: list, attrs: dict) -> Value:
    kind = "gelu_tanh" if attrs.get("approximate", b"none") in (b"tanh", "tanh") else "gelu"
    return ctx.add1("LeakyReLU", [inputs[0]], {"act_type": kind})


def _hard_sigmoid(ctx: Any, x: Value, alpha: float, beta: float) -> Value:
    scaled = ctx.add1("_mul_scalar", [x], {"scalar": alpha, "is_int": False})
    shifted = ctx.add1("_plus_scalar", [scaled], {"scalar": beta, "is_int": False})
    return ctx.add1("clip", [shifted], {"a_min": 0.0, "a_max": 1.0})


@converts("HardSigmoid")
def _hardsigmoid(ctx: Any, inputs: list, attrs: dict) -> Value:
    return _hard_sigmoid(ctx, inputs[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


@converts("HardSwish")
def _hardswish(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("elemwise_mul", [inputs[0], _hard_sigmoid(ctx, inputs[0], 1 / 6, 0.5)])


def _softmax(op: str) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        x = inputs[0]
        axis = _axis(attrs.get("axis", -1 if ctx.opset >= 13 else 1), len(x.shape))
        if ctx.opset < 13 and axis != len(x.shape) - 1:
            ctx.fail(
                f"{op} before opset 13 flattens from axis {axis}; only the last axis is supported"
            )
        return ctx.add1(op, [x], {"axis": axis})

    return convert


CONVERTERS["Softmax"] = _softmax("softmax")
CONVERTERS["LogSoftmax"] = _softmax("log_softmax")


# -- shape ----------------------------------------------------------------------------------
@converts("Flatten")
def _flatten(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    axis = _axis(attrs.get("axis", 1), len(x.shape))
    if axis == 1 and len(x.shape) >= 2:
        return ctx.add1("Flatten", [x])
    lead = _static(ctx, x, f"Flatten at axis {axis}")[:axis]
    return ctx.add1("Reshape", [x], {"shape": (int(np.prod(lead)), -1)})


@converts("Reshape")
def _reshape(ctx: Any, inputs: list, attrs: dict) -> Value:
    shape = tuple(int(d) for d in ctx.const_of(inputs[1], "shape"))
    if attrs.get("allowzero", 0) and 0 in shape:
        ctx.fail("allowzero=1 with a 0 in the shape is not supported")
    if not shape:
        return _rank0(ctx, inputs[0])
    # NOTE: ONNX's 0 (copy) and -1 (infer) are MXNet's Reshape codes 0 and -1
    return ctx.add1("Reshape", [inputs[0]], {"shape": shape})


@converts("Transpose")
def _transpose(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("transpose", [inputs[0]], {"axes": tuple(attrs.get("perm", ()))})


@converts("Concat")
def _concat(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("Concat", [v for v in inputs if v is not None], {"dim": attrs["axis"]})


@converts("Squeeze")
def _squeeze(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    axes = _axes_attr_or_input(ctx, inputs, attrs, 1)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    kept = [d for i, d in enumerate(x.shape) if i not in {_axis(a, len(x.shape)) for a in axes}]
    if not kept:
        return _rank0(ctx, x)
    return ctx.add1("squeeze", [x], {"axis": tuple(axes)})


@converts("Unsqueeze")
def _unsqueeze(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    axes = _axes_attr_or_input(ctx, inputs, attrs, 1) or []
    rank = len(x.shape) + len(axes)
    for axis in sorted(_axis(a, rank) for a in axes):
        x = ctx.add1("expand_dims", [x], {"axis": axis})
    return x


def _bound(value: int) -> int | None:
    return None if abs(value) >= _BIG else value


@converts("Slice")
def _slice(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    if "starts" in attrs:  # opset < 10 attributes
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes"), None
    else:
        starts = ctx.const_of(inputs[1], "starts").tolist()
        ends = ctx.const_of(inputs[2], "ends").tolist()
        axes = ctx.optional_const(inputs[3] if len(inputs) > 3 else None, "axes")
        steps = ctx.optional_const(inputs[4] if len(inputs) > 4 else None, "steps")
    axes = list(range(len(starts))) if axes is None else [_axis(int(a), len(x.shape)) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    count = max(axes) + 1
    begin, end, step = [None] * count, [None] * count, [None] * count
    for axis, b, e, s in zip(axes, starts, ends, steps, strict=True):
        begin[axis], end[axis], step[axis] = _bound(int(b)), _bound(int(e)), s
    return ctx.add1("slice", [x], {"begin": tuple(begin), "end": tuple(end), "step": tuple(step)})


@converts("Split")
def _split(ctx: Any, inputs: list, attrs: dict) -> list:
    x = inputs[0]
    axis = _axis(attrs.get("axis", 0), len(x.shape))
    sizes = attrs.get("split")
    if sizes is None and len(inputs) > 1 and inputs[1] is not None:
        sizes = ctx.const_of(inputs[1], "split").tolist()
    count = attrs.get("num_outputs") or (len(sizes) if sizes else len(ctx.node.output))
    size = x.shape[axis]
    if sizes is None and isinstance(size, int) and size % count:
        first = -(-size // count)  # opset 18: the last piece is smaller
        sizes = [first] * (count - 1) + [size - first * (count - 1)]
    if sizes is None or len(set(sizes)) == 1:
        return ctx.add("split", [x], {"num_outputs": count, "axis": axis})
    pieces, start = [], 0
    for piece in sizes:
        pieces.append(
            ctx.add1("slice_axis", [x], {"axis": axis, "begin": start, "end": start + piece})
        )
        start += piece
    return pieces


@converts("Gather")
def _gather(ctx: Any, inputs: list, attrs: dict) -> Value:
    # NOTE: 'wrap' maps ONNX's negative indices onto the axis; in-range ones are unchanged
    return ctx.add1("take", inputs[:2], {"axis": attrs.get("axis", 0), "mode": "wrap"})


@converts("Pad")
def _pad(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    pads = attrs.get("pads")
    if pads is None:
        pads = ctx.const_of(inputs[1], "pads").tolist()
    value = attrs.get("value", 0.0)
    if len(inputs) > 2 and inputs[2] is not None:
        value = float(ctx.const_of(inputs[2], "constant_value").reshape(-1)[0])
    axes = _axes_attr_or_input(ctx, inputs, {}, 3)
    axes = list(range(len(x.shape))) if axes is None else [_axis(a, len(x.shape)) for a in axes]
    width = [0] * (2 * len(x.shape))
    for i, axis in enumerate(axes):
        width[2 * axis], width[2 * axis + 1] = int(pads[i]), int(pads[i + len(axes)])
    if min(width) < 0:
        ctx.fail(f"negative pads {pads} (cropping) are not supported")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("constant", "edge", "reflect"):
        ctx.fail(f"mode {mode} is not supported; expected constant, edge or reflect")
    options = {"pad_width": tuple(width), "mode": mode, "constant_value": value}
    return ctx.add1("Pad", [x], options)


@converts("Tile")
def _tile(ctx: Any, inputs: list, attrs: dict) -> Value:
    reps = tuple(int(r) for r in ctx.const_of(inputs[1], "repeats"))
    return ctx.add1("tile", [inputs[0]], {"reps": reps})


@converts("Expand")
def _expand(ctx: Any, inputs: list, attrs: dict) -> Value:
    x = inputs[0]
    shape = tuple(int(d) for d in ctx.const_of(inputs[1], "shape"))
    return _broadcast(ctx, x, broadcast_shapes(x.shape, shape))


@converts("Shape")
def _shape(ctx: Any, inputs: list, attrs: dict) -> Value:
    shape = ctx.add1("shape_array", [inputs[0]])
    start, end = attrs.get("start", 0), attrs.get("end")
    if start == 0 and end is None:
        return shape
    return ctx.add1("slice", [shape], {"begin": (start,), "end": (end,)})


@converts("Size")
def _size(ctx: Any, inputs: list, attrs: dict) -> Value:
    return _rank0(ctx, ctx.add1("size_array", [inputs[0]]))


@converts("ConstantOfShape")
def _constant_of_shape(ctx: Any, inputs: list, attrs: dict) -> Value:
    from onnx import numpy_helper

    shape = tuple(int(d) for d in ctx.const_of(inputs[0], "input"))
    value = attrs.get("value")
    fill = (
        numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    )
    return ctx.constant(np.full(shape, fill[0], fill.dtype), "filled")


@converts("Constant")
def _constant(ctx: Any, inputs: list, attrs: dict) -> Value:
    from onnx import numpy_helper

    if "value" in attrs:
        return ctx.constant(numpy_helper.to_array(attrs["value"]))
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            return ctx.constant(np.asarray(attrs[key], dtype))
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return ctx.constant(np.asarray(list(attrs[key]), dtype))
    return ctx.fail(f"Constant with attributes {sorted(attrs)} is not supported")


@converts("Range")
def _range(ctx: Any, inputs: list, attrs: dict) -> Value:
    start, limit, delta = (
        ctx.const_of(v, name) for v, name in zip(inputs, ("start", "limit", "delta"), strict=True)
    )
    return ctx.constant(np.arange(start, limit, delta).astype(start.dtype), "range")


@converts("Dropout")
def _dropout(ctx: Any, inputs: list, attrs: dict) -> Value:
    if len(inputs) > 2 and inputs[2] is not None and bool(ctx.const_of(inputs[2], "training_mode")):
        ctx.fail("training_mode=True is not supported; hybrix imports inference graphs")
    return ctx.add1("identity", [inputs[0]])


@converts("DepthToSpace")
def _depth_to_space(ctx: Any, inputs: list, attrs: dict) -> Value:
    mode = attrs.get("mode", b"DCR")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "DCR":
        ctx.fail("mode CRD is not supported; MXNet's depth_to_space is DCR")
    return ctx.add1("depth_to_space", [inputs[0]], {"block_size": attrs["blocksize"]})


@converts("SpaceToDepth")
def _space_to_depth(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("space_to_depth", [inputs[0]], {"block_size": attrs["blocksize"]})


# NOTE: last, as it imports the helpers above and registers into CONVERTERS
from hybrix.importers.onnx import convert_nn  # noqa: E402, F401
