"""MobileNet v1 and v2 as MXNet 1.9.1's gluon model_zoo.vision.mobilenet writes them.

Parameter names match the zoo's (`mobilenet0_conv0_weight`,
`mobilenetv20_features_linearbottleneck0_conv0_weight`, `mobilenetv20_output_pred_weight`).
MobileNet v2's ReLU6 is `clip(x, 0, 6)`, as MXNet exports it.
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock
from hybrix.models._store import load_pretrained

__all__ = [
    "RELU6",
    "LinearBottleneck",
    "MobileNet",
    "MobileNetV2",
    "get_mobilenet",
    "get_mobilenet_v2",
    "mobilenet0_25",
    "mobilenet0_5",
    "mobilenet0_75",
    "mobilenet1_0",
    "mobilenet_v2_0_25",
    "mobilenet_v2_0_5",
    "mobilenet_v2_0_75",
    "mobilenet_v2_1_0",
]


class RELU6(HybridBlock):
    """min(max(x, 0), 6)."""

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return F.clip(x, 0, 6, name="relu6")


def _add_conv(
    out: nn.HybridSequential,
    channels: int = 1,
    kernel: int = 1,
    stride: int = 1,
    pad: int = 0,
    num_group: int = 1,
    active: bool = True,
    relu6: bool = False,
) -> None:
    out.add(nn.Conv2D(channels, kernel, stride, pad, groups=num_group, use_bias=False))
    out.add(nn.BatchNorm(scale=True))
    if active:
        out.add(RELU6() if relu6 else nn.Activation("relu"))


def _add_conv_dw(out: nn.HybridSequential, dw_channels: int, channels: int, stride: int) -> None:
    """A depthwise 3x3 conv (one group per channel), then a pointwise 1x1 conv."""
    _add_conv(out, channels=dw_channels, kernel=3, stride=stride, pad=1, num_group=dw_channels)
    _add_conv(out, channels=channels)


class LinearBottleneck(HybridBlock):
    """MobileNet v2's inverted residual: expand 1x1, depthwise 3x3, linear 1x1 projection."""

    def __init__(self, in_channels: int, channels: int, t: int, stride: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.use_shortcut = stride == 1 and in_channels == channels
        with self.name_scope():
            self.out = nn.HybridSequential()
            expanded = in_channels * t
            _add_conv(self.out, expanded, relu6=True)
            _add_conv(
                self.out, expanded, kernel=3, stride=stride, pad=1, num_group=expanded, relu6=True
            )
            _add_conv(self.out, channels, active=False, relu6=True)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        out = self.out(x)
        if self.use_shortcut:
            out = F.elemwise_add(out, x)
        return out


class MobileNet(HybridBlock):
    """MobileNet v1 (Howard et al. 2017) with width `multiplier` (>= 0.25)."""

    def __init__(self, multiplier: float = 1.0, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            with self.features.name_scope():
                _add_conv(self.features, channels=int(32 * multiplier), kernel=3, pad=1, stride=2)
                dw_channels = [32, 64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024]
                channels = [64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024] * 2
                strides = [1, 2] * 3 + [1] * 5 + [2, 1]
                for dwc, c, s in zip(dw_channels, channels, strides, strict=True):
                    _add_conv_dw(
                        self.features,
                        dw_channels=int(dwc * multiplier),
                        channels=int(c * multiplier),
                        stride=s,
                    )
                self.features.add(nn.GlobalAvgPool2D())
                self.features.add(nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


class MobileNetV2(HybridBlock):
    """MobileNet v2 (Sandler et al. 2018) with width `multiplier`."""

    def __init__(self, multiplier: float = 1.0, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="features_")
            with self.features.name_scope():
                _add_conv(
                    self.features, int(32 * multiplier), kernel=3, stride=2, pad=1, relu6=True
                )
                in_group = [32, 16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3
                out_group = [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320]
                ts = [1] + [6] * 16
                strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
                for in_c, c, t, s in zip(in_group, out_group, ts, strides, strict=True):
                    self.features.add(
                        LinearBottleneck(
                            in_channels=int(in_c * multiplier),
                            channels=int(c * multiplier),
                            t=t,
                            stride=s,
                        )
                    )
                last_channels = int(1280 * multiplier) if multiplier > 1.0 else 1280
                _add_conv(self.features, last_channels, relu6=True)
                self.features.add(nn.GlobalAvgPool2D())
            self.output = nn.HybridSequential(prefix="output_")
            with self.output.name_scope():
                self.output.add(nn.Conv2D(classes, 1, use_bias=False, prefix="pred_"), nn.Flatten())

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def _suffix(multiplier: float) -> str:
    """MXNet's file-name suffix: 1.0, 0.75, 0.5, 0.25."""
    suffix = f"{multiplier:.2f}"
    return suffix[:-1] if suffix in ("1.00", "0.50") else suffix


def get_mobilenet(
    multiplier: float, pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any
) -> MobileNet:
    """MobileNet v1 with width `multiplier`; pretrained loads `mobilenet{multiplier}` locally."""
    net = MobileNet(multiplier, **kwargs)
    if pretrained:
        load_pretrained(net, f"mobilenet{_suffix(multiplier)}", ctx, root)
    return net


def get_mobilenet_v2(
    multiplier: float, pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any
) -> MobileNetV2:
    """MobileNet v2 with width `multiplier`; pretrained loads `mobilenetv2_{multiplier}`."""
    net = MobileNetV2(multiplier, **kwargs)
    if pretrained:
        load_pretrained(net, f"mobilenetv2_{_suffix(multiplier)}", ctx, root)
    return net


def _factory(name: str, multiplier: float, version: int) -> Any:
    get = get_mobilenet if version == 1 else get_mobilenet_v2

    def build(**kwargs: Any) -> HybridBlock:
        return get(multiplier, **kwargs)

    build.__name__ = name
    build.__doc__ = f"MobileNet v{version}, width {multiplier} (model_zoo.vision.{name})."
    return build


mobilenet1_0 = _factory("mobilenet1_0", 1.0, 1)
mobilenet0_75 = _factory("mobilenet0_75", 0.75, 1)
mobilenet0_5 = _factory("mobilenet0_5", 0.5, 1)
mobilenet0_25 = _factory("mobilenet0_25", 0.25, 1)
mobilenet_v2_1_0 = _factory("mobilenet_v2_1_0", 1.0, 2)
mobilenet_v2_0_75 = _factory("mobilenet_v2_0_75", 0.75, 2)
mobilenet_v2_0_5 = _factory("mobilenet_v2_0_5", 0.5, 2)
mobilenet_v2_0_25 = _factory("mobilenet_v2_0_25", 0.25, 2)
