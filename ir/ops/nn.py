"""Neural-network layer ops: FullyConnected, activations, the softmax family, Dropout, Embedding.

MXNet 1.9 names and attributes verbatim (src/operator/nn/*, leaky_relu, softmax_output).
Statistics of the norms and softmax are computed in float32 at least for 16-bit data,
as MXNet accumulates in its AccReal type, and cast back to the data dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, HybrixError, ShapeError, TypeMismatchError
from hybrix.ir.ops._infer import normalize_axis, same_dtype
from hybrix.ir.ops._nn_common import (
    FLOAT_OUT,
    channel_shape,
    check_shape,
    dims_match,
    np_wide,
    require_float,
)
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, TensorType, dim_prod


# -- FullyConnected ------------------------------------------------------------------
def _fc_infer(
    data: TensorType, weight: TensorType, bias: TensorType | None = None, **attrs: Any
) -> TensorType:
    if attrs["no_bias"] != (bias is None):
        expected = "data, weight" if attrs["no_bias"] else "data, weight, bias"
        raise ShapeError(f"no_bias={attrs['no_bias']} expects inputs ({expected})")
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    dtype = same_dtype(data, weight, *([bias] if bias is not None else []))
    hidden = attrs["num_hidden"]
    if attrs["flatten"]:
        in_units, lead = dim_prod(data.shape[1:]), data.shape[:1]
    else:
        in_units, lead = data.shape[-1], data.shape[:-1]
    check_shape("weight", weight, (hidden, in_units))
    if bias is not None:
        check_shape("bias", bias, (hidden,))
    return TensorType(dtype, (*lead, hidden))


fully_connected = defop(
    "FullyConnected",
    inputs=["data", "weight", "bias?"],
    attrs={
        "num_hidden": Attr.int(),
        "no_bias": Attr.bool(False),
        "flatten": Attr.bool(True),
    },
    infer=_fc_infer,
    doc="data @ weight.T + bias; with flatten, data is first reshaped to (batch, -1), "
    "otherwise the last axis is contracted. MXNet: FullyConnected.",
)


def _fc_rows(shape: tuple[int, ...], flatten: bool) -> tuple[int, ...]:
    return (shape[0], math.prod(shape[1:])) if flatten else shape


@fully_connected.ref
def _fc_ref(
    data: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, **attrs: Any
) -> np.ndarray:
    x = np_wide(data.reshape(_fc_rows(data.shape, attrs["flatten"])))
    out = x @ np_wide(weight).T
    if bias is not None:
        out = out + np_wide(bias)
    return out.astype(data.dtype)


@fully_connected.lower
def _fc_lower(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    x = data.reshape(_fc_rows(data.shape, attrs["flatten"]))
    # NOTE: contracting the weight's axis 1 directly: `x @ weight.T` made XLA CPU copy a
    # transposed weight on every call at batch 1 (ResNet-18's 2 MB classifier: 147 -> 89 us)
    out = jx.lax.dot_general(x, weight, (((x.ndim - 1,), (1,)), ((), ())))
    return out if bias is None else out + bias


@fully_connected.onnx
def _fc_onnx(o: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    if attrs["flatten"] or data.rank == 2:
        x = data if data.rank == 2 else o.Flatten(data, axis=1)
        return o.Gemm(x, weight, bias, transB=1)
    out = o.MatMul(data, o.Transpose(weight, perm=[1, 0]))
    return out if bias is None else o.Add(out, bias)


# -- Activation ----------------------------------------------------------------------
def _softplus_np(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros_like(x), x)


_ACTIVATION_REF: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * x)),
    "tanh": np.tanh,
    "softrelu": _softplus_np,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "log_sigmoid": lambda x: -_softplus_np(-x),
    "mish": lambda x: x * np.tanh(_softplus_np(x)),
}

_ACTIVATION_LOWER: dict[str, Callable[[Any, Any], Any]] = {
    "relu": lambda jx, x: jx.nn.relu(x),
    "sigmoid": lambda jx, x: jx.nn.sigmoid(x),
    "tanh": lambda jx, x: jx.jnp.tanh(x),
    "softrelu": lambda jx, x: jx.nn.softplus(x),
    "softsign": lambda jx, x: jx.nn.soft_sign(x),
    "log_sigmoid": lambda jx, x: jx.nn.log_sigmoid(x),
    "mish": lambda jx, x: x * jx.jnp.tanh(jx.nn.softplus(x)),
}

activation = defop(
    "Activation",
    inputs=["data"],
    attrs={"act_type": Attr.str(choices=tuple(_ACTIVATION_REF))},
    infer=lambda data, **attrs: data,
    inplace={0: 0},
    doc="Elementwise activation: relu, sigmoid, tanh, softrelu (log(1+exp x)), softsign "
    "(x/(1+|x|)), log_sigmoid, mish. MXNet: Activation.",
)


@activation.ref
def _activation_ref(data: np.ndarray, *, act_type: str) -> np.ndarray:
    return _ACTIVATION_REF[act_type](np_wide(data)).astype(data.dtype)


@activation.lower
def _activation_lower(jx: Any, data: Any, *, act_type: str) -> Any:
    return _ACTIVATION_LOWER[act_type](jx, data)


def _mish_onnx(o: Any, x: Any) -> Any:
    return o.Mish(x) if o.opset >= 18 else o.Mul(x, o.Tanh(o.Softplus(x)))


_ACTIVATION_ONNX: dict[str, Callable[[Any, Any], Any]] = {
    "relu": lambda o, x: o.Relu(x),
    "sigmoid": lambda o, x: o.Sigmoid(x),
    "tanh": lambda o, x: o.Tanh(x),
    "softrelu": lambda o, x: o.Softplus(x),
    "softsign": lambda o, x: o.Softsign(x),
    "log_sigmoid": lambda o, x: o.Neg(o.Softplus(o.Neg(x))),
    "mish": _mish_onnx,
}


@activation.onnx
def _activation_onnx(o: Any, data: Any, *, act_type: str) -> Any:
    return _ACTIVATION_ONNX[act_type](o, data)


# -- LeakyReLU -----------------------------------------------------------------------
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_LAMBDA = 1.0507009873554804934193349852946
_LEAKY_TYPES = ("leaky", "prelu", "rrelu", "elu", "selu", "gelu", "gelu_erf", "gelu_tanh")


def _leaky_infer(data: TensorType, gamma: TensorType | None = None, **attrs: Any) -> TensorType:
    if (attrs["act_type"] == "prelu") != (gamma is not None):
        raise ShapeError("act_type='prelu' takes (data, gamma); the other types take (data)")
    if gamma is not None:
        same_dtype(data, gamma)
        channels = data.shape[1] if data.rank >= 2 else 1
        if gamma.shape != (1,):
            check_shape("gamma", gamma, (channels,))
    return data


leaky_relu = defop(
    "LeakyReLU",
    inputs=["data", "gamma?"],
    attrs={
        "act_type": Attr.str("leaky", choices=_LEAKY_TYPES),
        "slope": Attr.float(0.25),
        "lower_bound": Attr.float(0.125),
        "upper_bound": Attr.float(0.334),
    },
    infer=_leaky_infer,
    inplace={0: 0},
    doc="Leaky activations: leaky (slope*x for x<0), prelu (learned gamma along axis 1, or "
    "one shared value), elu (slope*(exp x - 1)), selu, gelu (erf form, as MXNet 1.9; "
    "gelu_erf/gelu_tanh are the MXNet 2 names). rrelu is the inference form only: leaky "
    "with slope (lower_bound+upper_bound)/2 (MXNet draws random slopes in training). "
    "MXNet: LeakyReLU.",
)


def _prelu_slope(gamma: np.ndarray | Any, rank: int) -> Any:
    # NOTE: MXNet's expand_shape puts a (C,) gamma on axis 1; a (1,) gamma is shared.
    if gamma.shape == (1,) or rank < 2:
        return gamma.reshape(())
    return gamma.reshape(channel_shape(rank, 1))


def _gelu_erf_np(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype)


def _gelu_tanh(tanh: Callable[[Any], Any], x: Any) -> Any:
    return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@leaky_relu.ref
def _leaky_ref(data: np.ndarray, gamma: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    x, act = np_wide(data), attrs["act_type"]
    negative = np.expm1(np.minimum(x, 0))
    if act in ("leaky", "rrelu", "prelu"):
        slope = _leaky_slope(attrs, None if gamma is None else np_wide(gamma), x.ndim)
        out = np.where(x > 0, x, x * slope)
    elif act == "elu":
        out = np.where(x > 0, x, attrs["slope"] * negative)
    elif act == "selu":
        out = _SELU_LAMBDA * np.where(x > 0, x, _SELU_ALPHA * negative)
    elif act == "gelu_tanh":
        out = _gelu_tanh(np.tanh, x)
    else:
        out = _gelu_erf_np(x)
    return out.astype(data.dtype)


def _leaky_slope(attrs: Mapping[str, Any], gamma: Any, rank: int) -> Any:
    if attrs["act_type"] == "prelu":
        return _prelu_slope(gamma, rank)
    if attrs["act_type"] == "rrelu":
        return (attrs["lower_bound"] + attrs["upper_bound"]) / 2
    return attrs["slope"]


@leaky_relu.lower
def _leaky_lower(jx: Any, data: Any, gamma: Any = None, **attrs: Any) -> Any:
    jnp, act = jx.jnp, attrs["act_type"]
    # expm1 of min(x, 0): the unselected branch must not overflow, or its gradient is NaN
    negative = jnp.expm1(jnp.minimum(data, 0))
    if act in ("leaky", "rrelu", "prelu"):
        return jnp.where(data > 0, data, data * _leaky_slope(attrs, gamma, data.ndim))
    if act == "elu":
        return jnp.where(data > 0, data, attrs["slope"] * negative)
    if act == "selu":
        return _SELU_LAMBDA * jnp.where(data > 0, data, _SELU_ALPHA * negative)
    if act == "gelu_tanh":
        return _gelu_tanh(jnp.tanh, data)
    return 0.5 * data * (1 + jx.lax.erf(data * (1 / math.sqrt(2))))


def _gelu_onnx(o: Any, x: Any, tanh: bool) -> Any:
    if o.opset >= 20:
        return o.Gelu(x, approximate="tanh" if tanh else "none")
    half, one = o.scalar(0.5, x.dtype), o.scalar(1, x.dtype)
    if tanh:
        cube = o.Mul(o.scalar(0.044715, x.dtype), o.Mul(x, o.Mul(x, x)))
        inner = o.Mul(o.scalar(math.sqrt(2 / math.pi), x.dtype), o.Add(x, cube))
        return o.Mul(o.Mul(half, x), o.Add(one, o.Tanh(inner)))
    erf = o.Erf(o.Mul(x, o.scalar(1 / math.sqrt(2), x.dtype)))
    return o.Mul(o.Mul(half, x), o.Add(one, erf))


@leaky_relu.onnx
def _leaky_onnx(o: Any, data: Any, gamma: Any = None, **attrs: Any) -> Any:
    act = attrs["act_type"]
    if act in ("leaky", "rrelu"):
        return o.LeakyRelu(data, alpha=_leaky_slope(attrs, None, data.rank))
    if act == "prelu":
        shared = gamma.shape == (1,) or data.rank < 2
        slope = o.reshape(gamma, () if shared else (-1,) + (1,) * (data.rank - 2))
        return o.PRelu(data, slope)
    if act == "elu":
        return o.Elu(data, alpha=attrs["slope"])
    if act == "selu":
        return o.Selu(data, alpha=_SELU_ALPHA, gamma=_SELU_LAMBDA)
    return _gelu_onnx(o, data, tanh=act == "gelu_tanh")


# -- softmax, log_softmax, softmin ---------------------------------------------------
def _softmax_infer(data: TensorType, length: TensorType | None = None, **attrs: Any) -> TensorType:
    require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    axis = normalize_axis(attrs["axis"], data.rank)
    if attrs["use_length"] and length is None:
        raise ShapeError("use_length=True needs the length input")
    if length is not None and not attrs["use_length"]:
        raise ShapeError("a length input needs use_length=True")
    if length is not None:
        expected = tuple(d for i, d in enumerate(data.shape) if i != axis) or (1,)
        check_shape("length", length, expected)
    return data.with_dtype(attrs["dtype"] or data.dtype)


def _softmax_attrs() -> dict[str, Attr]:
    return {
        "axis": Attr.int(-1),
        "temperature": Attr.float(None),
        "dtype": Attr.dtype(None, choices=FLOAT_OUT),
        "use_length": Attr.bool(False),
    }


def _compute_dtype(data: Any, out_dtype: Any) -> np.dtype:
    wide = np.promote_types(data.dtype, np.float32)
    return np.promote_types(wide, out_dtype) if out_dtype is not None else wide


def _softmax_ref_impl(
    data: np.ndarray, length: np.ndarray | None, *, log: bool, negate: bool, **attrs: Any
) -> np.ndarray:
    out_dtype = attrs["dtype"].numpy if attrs["dtype"] else data.dtype
    x = data.astype(_compute_dtype(data, out_dtype))
    x = -x if negate else x
    x = x / attrs["temperature"] if attrs["temperature"] is not None else x
    axis = normalize_axis(attrs["axis"], x.ndim)
    mask = np.ones(x.shape, bool)
    if length is not None:
        rest = [d for i, d in enumerate(x.shape) if i != axis]
        position = np.arange(x.shape[axis]).reshape(channel_shape(x.ndim, axis))
        mask = position < np.expand_dims(length.astype(np.int32).reshape(rest), axis)
    peak = np.max(np.where(mask, x, -np.inf), axis=axis, keepdims=True, initial=-np.inf)
    shifted = x - np.where(np.isfinite(peak), peak, 0)
    total = np.sum(np.where(mask, np.exp(shifted), 0), axis=axis, keepdims=True)
    total = np.where(total > 0, total, 1)
    out = shifted - np.log(total) if log else np.exp(shifted) / total
    return np.where(mask, out, 0).astype(out_dtype)


def _softmax_lower_impl(
    jx: Any, data: Any, length: Any, *, log: bool, negate: bool, **attrs: Any
) -> Any:
    jnp = jx.jnp
    out_dtype = attrs["dtype"].numpy if attrs["dtype"] else data.dtype
    x = data.astype(_compute_dtype(data, out_dtype))
    x = -x if negate else x
    x = x / attrs["temperature"] if attrs["temperature"] is not None else x
    axis = normalize_axis(attrs["axis"], x.ndim)
    mask = jnp.ones(x.shape, bool)
    if length is not None:
        rest = [d for i, d in enumerate(x.shape) if i != axis]
        position = jnp.arange(x.shape[axis]).reshape(channel_shape(x.ndim, axis))
        mask = position < jnp.expand_dims(length.astype(jnp.int32).reshape(rest), axis)
    masked = jnp.where(mask, x, -jnp.inf)
    peak = jx.lax.stop_gradient(jnp.max(masked, axis=axis, keepdims=True, initial=-jnp.inf))
    shifted = masked - jnp.where(jnp.isfinite(peak), peak, 0)
    total = jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True)
    total = jnp.where(total > 0, total, 1)
    out = shifted - jnp.log(total) if log else jnp.exp(shifted) / total
    return jnp.where(mask, out, 0).astype(out_dtype)


def _wide_dtype(dtype: DType, out_dtype: DType) -> DType:
    """_compute_dtype for dtypes: float32 at least, and wide enough for the output."""
    wide = np.promote_types(np.promote_types(dtype.numpy, np.float32), out_dtype.numpy)
    return DType.from_any(wide)


def _softmax_onnx(
    o: Any, data: Any, length: Any, log: bool, negate: bool, attrs: Mapping[str, Any]
) -> Any:
    out_dtype = attrs["dtype"] or data.dtype
    x = o.cast(data, _wide_dtype(data.dtype, out_dtype))
    x = o.Neg(x) if negate else x
    if attrs["temperature"] is not None:
        x = o.Div(x, o.scalar(attrs["temperature"], x.dtype))
    axis = normalize_axis(attrs["axis"], data.rank)
    mask = None
    if length is not None:
        mask = _length_mask_onnx(o, data, length, axis)
        x = o.Where(mask, x, o.scalar(-np.inf, x.dtype))
    out = o.LogSoftmax(x, axis=axis) if log else o.Softmax(x, axis=axis)
    if mask is not None:
        out = o.Where(mask, out, o.scalar(0, out.dtype))
    return o.cast(out, out_dtype)


def _length_mask_onnx(o: Any, data: Any, length: Any, axis: int) -> Any:
    """position < length along axis, broadcast over the other axes."""
    size = data.shape[axis]
    if not isinstance(size, int):
        o.fail(f"use_length over a symbolic axis of size {size} is not supported")
    position = o.ints(range(size))
    position = o.reshape(position, channel_shape(data.rank, axis))
    keep = [1 if i == axis else d for i, d in enumerate(data.shape)]
    limit = o.Reshape(o.cast(length, DType.int64), o.shape_of(keep, [data]))
    return o.Less(position, limit)


def _def_softmax(name: str, *, log: bool, negate: bool, doc: str) -> None:
    op = defop(
        name,
        inputs=["data", "length?"],
        attrs=_softmax_attrs(),
        infer=_softmax_infer,
        nondiff_inputs=("length",),
        doc=doc + " temperature divides the input; dtype sets the output dtype; with "
        "use_length, positions >= length along axis are masked out and output 0.",
    )

    def ref(data: np.ndarray, length: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
        return _softmax_ref_impl(data, length, log=log, negate=negate, **attrs)

    def lower(jx: Any, data: Any, length: Any = None, **attrs: Any) -> Any:
        return _softmax_lower_impl(jx, data, length, log=log, negate=negate, **attrs)

    op.ref(ref)
    op.lower(lower)

    op.onnx(
        lambda o, data, length=None, **attrs: _softmax_onnx(o, data, length, log, negate, attrs)
    )


_def_softmax(
    "softmax", log=False, negate=False, doc="exp(x)/sum(exp(x)) along axis. MXNet: softmax."
)
_def_softmax(
    "log_softmax", log=True, negate=False, doc="log(softmax(x)) along axis. MXNet: log_softmax."
)
_def_softmax("softmin", log=False, negate=True, doc="softmax(-x) along axis. MXNet: softmin.")


# -- SoftmaxOutput -------------------------------------------------------------------
def _softmax_output_view(shape: tuple[int, ...], attrs: Mapping[str, Any]) -> tuple[int, ...]:
    """The shape MXNet computes SoftmaxOutput on; the softmax runs over its axis 1."""
    if attrs["multi_output"]:
        return (shape[0], shape[1], math.prod(shape[2:]))
    if attrs["preserve_shape"]:
        return (math.prod(shape[:-1]), shape[-1])
    return (shape[0], math.prod(shape[1:]))


def _softmax_output_labels(data: TensorType, attrs: Mapping[str, Any]) -> list[tuple[Dim, ...]]:
    """Label shapes SoftmaxOutput accepts besides data.shape (probabilities as labels)."""
    shape = data.shape
    if attrs["multi_output"]:
        # NOTE: MXNet accepts (n, d2*d3..), (n, d2, d3, ..) and (n, 1, d2, ..)
        return [(shape[0], dim_prod(shape[2:])), (shape[0], *shape[2:]), (shape[0], 1, *shape[2:])]
    if attrs["preserve_shape"]:
        return [shape[:-1]]
    # NOTE: MXNet's shape inference asks for data.shape[:-1], but its backward reads one
    # label per row of the (n, -1) view; the two agree for 2-d data, the case in use.
    return [(shape[0],)]


def _softmax_output_infer(data: TensorType, label: TensorType, **attrs: Any) -> TensorType:
    require_float("data", data)
    minimum = 2 if attrs["multi_output"] else 1
    if data.rank < minimum:
        raise ShapeError(f"data has rank {data.rank}, expected rank >= {minimum}")
    if label.shape != data.shape:
        accepted = _softmax_output_labels(data, attrs)
        if not any(label.rank == len(s) and all(map(dims_match, label.shape, s)) for s in accepted):
            shown = " or ".join(str(s) for s in accepted)
            raise ShapeError(f"label has shape {label.shape}, expected {shown} or {data.shape}")
    return data


softmax_output = defop(
    "SoftmaxOutput",
    inputs=["data", "label"],
    attrs={
        "grad_scale": Attr.float(1.0),
        "ignore_label": Attr.float(-1.0),
        "multi_output": Attr.bool(False),
        "use_ignore": Attr.bool(False),
        "preserve_shape": Attr.bool(False),
        "normalization": Attr.str("null", choices=("null", "batch", "valid")),
        "out_grad": Attr.bool(False),
        "smooth_alpha": Attr.float(0.0),
    },
    infer=_softmax_output_infer,
    aliases=["Softmax"],
    nondiff_inputs=("label",),
    inplace={0: 0},
    doc="Softmax over axis 1 of data viewed as (n, -1) (multi_output: over axis 1 of "
    "(n, k, -1); preserve_shape: over the last axis). Its backward ignores the head "
    "gradient, as MXNet: grad = (softmax - one_hot(label)) * grad_scale / normaliser, with "
    "label smoothing, ignore_label and out_grad (multiply by the head) as in MXNet; a label "
    "of data's shape is used as probabilities. MXNet: SoftmaxOutput, Softmax.",
)


def _softmax_rows_np(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=1, keepdims=True, initial=-np.inf)
    e = np.exp(shifted)
    return e / np.sum(e, axis=1, keepdims=True)


@softmax_output.ref
def _softmax_output_ref(data: np.ndarray, label: np.ndarray, **attrs: Any) -> np.ndarray:
    view = _softmax_output_view(data.shape, attrs)
    if data.size == 0:
        return data.copy()
    return _softmax_rows_np(np_wide(data).reshape(view)).reshape(data.shape).astype(data.dtype)


def _softmax_output_grad(
    jnp: Any, out: Any, label: Any, head: Any, attrs: Mapping[str, Any]
) -> Any:
    """MXNet's SoftmaxOutput backward (softmax_output-inl.h), the head used only with out_grad."""
    if label.shape == out.shape:
        grad = (out - label) * attrs["grad_scale"]
        return grad * head if attrs["out_grad"] else grad
    view = _softmax_output_view(out.shape, attrs)
    prob, classes = out.reshape(view), view[1]
    index = label.reshape((view[0], *view[2:])).astype(jnp.int32)
    # classes along axis 1 of the 2-d or 3-d view, against one label per row (and position)
    hit = jnp.arange(classes).reshape((1, classes, 1)[: len(view)]) == index[:, None]
    alpha = attrs["smooth_alpha"]
    off = alpha / (classes - 1) if classes > 1 else 0.0
    target = jnp.where(hit, 1 - alpha, off) if alpha > 0 else hit
    grad = prob - target.astype(prob.dtype)
    ignored = index == int(attrs["ignore_label"])
    if attrs["use_ignore"]:
        grad = grad * (~ignored)[:, None].astype(prob.dtype)
    grad = grad * _softmax_output_scale(jnp, ignored, view, attrs)
    grad = grad.reshape(out.shape)
    return grad * head if attrs["out_grad"] else grad


