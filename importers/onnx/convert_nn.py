"""ONNX -> hybrix converters for the layer ops: convolution, pooling, normalisation, dense,
reductions, search and the recurrent ops (registered into convert.CONVERTERS on import).

LSTM/GRU/RNN weights must be constants: they are re-packed into MXNet's flat parameter
vector with the gates reordered (ONNX i,o,f,c -> MXNet i,f,g,o; z,r,h -> r,z,n).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix.importers.onnx.convert import (
    CONVERTERS,
    Converter,
    _axes_attr_or_input,
    _axis,
    _broadcast,
    _rank0,
    _static,
    converts,
)
from hybrix.ir import DType, Value
from hybrix.ir.types import broadcast_shapes

__all__: list[str] = []


# -- convolution, pooling, normalisation ---------------------------------------------------------
def _pads(ctx: Any, attrs: dict, x: Value, kernel: tuple, strides: tuple, dilations: tuple) -> list:
    """(begin, end) padding per spatial axis, with auto_pad resolved on static sizes."""
    rank = len(kernel)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0] * 2 * rank))
        return list(zip(pads[:rank], pads[rank:], strict=True))
    if auto == "VALID":
        return [(0, 0)] * rank
    spatial = _static(ctx, x, "auto_pad SAME")[2:]
    result = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        result.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
    return result


def _window_attrs(ctx: Any, attrs: dict, x: Value, kernel: tuple) -> tuple:
    rank = len(kernel)
    strides = tuple(attrs.get("strides", [1] * rank))
    dilations = tuple(attrs.get("dilations", [1] * rank))
    return strides, dilations, _pads(ctx, attrs, x, kernel, strides, dilations)


def _pre_pad(ctx: Any, x: Value, pads: list, value: float = 0.0) -> tuple[Value, tuple]:
    """Symmetric pads as the op's own `pad`; asymmetric ones as a Pad node first."""
    if all(b == e for b, e in pads):
        return x, tuple(b for b, _ in pads)
    width = (0, 0, 0, 0, *(p for pair in pads for p in pair))
    return ctx.add1("Pad", [x], {"pad_width": width, "constant_value": value}), (0,) * len(pads)


@converts("Conv")
def _conv(ctx: Any, inputs: list, attrs: dict) -> Value:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    kernel = tuple(attrs.get("kernel_shape", weight.shape[2:]))
    strides, dilations, pads = _window_attrs(ctx, attrs, x, kernel)
    x, pad = _pre_pad(ctx, x, pads)
    options = {
        "kernel": kernel,
        "stride": strides,
        "dilate": dilations,
        "pad": pad,
        "num_filter": weight.shape[0],
        "num_group": attrs.get("group", 1),
        "no_bias": bias is None,
    }
    return ctx.add1("Convolution", [x, weight] + ([bias] if bias is not None else []), options)


@converts("ConvTranspose")
def _conv_transpose(ctx: Any, inputs: list, attrs: dict) -> Value:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    kernel = tuple(attrs.get("kernel_shape", weight.shape[2:]))
    strides, dilations, pads = _window_attrs(ctx, attrs, x, kernel)
    if any(b != e for b, e in pads):
        ctx.fail(f"asymmetric pads {pads} have no Deconvolution form")
    group = attrs.get("group", 1)
    options = {
        "kernel": kernel,
        "stride": strides,
        "dilate": dilations,
        "pad": tuple(b for b, _ in pads),
        "adj": tuple(attrs.get("output_padding", [0] * len(kernel))),
        "target_shape": tuple(attrs.get("output_shape", ())),
        "num_filter": weight.shape[1] * group,
        "num_group": group,
        "no_bias": bias is None,
    }
    return ctx.add1("Deconvolution", [x, weight] + ([bias] if bias is not None else []), options)


