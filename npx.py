"""hybrix.npx: mxnet.numpy_extension: NumPy mode switches and the neural-network ops.

`set_np()` turns on MXNet's NumPy semantics for Gluon (blocks return np.ndarray);
the ops (`npx.relu`, `npx.convolution`, ...) are the registered layer ops returning
np.ndarray, so they dispatch, record and trace as nd's do.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as onp

from hybrix import autograd
from hybrix.context import Context, cpu, gpu, num_gpus
from hybrix.ir import HybrixError
from hybrix.mxnp._array import as_array, call, from_nd, ndarray, to_np
from hybrix.ndarray import utils as _nd_utils

__all__ = [
    "activation",
    "batch_dot",
    "batch_norm",
    "convolution",
    "cpu",
    "dropout",
    "embedding",
    "fully_connected",
    "gpu",
    "is_np_array",
    "is_np_shape",
    "layer_norm",
    "load",
    "log_softmax",
    "num_gpus",
    "one_hot",
    "pick",
    "pooling",
    "relu",
    "reset_np",
    "save",
    "sequence_mask",
    "set_np",
    "sigmoid",
    "softmax",
    "topk",
    "use_np",
    "waitall",
]


class _Mode(threading.local):
    def __init__(self) -> None:
        self.array = False
        self.shape = False


_MODE = _Mode()


def set_np(shape: bool = True, array: bool = True, dtype: bool = False) -> None:
    """NumPy semantics on: Gluon blocks return np.ndarray (MXNet's npx.set_np)."""
    if dtype:
        raise HybrixError("npx.set_np(dtype=True) (float64 defaults) is not supported")
    if array and not shape:
        raise HybrixError("npx.set_np: NumPy arrays need NumPy shapes (shape=True)")
    _MODE.array, _MODE.shape = bool(array), bool(shape)


def reset_np() -> None:
    _MODE.array = _MODE.shape = False


def is_np_array() -> bool:
    return _MODE.array


def is_np_shape() -> bool:
    return _MODE.shape


def use_np(thing: Any) -> Any:
    """Decorator MXNet uses on blocks and functions; NumPy mode is global here."""
    return thing


def waitall() -> None:
    _nd_utils.waitall()


def save(file: str, arr: Any) -> None:
    _nd_utils.save(file, arr)


def load(file: str) -> Any:
    return to_np(_nd_utils.load(file))


# -- activations --------------------------------------------------------------------------
def relu(data: Any) -> ndarray:
    return call("relu", [data if type(data) is ndarray else as_array(data)])


def sigmoid(data: Any) -> ndarray:
    return call("sigmoid", [as_array(data)])


def activation(data: Any, act_type: str = "relu", **kwargs: Any) -> ndarray:
    return call("Activation", [as_array(data)], act_type=act_type)


def softmax(
    data: Any,
    length: Any = None,
    axis: int = -1,
    temperature: Any = None,
    use_length: bool = False,
    dtype: Any = None,
) -> ndarray:
    inputs = [as_array(data)] + ([as_array(length)] if use_length else [])
    return call(
        "softmax", inputs, axis=axis, temperature=temperature, use_length=use_length, dtype=dtype
    )


def log_softmax(
    data: Any,
    length: Any = None,
    axis: int = -1,
    temperature: Any = None,
    use_length: bool = False,
    dtype: Any = None,
) -> ndarray:
    inputs = [as_array(data)] + ([as_array(length)] if use_length else [])
    return call(
        "log_softmax",
        inputs,
        axis=axis,
        temperature=temperature,
        use_length=use_length,
        dtype=dtype,
    )


# -- indexing ----------------------------------------------------------------------------
def one_hot(
    data: Any, depth: int, on_value: float = 1.0, off_value: float = 0.0, dtype: Any = "float32"
) -> ndarray:
    return call(
        "one_hot",
        [as_array(data)],
        depth=depth,
        on_value=on_value,
        off_value=off_value,
        dtype=dtype,
    )


def pick(
    data: Any, index: Any, axis: int = -1, mode: str = "clip", keepdims: bool = False
) -> ndarray:
    return call("pick", [as_array(data), as_array(index)], axis=axis, mode=mode, keepdims=keepdims)


def topk(
    data: Any,
    axis: int = -1,
    k: int = 1,
    ret_typ: str = "indices",
    is_ascend: bool = False,
    dtype: Any = "float32",
) -> Any:
    return call(
        "topk", [as_array(data)], axis=axis, k=k, ret_typ=ret_typ, is_ascend=is_ascend, dtype=dtype
    )


def batch_dot(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> ndarray:
    return call(
        "batch_dot", [as_array(a), as_array(b)], transpose_a=transpose_a, transpose_b=transpose_b
    )


def sequence_mask(
    data: Any,
    sequence_length: Any = None,
    use_sequence_length: bool = False,
    value: float = 0.0,
    axis: int = 0,
) -> ndarray:
    """Set steps at or past each sequence's length to `value` (time axis 0 or 1, batch the
    other), as MXNet's SequenceMask; built from arange, a comparison and where."""
    from hybrix.mxnp import _functions as fn

    data = from_nd(as_array(data))
    if not use_sequence_length:
        return data
    if axis not in (0, 1):
        raise HybrixError(f"npx.sequence_mask: axis must be 0 or 1, got {axis}")
    steps = data.shape[axis]
    lengths = from_nd(as_array(sequence_length)).astype(data.dtype)
    positions = fn.arange(steps, dtype=data.dtype)
    if axis == 0:
        keep = fn.expand_dims(positions, 1) < fn.expand_dims(lengths, 0)  # (T, B)
    else:
        keep = fn.expand_dims(lengths, 1) > fn.expand_dims(positions, 0)  # (B, T)
    keep = keep.reshape(keep.shape + (1,) * (data.ndim - 2))
    return fn.where(keep, data, fn.full((1,), value, dtype=data.dtype))


# -- layers ----------------------------------------------------------------------------------
def fully_connected(
    x: Any,
    weight: Any,
    bias: Any = None,
    num_hidden: int | None = None,
    no_bias: bool = True,
    flatten: bool = True,
) -> ndarray:
    inputs = [as_array(x), as_array(weight)] + ([] if bias is None else [as_array(bias)])
    hidden = weight.shape[0] if num_hidden is None else num_hidden
    return call("FullyConnected", inputs, num_hidden=hidden, no_bias=bias is None, flatten=flatten)


def convolution(
    data: Any,
    weight: Any,
    bias: Any = None,
    kernel: Any = None,
    stride: Any = None,
    dilate: Any = None,
    pad: Any = None,
    num_filter: int | None = None,
    num_group: int = 1,
    no_bias: bool = False,
    layout: Any = None,
    **kwargs: Any,
) -> ndarray:
    inputs = [as_array(data), as_array(weight)] + ([] if bias is None else [as_array(bias)])
    attrs = {
        "kernel": kernel or weight.shape[2:],
        "num_filter": num_filter or weight.shape[0],
        "num_group": num_group,
        "no_bias": bias is None,
    }
    attrs.update(
        {
            k: v
            for k, v in (("stride", stride), ("dilate", dilate), ("pad", pad), ("layout", layout))
            if v is not None
        }
    )
    return call("Convolution", inputs, **attrs)


def pooling(
    data: Any,
    kernel: Any = (),
    pool_type: str = "max",
    stride: Any = None,
    pad: Any = None,
    global_pool: bool = False,
    pooling_convention: str = "valid",
    layout: Any = None,
    count_include_pad: Any = None,
    **kwargs: Any,
) -> ndarray:
    attrs = {
        "kernel": kernel,
        "pool_type": pool_type,
        "global_pool": global_pool,
        "pooling_convention": pooling_convention,
    }
    attrs.update(
        {
            k: v
            for k, v in (
                ("stride", stride),
                ("pad", pad),
                ("layout", layout),
                ("count_include_pad", count_include_pad),
            )
            if v is not None
        }
    )
    return call("Pooling", [as_array(data)], **attrs)


def batch_norm(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any,
    running_var: Any,
    eps: float = 1e-3,
    momentum: float = 0.9,
    fix_gamma: bool = True,
    use_global_stats: bool = False,
    axis: int = 1,
    **kwargs: Any,
) -> ndarray:
    """BatchNorm; in training mode (autograd.record) running_mean/var are updated in place."""
    arrays = [as_array(a) for a in (x, gamma, beta, running_mean, running_var)]
    return call(
        "BatchNorm",
        arrays,
        eps=eps,
        momentum=momentum,
        fix_gamma=fix_gamma,
        use_global_stats=use_global_stats,
        axis=axis,
        training=autograd.is_training(),
    )


def layer_norm(
    data: Any,
    gamma: Any,
    beta: Any,
    axis: int = -1,
    eps: float = 1e-5,
    output_mean_var: bool = False,
) -> ndarray:
    arrays = [as_array(a) for a in (data, gamma, beta)]
    return call("LayerNorm", arrays, axis=axis, eps=eps, output_mean_var=output_mean_var)


def dropout(
    data: Any, p: float = 0.5, mode: str = "training", axes: Any = (), cudnn_off: bool = True
) -> ndarray:
    """Dropout in training mode (autograd.record()), identity otherwise."""
    return call(
        "Dropout",
        [as_array(data)],
        p=p,
        mode=mode,
        axes=tuple(axes),
        training=autograd.is_training(),
    )


def embedding(
    data: Any,
    weight: Any,
    input_dim: int | None = None,
    output_dim: int | None = None,
    dtype: Any = "float32",
    sparse_grad: bool = False,
) -> ndarray:
    return call(
        "Embedding",
        [as_array(data), as_array(weight)],
        input_dim=input_dim or weight.shape[0],
        output_dim=output_dim or weight.shape[1],
        dtype=dtype,
    )


def reshape_like(lhs: Any, rhs: Any) -> ndarray:
    return call("reshape_like", [as_array(lhs), as_array(rhs)])


def current_context() -> Context:
    from hybrix.context import current_context as current

    return current()


_ = (onp, cpu, gpu, num_gpus)