def _softmax_output_scale(
    jnp: Any, ignored: Any, view: tuple[int, ...], attrs: Mapping[str, Any]
) -> Any:
    normalization = attrs["normalization"]
    if normalization == "valid":
        count = jnp.maximum(jnp.sum(~ignored), 1)
    else:
        count = view[0] if normalization == "batch" else 1
    # NOTE: MXNet also divides by the spatial size with multi_output, unless "valid"
    spatial = view[2] if attrs["multi_output"] and normalization != "valid" else 1
    return attrs["grad_scale"] / spatial / count


@softmax_output.lower
def _softmax_output_lower(jx: Any, data: Any, label: Any, **attrs: Any) -> Any:
    jnp = jx.jnp
    view = _softmax_output_view(data.shape, attrs)

    def forward(x: Any) -> Any:
        return jx.nn.softmax(x.reshape(view), axis=1).reshape(x.shape)

    @jx.jax.custom_vjp
    def run(x: Any, target: Any) -> Any:
        return forward(x)

    def run_fwd(x: Any, target: Any) -> tuple[Any, Any]:
        out = forward(x)
        return out, (out, target)

    def run_bwd(saved: Any, head: Any) -> tuple[Any, Any]:
        out, target = saved
        grad = _softmax_output_grad(jnp, out, target, head, attrs)
        return grad.astype(out.dtype), jnp.zeros_like(target)

    run.defvjp(run_fwd, run_bwd)
    # float32 at least, so that float16 data keeps labels above 2048 exact
    return run(data, label.astype(_compute_dtype(data, None)))