def _pool(pool_type: str) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        x = inputs[0]
        kernel = tuple(attrs["kernel_shape"])
        strides, dilations, pads = _window_attrs(ctx, attrs, x, kernel)
        if any(d != 1 for d in dilations):
            ctx.fail(f"dilations {dilations} are not supported by Pooling")
        if attrs.get("storage_order", 0):
            ctx.fail("storage_order=1 is not supported")
        include = bool(attrs.get("count_include_pad", 0))
        if pool_type == "avg" and not include and any(b != e for b, e in pads):
            ctx.fail(f"asymmetric pads {pads} with count_include_pad=0 are not supported")
        fill = -np.inf if pool_type == "max" else 0.0
        x, pad = _pre_pad(ctx, x, pads, fill)
        options = {
            "kernel": kernel,
            "stride": strides,
            "pad": pad,
            "pool_type": pool_type,
            "pooling_convention": "full" if attrs.get("ceil_mode", 0) else "valid",
        }
        if pool_type == "avg":
            options["count_include_pad"] = include
        return ctx.add1("Pooling", [x], options)

    return convert


CONVERTERS["MaxPool"] = _pool("max")
CONVERTERS["AveragePool"] = _pool("avg")


def _global_pool(pool_type: str) -> Converter:
    return lambda ctx, inputs, attrs: ctx.add1(
        "Pooling", [inputs[0]], {"global_pool": True, "pool_type": pool_type}
    )


CONVERTERS["GlobalMaxPool"] = _global_pool("max")
CONVERTERS["GlobalAveragePool"] = _global_pool("avg")


@converts("BatchNormalization")
def _batchnorm(ctx: Any, inputs: list, attrs: dict) -> Value:
    if attrs.get("training_mode", 0):
        ctx.fail("training_mode=1 is not supported; hybrix imports inference graphs")
    options = {"eps": attrs.get("epsilon", 1e-5), "fix_gamma": False, "use_global_stats": True}
    return ctx.add1("BatchNorm", inputs[:5], options)


@converts("InstanceNormalization")
def _instancenorm(ctx: Any, inputs: list, attrs: dict) -> Value:
    return ctx.add1("InstanceNorm", inputs[:3], {"eps": attrs.get("epsilon", 1e-5)})


@converts("LayerNormalization")
def _layernorm(ctx: Any, inputs: list, attrs: dict) -> Value:
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if bias is None:
        bias = ctx.constant(np.zeros(scale.shape, scale.dtype.numpy), "beta")
    axis = _axis(attrs.get("axis", -1), len(x.shape))
    eps = attrs.get("epsilon", 1e-5)
    if axis == len(x.shape) - 1:
        return ctx.add1("LayerNorm", [x, scale, bias], {"axis": -1, "eps": eps})
    # normalised over axes [axis, rank): merge them into one last axis and back
    flat = ctx.add1("Reshape", [x], {"shape": (0,) * axis + (-1,)})
    gamma, beta = (ctx.add1("Reshape", [p], {"shape": (-1,)}) for p in (scale, bias))
    out = ctx.add1("LayerNorm", [flat, gamma, beta], {"axis": -1, "eps": eps})
    return ctx.add1("reshape_like", [out, x])


# -- dense ----------------------------------------------------------------------------------
@converts("Gemm")
def _gemm(ctx: Any, inputs: list, attrs: dict) -> Value:
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    hidden = b.shape[0] if trans_b else b.shape[1]
    plain = alpha == 1.0 and beta == 1.0 and trans_b and not trans_a
    if plain and (c is None or c.shape == (hidden,)):
        options = {"num_hidden": hidden, "no_bias": c is None}
        return ctx.add1("FullyConnected", [a, b] + ([c] if c is not None else []), options)
    out = ctx.add1("dot", [a, b], {"transpose_a": trans_a, "transpose_b": trans_b})
    if alpha != 1.0:
        out = ctx.add1("_mul_scalar", [out], {"scalar": alpha, "is_int": False})
    if c is None:
        return out
    if beta != 1.0:
        c = ctx.add1("_mul_scalar", [c], {"scalar": beta, "is_int": False})
    return ctx.add1("broadcast_add", [out, c])


