"""Normalisation ops: BatchNorm, LayerNorm, GroupNorm, InstanceNorm (MXNet 1.9 semantics).

Statistics are computed in float32 at least for 16-bit data, as MXNet accumulates in its
AccReal type, and cast back to the data dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hybrix.ir.errors import AttrError, ShapeError
from hybrix.ir.ops._infer import normalize_axis
from hybrix.ir.ops._nn_common import (
    channel_shape,
    check_shape,
    jx_wide,
    np_wide,
    other_axes,
    param_dtype,
    require_float,
)
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import TensorType, dim_div


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
    require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    channels = data.shape[normalize_axis(attrs["axis"], data.rank)]
    names = ("gamma", "beta", "moving_mean", "moving_var")
    for name, param in zip(names, (gamma, beta, mean, var), strict=True):
        check_shape(name, param, (channels,))
    stat = TensorType(param_dtype(data, gamma, beta, mean, var), (channels,))
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
    aux_when=lambda attrs: attrs["training"] and not attrs["use_global_stats"],
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
        reduce = other_axes(x.ndim, axis)
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
    x = np_wide(data)
    gamma, beta = np_wide(gamma), np_wide(beta)
    mean, var, new_mean, new_var = _batchnorm_stats_np(
        x, np_wide(moving_mean), np_wide(moving_var), attrs
    )
    shape = channel_shape(x.ndim, normalize_axis(attrs["axis"], x.ndim))
    invstd = 1 / np.sqrt(var + attrs["eps"])
    scale = invstd if attrs["fix_gamma"] else invstd * gamma
    out = (x - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)
    stat = moving_mean.dtype
    extra = (mean.astype(stat), invstd.astype(stat)) if attrs["output_mean_var"] else ()
    return (out.astype(data.dtype), *extra, new_mean.astype(stat), new_var.astype(stat))


def _batchnorm_apply(
    jnp: Any, x: Any, gamma: Any, beta: Any, mean: Any, var: Any, attrs: Mapping[str, Any]
) -> Any:
    shape = channel_shape(x.ndim, normalize_axis(attrs["axis"], x.ndim))
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
        shape, reduce = channel_shape(x.ndim, axis), other_axes(x.ndim, axis)
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
    x = jx_wide(jx, data)
    gamma, beta, mean, var = (p.astype(x.dtype) for p in (gamma, beta, moving_mean, moving_var))
    axis = normalize_axis(attrs["axis"], x.ndim)
    new_mean, new_var = mean, var
    if attrs["training"] and not attrs["use_global_stats"]:
        reduce = other_axes(x.ndim, axis)
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
    require_float("data", data)
    if data.rank == 0:
        raise ShapeError("data is a scalar, expected rank >= 1")
    axis = normalize_axis(attrs["axis"], data.rank)
    check_shape("gamma", gamma, (data.shape[axis],))
    check_shape("beta", beta, (data.shape[axis],))
    param_dtype(data, gamma, beta)
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
    x = np_wide(data)
    axis = normalize_axis(attrs["axis"], x.ndim)
    shape = channel_shape(x.ndim, axis)
    normed, mean, std = _normalize_np(x, (axis,), attrs["eps"])
    out = normed * np_wide(gamma).reshape(shape) + np_wide(beta).reshape(shape)
    return _with_stats(out, mean, std, data.dtype, attrs)


@layer_norm.lower
def _layernorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    x = jx_wide(jx, data)
    axis = normalize_axis(attrs["axis"], x.ndim)
    shape = channel_shape(x.ndim, axis)
    normed, mean, std = _normalize_jx(jx.jnp, x, (axis,), attrs["eps"])
    out = normed * gamma.reshape(shape).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)
    return _with_stats(out, mean, std, data.dtype, attrs)


def _groupnorm_infer(data: TensorType, gamma: TensorType, beta: TensorType, **attrs: Any) -> Any:
    require_float("data", data)
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
        check_shape("gamma", gamma, (channels,))
        check_shape("beta", beta, (channels,))
    param_dtype(data, gamma, beta)
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
    x = np_wide(data).reshape(_grouped(data.shape, groups))
    normed, mean, std = _normalize_np(x, tuple(range(2, x.ndim)), attrs["eps"])
    scale = _group_affine(np_wide(gamma), data.shape, groups)
    out = (normed * scale + _group_affine(np_wide(beta), data.shape, groups)).reshape(data.shape)
    stat_shape = (data.shape[0], groups)
    return _with_stats(out, mean.reshape(stat_shape), std.reshape(stat_shape), data.dtype, attrs)


@group_norm.lower
def _groupnorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    groups = attrs["num_groups"]
    x = jx_wide(jx, data).reshape(_grouped(data.shape, groups))
    normed, mean, std = _normalize_jx(jx.jnp, x, tuple(range(2, x.ndim)), attrs["eps"])
    scale = _group_affine(gamma.astype(x.dtype), data.shape, groups)
    shift = _group_affine(beta.astype(x.dtype), data.shape, groups)
    out = (normed * scale + shift).reshape(data.shape)
    stat_shape = (data.shape[0], groups)
    return _with_stats(out, mean.reshape(stat_shape), std.reshape(stat_shape), data.dtype, attrs)


def _instancenorm_infer(
    data: TensorType, gamma: TensorType, beta: TensorType, **attrs: Any
) -> TensorType:
    require_float("data", data)
    if data.rank < 3:
        raise ShapeError(f"data has rank {data.rank}, expected (batch, channel, spatial...)")
    check_shape("gamma", gamma, (data.shape[1],))
    check_shape("beta", beta, (data.shape[1],))
    param_dtype(data, gamma, beta)
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
    x = np_wide(data)
    shape = channel_shape(x.ndim, 1)
    normed, _, _ = _normalize_np(x, tuple(range(2, x.ndim)), attrs["eps"])
    out = normed * np_wide(gamma).reshape(shape) + np_wide(beta).reshape(shape)
    return out.astype(data.dtype)


@instance_norm.lower
def _instancenorm_lower(jx: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    x = jx_wide(jx, data)
    shape = channel_shape(x.ndim, 1)
    normed, _, _ = _normalize_jx(jx.jnp, x, tuple(range(2, x.ndim)), attrs["eps"])
    out = normed * gamma.reshape(shape).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)
    return out.astype(data.dtype)


# -- ONNX (inference forms) -------------------------------------------------------------
def _wide_onnx(o: Any, value: Any) -> Any:
    """float32 at least, as the statistics are computed (MXNet's AccReal)."""
    return o.cast(value, "float32") if value.dtype.itemsize < 4 else value


def _normalize_onnx(o: Any, x: Any, axes: list[int], eps: float) -> tuple[Any, Any, Any]:
    """(normalized x, mean, std) over axes kept as size-1 dims; biased variance."""
    mean = o.reduce("ReduceMean", x, axes, keepdims=True)
    centered = o.Sub(x, mean)
    var = o.reduce("ReduceMean", o.Mul(centered, centered), axes, keepdims=True)
    std = o.Sqrt(o.Add(var, o.scalar(eps, x.dtype)))
    return o.Div(centered, std), mean, std


@batch_norm.onnx
def _batchnorm_onnx(
    o: Any, data: Any, gamma: Any, beta: Any, moving_mean: Any, moving_var: Any, **attrs: Any
) -> tuple[Any, ...]:
    if attrs["training"] and not attrs["use_global_stats"]:
        o.fail(
            "BatchNorm in training mode normalises with batch statistics and updates the "
            "moving ones; ONNX export covers inference (training=False or use_global_stats)"
        )
    axis = normalize_axis(attrs["axis"], data.rank)
    eps = attrs["eps"]
    scale = gamma
    if attrs["fix_gamma"]:  # MXNet uses gamma = 1
        scale = o.ConstantOfShape(
            o.Shape(gamma), value=o.tensor_attr(np.ones(1, gamma.dtype.numpy))
        )
    same = data.dtype is gamma.dtype
    if axis == 1 and data.rank >= 2 and same:
        out = o.BatchNormalization(data, scale, beta, moving_mean, moving_var, epsilon=eps)
    else:
        x = _wide_onnx(o, data)
        shape = channel_shape(data.rank, axis)
        params = [o.reshape(o.cast(p, x.dtype), shape) for p in (scale, beta, moving_mean)]
        var = o.reshape(o.cast(moving_var, x.dtype), shape)
        invstd = o.Reciprocal(o.Sqrt(o.Add(var, o.scalar(eps, x.dtype))))
        normed = o.Mul(o.Sub(x, params[2]), o.Mul(invstd, params[0]))
        out = o.cast(o.Add(normed, params[1]), data.dtype)
    extra: tuple[Any, ...] = ()
    if attrs["output_mean_var"]:
        invstd = o.Reciprocal(o.Sqrt(o.Add(moving_var, o.scalar(eps, moving_var.dtype))))
        extra = (o.Identity(moving_mean), invstd)
    return (out, *extra, moving_mean, moving_var)


def _stats_onnx(o: Any, out: Any, mean: Any, std: Any, dtype: Any, attrs: Mapping[str, Any]) -> Any:
    if not attrs["output_mean_var"]:
        return o.cast(out, dtype)
    return o.cast(out, dtype), o.cast(mean, dtype), o.cast(std, dtype)


@layer_norm.onnx
def _layernorm_onnx(o: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    axis = normalize_axis(attrs["axis"], data.rank)
    plain = not attrs["output_mean_var"] and data.dtype is gamma.dtype is beta.dtype
    if o.opset >= 17 and axis == data.rank - 1 and plain:
        return o.LayerNormalization(data, gamma, beta, axis=axis, epsilon=attrs["eps"])
    x = _wide_onnx(o, data)
    shape = channel_shape(data.rank, axis)
    normed, mean, std = _normalize_onnx(o, x, [axis], attrs["eps"])
    scale, shift = (o.reshape(o.cast(p, x.dtype), shape) for p in (gamma, beta))
    return _stats_onnx(o, o.Add(o.Mul(normed, scale), shift), mean, std, data.dtype, attrs)


@group_norm.onnx
def _groupnorm_onnx(o: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    groups, channels = attrs["num_groups"], data.shape[1]
    if not isinstance(channels, int):
        o.fail(f"GroupNorm over a symbolic channel count {channels} is not supported")
    # NOTE: decomposed: ONNX GroupNormalization changed its scale layout between 18 and 21
    x = _wide_onnx(o, data)
    grouped = (data.shape[0], groups, channels // groups, *data.shape[2:])
    view = o.reshape(x, grouped, like=[data])
    normed, mean, std = _normalize_onnx(o, view, list(range(2, len(grouped))), attrs["eps"])
    per_channel = gamma.shape == (channels,)
    spatial = (1,) * (data.rank - 2)
    shape = (1, groups, channels // groups, *spatial) if per_channel else (1, groups, 1, *spatial)
    scale, shift = (o.reshape(o.cast(p, x.dtype), shape) for p in (gamma, beta))
    out = o.Reshape(o.Add(o.Mul(normed, scale), shift), o.Shape(data))
    stat = (data.shape[0], groups)
    mean, std = (o.reshape(s, stat, like=[data]) for s in (mean, std))
    return _stats_onnx(o, out, mean, std, data.dtype, attrs)


@instance_norm.onnx
def _instancenorm_onnx(o: Any, data: Any, gamma: Any, beta: Any, **attrs: Any) -> Any:
    if data.dtype is gamma.dtype is beta.dtype:
        return o.InstanceNormalization(data, gamma, beta, epsilon=attrs["eps"])
    x = _wide_onnx(o, data)
    shape = channel_shape(data.rank, 1)
    normed, _, _ = _normalize_onnx(o, x, list(range(2, data.rank)), attrs["eps"])
    scale, shift = (o.reshape(o.cast(p, x.dtype), shape) for p in (gamma, beta))
    return o.cast(o.Add(o.Mul(normed, scale), shift), data.dtype)