@softmax_output.onnx
def _softmax_output_onnx(o: Any, data: Any, label: Any, **attrs: Any) -> Any:
    """The forward only (a softmax over axis 1 of MXNet's view); the label is unused."""
    shape = data.shape
    if attrs["multi_output"]:
        view = (shape[0], shape[1], dim_prod(shape[2:]))
    elif attrs["preserve_shape"]:
        view = (dim_prod(shape[:-1]), shape[-1])
    else:
        view = (shape[0], dim_prod(shape[1:]))
    x = o.cast(data, _wide_dtype(data.dtype, data.dtype))
    out = o.Softmax(o.reshape(x, view, like=[data]), axis=1)
    return o.cast(o.Reshape(out, o.Shape(data)), data.dtype)


# -- Dropout -------------------------------------------------------------------------
def _dropout_active(attrs: Mapping[str, Any]) -> bool:
    return (attrs["training"] or attrs["mode"] == "always") and attrs["p"] > 0


def _dropout_infer(data: TensorType, key: TensorType | None = None, **attrs: Any) -> TensorType:
    if not 0 <= attrs["p"] <= 1:
        raise AttrError(f"Dropout.p is {attrs['p']}, expected a probability in [0, 1]")
    for axis in attrs["axes"]:
        normalize_axis(axis, data.rank)
    if key is not None and (key.dtype is not DType.uint32 or key.shape != (2,)):
        raise TypeMismatchError(f"key is {key}, expected a raw PRNG key u32[2]")
    if key is None and _dropout_active(attrs):
        raise ShapeError("dropping (training or mode='always', p > 0) needs the key input")
    return data