@converts("MatMul")
def _matmul(ctx: Any, inputs: list, attrs: dict) -> Value:
    a, b = inputs
    if len(b.shape) == 2 and len(a.shape) >= 1:
        return ctx.add1("dot", [a, b])
    if len(a.shape) == len(b.shape) and len(a.shape) >= 3 and a.shape[:-2] == b.shape[:-2]:
        return ctx.add1("batch_dot", [a, b])
    if len(a.shape) >= 3 and len(b.shape) >= 3:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = _broadcast(ctx, a, (*batch, *a.shape[-2:]))
        b = _broadcast(ctx, b, (*batch, *b.shape[-2:]))
        return ctx.add1("batch_dot", [a, b])
    return ctx.fail(f"MatMul of shapes {a.shape} and {b.shape} is not supported")


# -- reductions, search ----------------------------------------------------------------------
def _reduce(op: str, **fixed: Any) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        x = inputs[0]
        axes = _axes_attr_or_input(ctx, inputs, attrs, 1)
        if axes is None or not axes:
            if axes == [] and attrs.get("noop_with_empty_axes", 0):
                return ctx.add1("identity", [x])
            axes = list(range(len(x.shape)))
        keep = bool(attrs.get("keepdims", 1))
        if len(x.shape) == 0:
            ctx.fail("reducing a rank-0 tensor is not supported")
        value = x
        if op == "sumsquare":
            value, target = ctx.add1("square", [x]), "sum"
        elif op == "logsumexp":
            value, target = ctx.add1("exp", [x]), "sum"
        else:
            target = op
        options = {"axis": tuple(axes), "keepdims": keep, **fixed}
        out = ctx.add1(target, [value], options)
        if op == "logsumexp":
            out = ctx.add1("log", [out])
        if not keep and len({_axis(a, len(x.shape)) for a in axes}) == len(x.shape):
            return _rank0(ctx, out)
        return out

    return convert


for _onnx, _hybrix in {
    "ReduceSum": "sum",
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceSumSquare": "sumsquare",
    "ReduceLogSumExp": "logsumexp",
}.items():
    CONVERTERS[_onnx] = _reduce(_hybrix)
CONVERTERS["ReduceL1"] = _reduce("norm", ord=1)
CONVERTERS["ReduceL2"] = _reduce("norm", ord=2)


def _search(op: str) -> Converter:
    def convert(ctx: Any, inputs: list, attrs: dict) -> Value:
        x = inputs[0]
        axis = _axis(attrs.get("axis", 0), len(x.shape))
        keep = bool(attrs.get("keepdims", 1))
        last = bool(attrs.get("select_last_index", 0))
        if last:  # the first hit from the end: search the reversed axis
            size = x.shape[axis]
            if not isinstance(size, int):
                ctx.fail("select_last_index=1 on a symbolic axis is not supported")
            x = ctx.add1("reverse", [x], {"axis": (axis,)})
        index = ctx.add1(op, [x], {"axis": axis, "keepdims": keep})
        if last:
            index = ctx.add1("_rminus_scalar", [index], {"scalar": float(size - 1), "is_int": True})
        index = ctx.add1("Cast", [index], {"dtype": DType.int64})
        return _rank0(ctx, index) if len(x.shape) == 1 and not keep else index

    return convert


CONVERTERS["ArgMax"] = _search("argmax")
CONVERTERS["ArgMin"] = _search("argmin")


@converts("TopK")
def _topk(ctx: Any, inputs: list, attrs: dict) -> list:
    k = int(ctx.const_of(inputs[1], "K").reshape(-1)[0])
    options = {
        "k": k,
        "axis": attrs.get("axis", -1),
        "is_ascend": not attrs.get("largest", 1),
        "ret_typ": "both",
        "dtype": DType.int64,
    }
    if k == 0:
        ctx.fail("K=0 is not supported (MXNet's topk reads k < 1 as 'the whole axis')")
    return ctx.add("topk", [inputs[0]], options)


# -- recurrent --------------------------------------------------------------------------------
# ONNX gate order -> MXNet's: lstm i,o,f,c -> i,f,g,o; gru z,r,h -> r,z,n
_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}


