"""Convolution and pooling layers as in MXNet 1.9.1's gluon/nn/conv_layers.py.

Weight shapes: Convolution (channels, in_channels // groups, *kernel); Deconvolution
(in_channels, channels // groups, *kernel). in_channels=0 defers them to the first input.
"""

from __future__ import annotations

import numbers
from typing import Any

from hybrix.gluon.block import HybridBlock
from hybrix.gluon.nn.activations import Activation
from hybrix.ir import HybrixError

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
]


def _tuple(value: Any, rank: int, what: str) -> tuple:
    if isinstance(value, numbers.Integral):
        return (int(value),) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise HybrixError(f"{what} must be an int or a tuple of {rank} ints, got {value}")
    return value


def _weight_shape(
    op_name: str, channels: int, in_channels: int, groups: int, kernel: tuple, layout: str
) -> tuple:
    """MXNet's weight layout: OI<kernel> for channels-first data, O<kernel>I for
    channels-last (NWC, NHWC, NDHWC); Deconvolution swaps O and I."""
    if op_name == "Convolution":
        rows, cols = channels, in_channels // groups if in_channels else 0
    else:
        rows, cols = in_channels, channels // groups
    if layout.endswith("C"):
        return (rows, *kernel, cols)
    return (rows, cols, *kernel)


