"""Neural-network layer ops: FullyConnected, activations, the softmax family, norms, Dropout.

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
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, TensorType, dim_div, dim_prod

_FLOAT_OUT = (DType.float16, DType.float32, DType.float64)
_LOW_PRECISION = (DType.float16, DType.bfloat16)


# -- shared helpers ------------------------------------------------------------------
def _dims_match(a: Dim, b: Dim) -> bool:
    """Equal, or not decidable because one side is symbolic."""
    return a == b or isinstance(a, str) or isinstance(b, str)


def _check_shape(what: str, got: TensorType, expected: tuple[Dim, ...]) -> None:
    ok = got.rank == len(expected) and all(map(_dims_match, got.shape, expected))
    if not ok:
        raise ShapeError(f"{what} has shape {got.shape}, expected {expected}")


def _require_float(what: str, t: TensorType) -> None:
    if not t.dtype.is_float:
        raise TypeMismatchError(f"{what} is {t.dtype.name}, expected a float dtype")


def _param_dtype(data: TensorType, *params: TensorType) -> DType:
    """Norm parameters share one dtype: the data's, or float32 for 16-bit data (as MXNet)."""
    dtype = same_dtype(*params)
    allowed = {data.dtype} | ({DType.float32} if data.dtype in _LOW_PRECISION else set())
    if dtype not in allowed:
        shown = " or ".join(sorted(d.name for d in allowed))
        raise TypeMismatchError(f"parameters are {dtype.name}, expected {shown}")
    return dtype


def _np_wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype.itemsize < 4 else x


def _jx_wide(jx: Any, x: Any) -> Any:
    return x.astype(jx.jnp.float32) if x.dtype.itemsize < 4 else x