def _reorder(array: np.ndarray, op: str, hidden: int) -> np.ndarray:
    blocks = array.reshape(len(_GATES[op]), hidden, *array.shape[1:])
    return blocks[_GATES[op]].reshape(array.shape)


def _rnn_mode(ctx: Any, op: str, attrs: dict) -> str:
    if op == "LSTM":
        if attrs.get("input_forget", 0):
            ctx.fail("input_forget=1 is not supported")
        return "lstm"
    if op == "GRU":
        if not attrs.get("linear_before_reset", 0):
            ctx.fail("GRU with linear_before_reset=0 is not supported; MXNet's (cuDNN's) GRU is =1")
        return "gru"
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [b"Tanh"])]
    if set(acts) not in ({"Tanh"}, {"Relu"}):
        ctx.fail(f"RNN activations {acts} are not supported; expected Tanh or Relu")
    return "rnn_relu" if acts[0] == "Relu" else "rnn_tanh"


def _packed(ctx: Any, op: str, inputs: list, hidden: int, directions: int) -> np.ndarray:
    """MXNet's flat parameter vector from ONNX's W, R, B (all constants)."""
    weights = ctx.const_of(inputs[1], "W")
    recurrent = ctx.const_of(inputs[2], "R")
    rows = weights.shape[1]
    bias = ctx.optional_const(inputs[3] if len(inputs) > 3 else None, "B")
    if bias is None:
        bias = np.zeros((directions, 2 * rows), weights.dtype)
    parts = []
    for d in range(directions):
        parts += [
            _reorder(weights[d], op, hidden).ravel(),
            _reorder(recurrent[d], op, hidden).ravel(),
        ]
    for d in range(directions):
        parts += [_reorder(bias[d, :rows], op, hidden), _reorder(bias[d, rows:], op, hidden)]
    return np.concatenate(parts).astype(weights.dtype)


def _initial(ctx: Any, value: Value | None, x: Value, directions: int, hidden: int) -> Value:
    if value is not None:
        return value
    batch = x.shape[1]
    if not isinstance(batch, int):
        ctx.fail("a missing initial state with a symbolic batch is not supported")
    return ctx.constant(np.zeros((directions, batch, hidden), x.dtype.numpy), "initial_state")


@converts("LSTM", "GRU", "RNN")
def _recurrent(ctx: Any, inputs: list, attrs: dict) -> list:
    op = ctx.node.op_type
    mode = _rnn_mode(ctx, op, attrs)
    if attrs.get("layout", 0) or attrs.get("clip") is not None:
        ctx.fail("layout=1 and clip are not supported")
    if len(inputs) > 7 and inputs[7] is not None:
        ctx.fail("peephole weights P are not supported")
    x, hidden = inputs[0], attrs["hidden_size"]
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction == "reverse":
        ctx.fail("direction=reverse is not supported (MXNet's RNN runs forward or bidirectional)")
    directions = 2 if direction == "bidirectional" else 1
    params = ctx.constant(_packed(ctx, op, inputs, hidden, directions), "rnn_parameters")
    lengths = inputs[4] if len(inputs) > 4 else None
    rnn_inputs = [
        x,
        params,
        _initial(ctx, inputs[5] if len(inputs) > 5 else None, x, directions, hidden),
    ]
    if mode == "lstm":
        rnn_inputs.append(
            _initial(ctx, inputs[6] if len(inputs) > 6 else None, x, directions, hidden)
        )
    if lengths is not None:
        rnn_inputs.append(lengths)
    options = {
        "state_size": hidden,
        "num_layers": 1,
        "mode": mode,
        "bidirectional": directions == 2,
        "state_outputs": True,
        "use_sequence_length": lengths is not None,
    }
    results = ctx.add("RNN", rnn_inputs, options)
    # MXNet's (T, N, D*H) output -> ONNX's Y (T, D, N, H)
    split = ctx.add1("Reshape", [results[0]], {"shape": (0, 0, directions, hidden)})
    y = ctx.add1("transpose", [split], {"axes": (0, 2, 1, 3)})
    return [y, *results[1:]]