class _Conv(HybridBlock):
    """N-d convolution (or transposed convolution) with optional bias and activation."""

    def __init__(
        self,
        channels: int,
        kernel_size: tuple,
        strides: Any,
        padding: Any,
        dilation: Any,
        groups: int,
        layout: str,
        in_channels: int = 0,
        activation: str | None = None,
        use_bias: bool = True,
        weight_initializer: Any = None,
        bias_initializer: Any = "zeros",
        op_name: str = "Convolution",
        adj: Any = None,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        rank = len(kernel_size)
        with self.name_scope():
            self._channels = channels
            self._in_channels = in_channels
            self._op_name = op_name
            self._kwargs = {
                "kernel": tuple(kernel_size),
                "stride": _tuple(strides, rank, "strides"),
                "dilate": _tuple(dilation, rank, "dilation"),
                "pad": _tuple(padding, rank, "padding"),
                "num_filter": channels,
                "num_group": groups,
                "no_bias": not use_bias,
                "layout": layout,
            }
            if adj is not None:
                self._kwargs["adj"] = _tuple(adj, rank, "output_padding")
            shape = _weight_shape(
                op_name, channels, in_channels, groups, tuple(kernel_size), layout
            )
            self.weight = self.params.get(
                "weight", shape=shape, init=weight_initializer, allow_deferred_init=True
            )
            if use_bias:
                self.bias = self.params.get(
                    "bias", shape=(channels,), init=bias_initializer, allow_deferred_init=True
                )
            else:
                self.bias = None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _alias(self) -> str:
        return "conv"

    def infer_shape(self, x: Any, *args: Any) -> None:
        layout = self._kwargs["layout"]
        if x.ndim != len(layout):
            raise HybrixError(
                f"{self.name} ({type(self).__name__}): expected input of rank {len(layout)} "
                f"({layout}), got shape {x.shape}"
            )
        in_channels = int(x.shape[layout.find("C")])
        kernel = self._kwargs["kernel"]
        self.weight.shape = _weight_shape(
            self._op_name, self._channels, in_channels, self._kwargs["num_group"], kernel, layout
        )

    def hybrid_forward(self, F: Any, x: Any, weight: Any, bias: Any = None) -> Any:
        op = getattr(F, self._op_name)
        if bias is None:
            out = op(x, weight, name="fwd", **self._kwargs)
        else:
            out = op(x, weight, bias, name="fwd", **self._kwargs)
        return self.act(out) if self.act is not None else out

    def __repr__(self) -> str:
        kwargs = self._kwargs
        rank = len(kwargs["kernel"])
        text = f"{{name}}({{mapping}}, kernel_size={kwargs['kernel']}, stride={kwargs['stride']}"
        if kwargs["pad"] != (0,) * rank:
            text += f", padding={kwargs['pad']}"
        if kwargs["dilate"] != (1,) * rank:
            text += f", dilation={kwargs['dilate']}"
        if kwargs["num_group"] != 1:
            text += f", groups={kwargs['num_group']}"
        if self.bias is None:
            text += ", bias=False"
        if self.act:
            text += f", {self.act}"
        text += ")"
        shape = self.weight.shape
        in_channels = shape[-1] if self._kwargs["layout"].endswith("C") else shape[1]
        mapping = f"{in_channels if in_channels else None} -> {shape[0]}"
        return text.format(name=self.__class__.__name__, mapping=mapping)


def _conv_class(rank: int, layout: str, transpose: bool) -> type:
    """Conv{rank}D / Conv{rank}DTranspose with MXNet's constructor signature."""

    def __init__(  # noqa: N807
        self: _Conv,
        channels: int,
        kernel_size: Any,
        strides: Any = (1,) * rank if rank > 1 else 1,
        padding: Any = (0,) * rank if rank > 1 else 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        names = ["output_padding"] if transpose else []
        names += ["dilation", "groups", "layout", "activation", "use_bias"]
        names += ["weight_initializer", "bias_initializer", "in_channels"]
        if len(args) > len(names):
            raise HybrixError(f"{type(self).__name__} takes at most {len(names) + 4} arguments")
        kwargs.update(dict(zip(names, args, strict=False)))
        kernel = _tuple(kernel_size, rank, "kernel_size")
        given_layout = kwargs.pop("layout", layout)
        if len(given_layout) != rank + 2:
            raise HybrixError(f"{type(self).__name__}: layout {given_layout!r} is not {rank}-d")
        adj = kwargs.pop("output_padding", 0) if transpose else None
        _Conv.__init__(
            self,
            channels,
            kernel,
            strides,
            padding,
            kwargs.pop("dilation", 1),
            kwargs.pop("groups", 1),
            given_layout,
            op_name="Deconvolution" if transpose else "Convolution",
            adj=adj,
            **kwargs,
        )
        if transpose:
            self.outpad = _tuple(adj, rank, "output_padding")

    name = f"Conv{rank}D" + ("Transpose" if transpose else "")
    kind = "Transposed convolution" if transpose else "Convolution"
    doc = f"{kind} over {rank}-d inputs ({layout}); MXNet's gluon.nn.{name}."
    return type(name, (_Conv,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Conv1D = _conv_class(1, "NCW", False)
Conv2D = _conv_class(2, "NCHW", False)
Conv3D = _conv_class(3, "NCDHW", False)
Conv1DTranspose = _conv_class(1, "NCW", True)
Conv2DTranspose = _conv_class(2, "NCHW", True)
Conv3DTranspose = _conv_class(3, "NCDHW", True)


class _Pooling(HybridBlock):
    """Max/avg pooling (Pooling op) with MXNet's ceil_mode -> pooling_convention."""

    def __init__(
        self,
        pool_size: tuple,
        strides: Any,
        padding: Any,
        ceil_mode: bool,
        global_pool: bool,
        pool_type: str,
        layout: str,
        count_include_pad: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        rank = len(pool_size)
        if strides is None:
            strides = pool_size
        self._kwargs = {
            "kernel": tuple(pool_size),
            "stride": _tuple(strides, rank, "strides"),
            "pad": _tuple(padding, rank, "padding"),
            "global_pool": global_pool,
            "pool_type": pool_type,
            "layout": layout,
            "pooling_convention": "full" if ceil_mode else "valid",
        }
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _alias(self) -> str:
        return "pool"

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.Pooling(x, name="fwd", **self._kwargs)

    def __repr__(self) -> str:
        kwargs = self._kwargs
        return (
            f"{self.__class__.__name__}(size={kwargs['kernel']}, stride={kwargs['stride']}, "
            f"padding={kwargs['pad']}, ceil_mode={kwargs['pooling_convention'] == 'full'}, "
            f"global_pool={kwargs['global_pool']}, pool_type={kwargs['pool_type']}, "
            f"layout={kwargs['layout']})"
        )


def _pool_class(rank: int, layout: str, pool_type: str) -> type:
    """MaxPool{rank}D / AvgPool{rank}D with MXNet's signature and defaults."""
    default_size: Any = (2,) * rank if rank > 1 else 2

    def __init__(  # noqa: N807
        self: _Pooling,
        pool_size: Any = default_size,
        strides: Any = None,
        padding: Any = 0,
        layout: str = layout,
        ceil_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if len(layout) != rank + 2:
            raise HybrixError(f"{type(self).__name__}: layout {layout!r} is not {rank}-d")
        size = _tuple(pool_size, rank, "pool_size")
        if pool_type == "avg":
            include = args[0] if args else kwargs.pop("count_include_pad", True)
            kwargs["count_include_pad"] = include
        _Pooling.__init__(
            self, size, strides, padding, ceil_mode, False, pool_type, layout, **kwargs
        )

    kind = {"max": "Max", "avg": "Avg"}[pool_type]
    name = f"{kind}Pool{rank}D"
    doc = f"{kind} pooling over {rank}-d inputs ({layout}); MXNet's gluon.nn.{name}."
    return type(name, (_Pooling,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


def _global_pool_class(rank: int, layout: str, pool_type: str) -> type:
    def __init__(self: _Pooling, layout: str = layout, **kwargs: Any) -> None:  # noqa: N807
        _Pooling.__init__(self, (1,) * rank, None, 0, True, True, pool_type, layout, **kwargs)

    kind = {"max": "Max", "avg": "Avg"}[pool_type]
    name = f"Global{kind}Pool{rank}D"
    doc = f"Global {pool_type} pooling over {rank}-d inputs ({layout}); gluon.nn.{name}."
    return type(name, (_Pooling,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


MaxPool1D = _pool_class(1, "NCW", "max")
MaxPool2D = _pool_class(2, "NCHW", "max")
MaxPool3D = _pool_class(3, "NCDHW", "max")
AvgPool1D = _pool_class(1, "NCW", "avg")
AvgPool2D = _pool_class(2, "NCHW", "avg")
AvgPool3D = _pool_class(3, "NCDHW", "avg")
GlobalMaxPool1D = _global_pool_class(1, "NCW", "max")
GlobalMaxPool2D = _global_pool_class(2, "NCHW", "max")
GlobalMaxPool3D = _global_pool_class(3, "NCDHW", "max")
GlobalAvgPool1D = _global_pool_class(1, "NCW", "avg")
GlobalAvgPool2D = _global_pool_class(2, "NCHW", "avg")
GlobalAvgPool3D = _global_pool_class(3, "NCDHW", "avg")