dropout = defop(
    "Dropout",
    inputs=["data", "key?"],
    attrs={
        "p": Attr.float(0.5),
        "mode": Attr.str("training", choices=("training", "always")),
        "axes": Attr.ints(()),
        "cudnn_off": Attr.bool(False),
        "training": Attr.bool(False),
    },
    infer=_dropout_infer,
    rng=True,
    inplace={0: 0},
    doc="In training (or with mode='always') zero each element with probability p and "
    "scale the kept ones by 1/(1-p); `axes` share one mask along those axes. Otherwise, or "
    "with p = 0, the identity. MXNet: Dropout (its hidden mask output is not exposed).",
)


def _mask_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    shared = {normalize_axis(a, len(shape)) for a in axes}
    return tuple(1 if i in shared else d for i, d in enumerate(shape))


def _keep_scale(p: float) -> float:
    return 0.0 if p >= 1 else 1 / (1 - p)


@dropout.ref
def _dropout_ref(data: np.ndarray, key: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    if not _dropout_active(attrs):
        return data.copy()
    if key is None:
        raise HybrixError("Dropout: dropping needs the key input")
    generator = np.random.default_rng([int(k) for k in key])
    keep = generator.random(_mask_shape(data.shape, attrs["axes"])) >= attrs["p"]
    return (data * (keep * _keep_scale(attrs["p"]))).astype(data.dtype)


@dropout.lower
def _dropout_lower(jx: Any, data: Any, key: Any = None, **attrs: Any) -> Any:
    if not _dropout_active(attrs):
        return data
    if key is None:
        raise HybrixError("Dropout: dropping needs the key input")
    raw = jx.random.wrap_key_data(key)
    keep = jx.random.bernoulli(raw, 1 - attrs["p"], _mask_shape(data.shape, attrs["axes"]))
    return data * (keep.astype(data.dtype) * _keep_scale(attrs["p"]))


@dropout.onnx
def _dropout_onnx(o: Any, data: Any, key: Any = None, **attrs: Any) -> Any:
    if _dropout_active(attrs):
        o.fail(
            "Dropout in training mode (or mode='always') draws random masks from a JAX "
            "key; ONNX export covers inference, where Dropout is the identity"
        )
    return o.Identity(data)


# -- Embedding -----------------------------------------------------------------------
def _embedding_infer(data: TensorType, weight: TensorType, **attrs: Any) -> TensorType:
    check_shape("weight", weight, (attrs["input_dim"], attrs["output_dim"]))
    return TensorType(weight.dtype, (*data.shape, attrs["output_dim"]))


embedding = defop(
    "Embedding",
    inputs=["data", "weight"],
    attrs={
        "input_dim": Attr.int(),
        "output_dim": Attr.int(),
        "dtype": Attr.dtype(DType.float32),
        "sparse_grad": Attr.bool(False),
    },
    infer=_embedding_infer,
    nondiff_inputs=("data",),
    doc="Rows of weight (input_dim, output_dim) picked by the indices in data (any dtype, "
    "truncated to int); out-of-range indices are clipped to [0, input_dim-1] as MXNet does. "
    "The output has weight's dtype (MXNet's dtype attribute only types the weight). "
    "MXNet: Embedding.",
)


@embedding.ref
def _embedding_ref(data: np.ndarray, weight: np.ndarray, **attrs: Any) -> np.ndarray:
    index = np.clip(data.astype(np.int64), 0, weight.shape[0] - 1)
    return weight[index]


@embedding.lower
def _embedding_lower(jx: Any, data: Any, weight: Any, **attrs: Any) -> Any:
    jnp = jx.jnp
    index = jnp.clip(data.astype(jnp.int32), 0, weight.shape[0] - 1)
    return jnp.take(weight, index, axis=0)


@embedding.onnx
def _embedding_onnx(o: Any, data: Any, weight: Any, **attrs: Any) -> Any:
    index = o.cast(data, DType.int64)
    index = o.Clip(index, o.scalar(0, DType.int64), o.scalar(attrs["input_dim"] - 1, DType.int64))
    return o.Gather(weight, index, axis=0)