def _channel_shape(rank: int, axis: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector along `axis`."""
    return tuple(-1 if i == axis else 1 for i in range(rank))


def _other_axes(rank: int, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if i != axis)


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
    _check_shape("weight", weight, (hidden, in_units))
    if bias is not None:
        _check_shape("bias", bias, (hidden,))
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
    x = _np_wide(data.reshape(_fc_rows(data.shape, attrs["flatten"])))
    out = x @ _np_wide(weight).T
    if bias is not None:
        out = out + _np_wide(bias)
    return out.astype(data.dtype)


@fully_connected.lower
def _fc_lower(jx: Any, data: Any, weight: Any, bias: Any = None, **attrs: Any) -> Any:
    x = data.reshape(_fc_rows(data.shape, attrs["flatten"]))
    out = jx.jnp.matmul(x, weight.T)
    return out if bias is None else out + bias


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
    return _ACTIVATION_REF[act_type](_np_wide(data)).astype(data.dtype)


@activation.lower
def _activation_lower(jx: Any, data: Any, *, act_type: str) -> Any:
    return _ACTIVATION_LOWER[act_type](jx, data)


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
            _check_shape("gamma", gamma, (channels,))
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
    return gamma.reshape(_channel_shape(rank, 1))


def _gelu_erf_np(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype)


def _gelu_tanh(tanh: Callable[[Any], Any], x: Any) -> Any:
    return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@leaky_relu.ref
def _leaky_ref(data: np.ndarray, gamma: np.ndarray | None = None, **attrs: Any) -> np.ndarray:
    x, act = _np_wide(data), attrs["act_type"]
    negative = np.expm1(np.minimum(x, 0))
    if act in ("leaky", "rrelu", "prelu"):
        slope = _leaky_slope(attrs, None if gamma is None else _np_wide(gamma), x.ndim)
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


# -- softmax, log_softmax, softmin ---------------------------------------------------
def _softmax_infer(data: TensorType, length: TensorType | None = None, **attrs: Any) -> TensorType:
    _require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    axis = normalize_axis(attrs["axis"], data.rank)
    if attrs["use_length"] and length is None:
        raise ShapeError("use_length=True needs the length input")
    if length is not None and not attrs["use_length"]:
        raise ShapeError("a length input needs use_length=True")
    if length is not None:
        expected = tuple(d for i, d in enumerate(data.shape) if i != axis) or (1,)
        _check_shape("length", length, expected)
    return data.with_dtype(attrs["dtype"] or data.dtype)


def _softmax_attrs() -> dict[str, Attr]:
    return {
        "axis": Attr.int(-1),
        "temperature": Attr.float(None),
        "dtype": Attr.dtype(None, choices=_FLOAT_OUT),
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
        position = np.arange(x.shape[axis]).reshape(_channel_shape(x.ndim, axis))
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
        position = jnp.arange(x.shape[axis]).reshape(_channel_shape(x.ndim, axis))
        mask = position < jnp.expand_dims(length.astype(jnp.int32).reshape(rest), axis)
    masked = jnp.where(mask, x, -jnp.inf)
    peak = jx.lax.stop_gradient(jnp.max(masked, axis=axis, keepdims=True, initial=-jnp.inf))
    shifted = masked - jnp.where(jnp.isfinite(peak), peak, 0)
    total = jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True)
    total = jnp.where(total > 0, total, 1)
    out = shifted - jnp.log(total) if log else jnp.exp(shifted) / total
    return jnp.where(mask, out, 0).astype(out_dtype)


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
    _require_float("data", data)
    minimum = 2 if attrs["multi_output"] else 1
    if data.rank < minimum:
        raise ShapeError(f"data has rank {data.rank}, expected rank >= {minimum}")
    if label.shape != data.shape:
        accepted = _softmax_output_labels(data, attrs)
        if not any(
            label.rank == len(s) and all(map(_dims_match, label.shape, s)) for s in accepted
        ):
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
    return _softmax_rows_np(_np_wide(data).reshape(view)).reshape(data.shape).astype(data.dtype)


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


# -- BatchNorm -----------------------------------------------------------------------
def _batchnorm_outputs(attrs: Mapping[str, Any]) -> list[str]:
    shown = ["output", "mean", "var"] if attrs.get("output_mean_var") else ["output"]
    return [*shown, "new_moving_mean", "new_moving_var"]


def _batchnorm_infer(
    data: TensorType,
    gamma: TensorType,
    beta: TensorType,
    mean: TensorType,
    var: TensorType,
    **attrs: Any,
) -> tuple[TensorType, ...]:
    _require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    channels = data.shape[normalize_axis(attrs["axis"], data.rank)]
    names = ("gamma", "beta", "moving_mean", "moving_var")
    for name, param in zip(names, (gamma, beta, mean, var), strict=True):
        _check_shape(name, param, (channels,))
    stat = TensorType(_param_dtype(data, gamma, beta, mean, var), (channels,))
    extra = (stat, stat) if attrs["output_mean_var"] else ()
    return (data, *extra, stat, stat)


batch_norm = defop(
    "BatchNorm",
    inputs=["data", "gamma", "beta", "moving_mean", "moving_var"],
    outputs=_batchnorm_outputs,
    attrs={
        "eps": Attr.float(1e-3),
        "momentum": Attr.float(0.9),
        "fix_gamma": Attr.bool(True),
        "use_global_stats": Attr.bool(False),
        "output_mean_var": Attr.bool(False),
        "axis": Attr.int(1),
        "cudnn_off": Attr.bool(False),
        "min_calib_range": Attr.float(None),
        "max_calib_range": Attr.float(None),
        "training": Attr.bool(False),
    },
    infer=_batchnorm_infer,
    nondiff_inputs=("moving_mean", "moving_var"),
    visible_outputs=lambda attrs: 3 if attrs.get("output_mean_var") else 1,
    aux_updates={"new_moving_mean": "moving_mean", "new_moving_var": "moving_var"},
    doc="(x - mean) / sqrt(var + eps) * gamma + beta per channel of `axis`. Training without "
    "use_global_stats: batch statistics (biased variance), and new_moving_* = momentum * old "
    "+ (1 - momentum) * batch stat; otherwise the moving statistics, passed through. "
    "fix_gamma uses gamma = 1 (gradient 0). output_mean_var shows `mean` and `var`, which "
    "holds the inverse std 1/sqrt(var + eps) as in MXNet. As MXNet, the backward in "
    "predict mode without use_global_stats is the training formula evaluated with the "
    "moving statistics. min/max_calib_range (quantization) are ignored. MXNet: BatchNorm.",
)


def _batchnorm_stats_np(
    x: np.ndarray, mean: np.ndarray, var: np.ndarray, attrs: Mapping[str, Any]
) -> tuple[np.ndarray, ...]:
    """(mean, var, new_moving_mean, new_moving_var) of a BatchNorm call."""
    axis = normalize_axis(attrs["axis"], x.ndim)
    if attrs["training"] and not attrs["use_global_stats"]:
        reduce = _other_axes(x.ndim, axis)
        batch_mean, batch_var = x.mean(axis=reduce), x.var(axis=reduce)
        momentum = attrs["momentum"]
        new_mean = mean * momentum + batch_mean * (1 - momentum)
        new_var = var * momentum + batch_var * (1 - momentum)
        return batch_mean, batch_var, new_mean, new_var
    return mean, var, mean, var


@batch_norm.ref
def _batchnorm_ref(
    data: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    moving_mean: np.ndarray,
    moving_var: np.ndarray,
    **attrs: Any,
) -> tuple[np.ndarray, ...]:
    x = _np_wide(data)
    gamma, beta = _np_wide(gamma), _np_wide(beta)
    mean, var, new_mean, new_var = _batchnorm_stats_np(
        x, _np_wide(moving_mean), _np_wide(moving_var), attrs
    )
    shape = _channel_shape(x.ndim, normalize_axis(attrs["axis"], x.ndim))
    invstd = 1 / np.sqrt(var + attrs["eps"])
    scale = invstd if attrs["fix_gamma"] else invstd * gamma
    out = (x - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)
    stat = moving_mean.dtype
    extra = (mean.astype(stat), invstd.astype(stat)) if attrs["output_mean_var"] else ()
    return (out.astype(data.dtype), *extra, new_mean.astype(stat), new_var.astype(stat))


def _batchnorm_apply(
    jnp: Any, x: Any, gamma: Any, beta: Any, mean: Any, var: Any, attrs: Mapping[str, Any]
) -> Any:
    shape = _channel_shape(x.ndim, normalize_axis(attrs["axis"], x.ndim))
    invstd = jnp.reciprocal(jnp.sqrt(var + attrs["eps"]))
    scale = invstd if attrs["fix_gamma"] else invstd * gamma
    return (x - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)


def _batchnorm_moving_with_train_grad(jx: Any, attrs: Mapping[str, Any]) -> Callable[..., Any]:
    """BatchNorm on moving stats whose VJP is MXNet's training formula at those stats.

    MXNet 1.9 (batch_norm.cc, BatchNormBackwardImpl) takes the full formula whenever
    use_global_stats is off, also when the forward ran in predict mode.
    """
    jnp = jx.jnp

    @jx.jax.custom_vjp
    def run(x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> Any:
        return _batchnorm_apply(jnp, x, gamma, beta, mean, var, attrs)

    def run_fwd(x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> tuple[Any, Any]:
        return run(x, gamma, beta, mean, var), (x, gamma, mean, var)

    def run_bwd(saved: Any, head: Any) -> tuple[Any, ...]:
        x, gamma, mean, var = saved
        axis = normalize_axis(attrs["axis"], x.ndim)
        shape, reduce = _channel_shape(x.ndim, axis), _other_axes(x.ndim, axis)
        count = max(x.size // max(x.shape[axis], 1), 1)
        invstd = jnp.reciprocal(jnp.sqrt(var + attrs["eps"]))
        centered = x - mean.reshape(shape)
        head_sum, dotp = head.sum(axis=reduce), (centered * head).sum(axis=reduce)
        weight = jnp.ones_like(gamma) if attrs["fix_gamma"] else gamma
        projection = centered * (dotp * invstd * invstd / count).reshape(shape)
        scale = (invstd * weight).reshape(shape)
        grad_x = (head - (head_sum / count).reshape(shape) - projection) * scale
        grad_gamma = jnp.zeros_like(gamma) if attrs["fix_gamma"] else dotp * invstd
        return grad_x, grad_gamma, head_sum, jnp.zeros_like(mean), jnp.zeros_like(var)

    run.defvjp(run_fwd, run_bwd)
    return run


@batch_norm.lower
def _batchnorm_lower(
    jx: Any, data: Any, gamma: Any, beta: Any, moving_mean: Any, moving_var: Any, **attrs: Any
) -> tuple[Any, ...]:
    jnp = jx.jnp
    x = _jx_wide(jx, data)
    gamma, beta, mean, var = (p.astype(x.dtype) for p in (gamma, beta, moving_mean, moving_var))
    axis = normalize_axis(attrs["axis"], x.ndim)
    new_mean, new_var = mean, var
    if attrs["training"] and not attrs["use_global_stats"]:
        reduce = _other_axes(x.ndim, axis)
        mean, var = x.mean(axis=reduce), x.var(axis=reduce)
        momentum = attrs["momentum"]
        new_mean = new_mean * momentum + mean * (1 - momentum)
        new_var = new_var * momentum + var * (1 - momentum)
        out = _batchnorm_apply(jnp, x, gamma, beta, mean, var, attrs)
    elif attrs["use_global_stats"]:
        out = _batchnorm_apply(jnp, x, gamma, beta, mean, var, attrs)
    else:
        out = _batchnorm_moving_with_train_grad(jx, attrs)(x, gamma, beta, mean, var)
    stat = moving_mean.dtype
    invstd = jnp.reciprocal(jnp.sqrt(var + attrs["eps"]))
    extra = (mean.astype(stat), invstd.astype(stat)) if attrs["output_mean_var"] else ()
    return (out.astype(data.dtype), *extra, new_mean.astype(stat), new_var.astype(stat))


# -- LayerNorm, GroupNorm, InstanceNorm ----------------------------------------------
def _norm_outputs(attrs: Mapping[str, Any]) -> list[str]:
    return ["output", "mean", "std"] if attrs.get("output_mean_var") else ["output"]


def _layernorm_infer(data: TensorType, gamma: TensorType, beta: TensorType, **attrs: Any) -> Any:
    _require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    axis = normalize_axis(attrs["axis"], data.rank)
    _check_shape("gamma", gamma, (data.shape[axis],))
    _check_shape("beta", beta, (data.shape[axis],))
    _param_dtype(data, gamma, beta)
    if not attrs["output_mean_var"]:
        return data
    stat = data.with_shape(1 if i == axis else d for i, d in enumerate(data.shape))
    return data, stat, stat


layer_norm = defop(
    "LayerNorm",
    inputs=["data", "gamma", "beta"],
    outputs=_norm_outputs,
    attrs={
        "axis": Attr.int(-1),
        "eps": Attr.float(1e-5),
        "output_mean_var": Attr.bool(False),
    },
    infer=_layernorm_infer,
    doc="(x - mean) / sqrt(var + eps) * gamma + beta over `axis` (biased variance); "
    "output_mean_var adds `mean` and `std` = sqrt(var + eps), keeping axis as size 1. "
    "MXNet: LayerNorm.",
)


def _normalize_np(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, ...]:
    """(normalized x, mean, std) over axes, kept as size-1 dims."""
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    return (x - mean) / std, mean, std


def _normalize_jx(jnp: Any, x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, ...]:
    mean = jnp.mean(x, axis=axes, keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True) + eps)
    return (x - mean) / std, mean, std


def _with_stats(out: Any, mean: Any, std: Any, dtype: Any, attrs: Mapping[str, Any]) -> Any:
    if not attrs["output_mean_var"]:
        return out.astype(dtype)
    return out.astype(dtype), mean.astype(dtype), std.astype(dtype)


@layer_norm.ref
def _layernorm_ref(data: np.ndarray, gamma: np.ndarray, beta: np.ndarray, **attrs: Any) -> Any:
    x = _np_wide(data)
    axis = normalize_axis(attrs["axis"], x.ndim)
    shape = _channel_shape(x.ndim, axis)
    normed, mean, std = _normalize_np(x, (axis,), attrs["eps"])
    out = normed * _np_wide(gamma).reshape(shape) + _np_wide(beta).reshape(shape)
    return _with_stats(out, mean, std, data.dtype, attrs)


@layer_norm.lower
def _layernorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    x = _jx_wide(jx, data)
    axis = normalize_axis(attrs["axis"], x.ndim)
    shape = _channel_shape(x.ndim, axis)
    normed, mean, std = _normalize_jx(jx.jnp, x, (axis,), attrs["eps"])
    out = normed * gamma.reshape(shape).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)
    return _with_stats(out, mean, std, data.dtype, attrs)


def _groupnorm_infer(data: TensorType, gamma: TensorType, beta: TensorType, **attrs: Any) -> Any:
    _require_float("data", data)
    if data.rank < 2:
        raise ShapeError(f"data has rank {data.rank}, expected (batch, channel, ...)")
    groups, channels = attrs["num_groups"], data.shape[1]
    if groups < 1:
        raise AttrError(f"GroupNorm.num_groups is {groups}, expected >= 1")
    try:
        dim_div(channels, groups)
    except ShapeError:
        raise ShapeError(f"{channels} channels do not split into {groups} groups") from None
    # NOTE: MXNet 1.9 takes one gamma/beta per channel; MXNet <= 1.6 took one per group
    per_group = gamma.shape == (groups,) and beta.shape == (groups,)
    if not per_group:
        _check_shape("gamma", gamma, (channels,))
        _check_shape("beta", beta, (channels,))
    _param_dtype(data, gamma, beta)
    if not attrs["output_mean_var"]:
        return data
    stat = data.with_shape((data.shape[0], groups))
    return data, stat, stat


group_norm = defop(
    "GroupNorm",
    inputs=["data", "gamma", "beta"],
    outputs=_norm_outputs,
    attrs={
        "num_groups": Attr.int(1),
        "eps": Attr.float(1e-5),
        "output_mean_var": Attr.bool(False),
    },
    infer=_groupnorm_infer,
    doc="Normalise each of num_groups channel groups of (N, C, ...) data over its channels "
    "and spatial positions, then gamma * x + beta per channel (a (num_groups,) gamma, as "
    "MXNet <= 1.6 had, scales per group). output_mean_var adds `mean` and `std` of shape "
    "(N, num_groups). MXNet: GroupNorm.",
)


def _grouped(shape: tuple[int, ...], groups: int) -> tuple[int, ...]:
    return (shape[0], groups, shape[1] // groups, *shape[2:])


def _group_affine(param: Any, data_shape: tuple[int, ...], groups: int) -> Any:
    """A gamma/beta reshaped to broadcast against the grouped view of the data."""
    per_channel = (1, groups, data_shape[1] // groups) + (1,) * (len(data_shape) - 2)
    if param.shape[0] == data_shape[1]:
        return param.reshape(per_channel)
    return param.reshape((1, groups) + (1,) * (len(data_shape) - 1))


@group_norm.ref
def _groupnorm_ref(data: np.ndarray, gamma: np.ndarray, beta: np.ndarray, **attrs: Any) -> Any:
    groups = attrs["num_groups"]
    x = _np_wide(data).reshape(_grouped(data.shape, groups))
    normed, mean, std = _normalize_np(x, tuple(range(2, x.ndim)), attrs["eps"])
    scale = _group_affine(_np_wide(gamma), data.shape, groups)
    out = (normed * scale + _group_affine(_np_wide(beta), data.shape, groups)).reshape(data.shape)
    stat_shape = (data.shape[0], groups)
    return _with_stats(out, mean.reshape(stat_shape), std.reshape(stat_shape), data.dtype, attrs)


@group_norm.lower
def _groupnorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    groups = attrs["num_groups"]
    x = _jx_wide(jx, data).reshape(_grouped(data.shape, groups))
    normed, mean, std = _normalize_jx(jx.jnp, x, tuple(range(2, x.ndim)), attrs["eps"])
    scale = _group_affine(gamma.astype(x.dtype), data.shape, groups)
    shift = _group_affine(beta.astype(x.dtype), data.shape, groups)
    out = (normed * scale + shift).reshape(data.shape)
    stat_shape = (data.shape[0], groups)
    return _with_stats(out, mean.reshape(stat_shape), std.reshape(stat_shape), data.dtype, attrs)


def _instancenorm_infer(
    data: TensorType, gamma: TensorType, beta: TensorType, **attrs: Any
) -> TensorType:
    _require_float("data", data)
    if data.rank < 3:
        raise ShapeError(f"data has rank {data.rank}, expected (batch, channel, spatial...)")
    _check_shape("gamma", gamma, (data.shape[1],))
    _check_shape("beta", beta, (data.shape[1],))
    _param_dtype(data, gamma, beta)
    return data


instance_norm = defop(
    "InstanceNorm",
    inputs=["data", "gamma", "beta"],
    attrs={"eps": Attr.float(1e-3)},
    infer=_instancenorm_infer,
    doc="Normalise each (sample, channel) of (N, C, spatial...) data over its spatial "
    "positions (biased variance), then gamma * x + beta per channel. MXNet: InstanceNorm "
    "(whose hidden mean/var outputs are not exposed).",
)


@instance_norm.ref
def _instancenorm_ref(
    data: np.ndarray, gamma: np.ndarray, beta: np.ndarray, **attrs: Any
) -> np.ndarray:
    x = _np_wide(data)
    shape = _channel_shape(x.ndim, 1)
    normed, _, _ = _normalize_np(x, tuple(range(2, x.ndim)), attrs["eps"])
    out = normed * _np_wide(gamma).reshape(shape) + _np_wide(beta).reshape(shape)
    return out.astype(data.dtype)


@instance_norm.lower
def _instancenorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    x = _jx_wide(jx, data)
    shape = _channel_shape(x.ndim, 1)
    normed, _, _ = _normalize_jx(jx.jnp, x, tuple(range(2, x.ndim)), attrs["eps"])
    out = normed * gamma.reshape(shape).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)
    return out.astype(data.dtype)


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


# -- Embedding -----------------------------------------------------------------------
def _embedding_infer(data: TensorType, weight: TensorType, **attrs: Any) -> TensorType:
    _check_shape("weight", weight, (attrs["input_dim"], attrs["output_dim"]))
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
