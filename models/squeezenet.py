"""SqueezeNet 1.0 and 1.1 as MXNet 1.9.1's model_zoo.vision.squeezenet.

Parameter names match the zoo's (`squeezenet0_conv0_weight` ... `squeezenet0_conv25_bias`).
The classifier is a 1x1 convolution, ReLU and a 13x13 average pool (224x224 inputs).
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock
from hybrix.ir import HybrixError
from hybrix.models._layers import HybridConcurrent
from hybrix.models._store import load_pretrained

__all__ = ["SqueezeNet", "get_squeezenet", "squeezenet1_0", "squeezenet1_1"]


def _make_fire_conv(channels: int, kernel_size: int, padding: int = 0) -> nn.HybridSequential:
    out = nn.HybridSequential(prefix="")
    out.add(nn.Conv2D(channels, kernel_size, padding=padding))
    out.add(nn.Activation("relu"))
    return out


def _make_fire(squeeze: int, expand1x1: int, expand3x3: int) -> nn.HybridSequential:
    """A 1x1 squeeze conv, then 1x1 and 3x3 expand convs side by side, concatenated."""
    out = nn.HybridSequential(prefix="")
    out.add(_make_fire_conv(squeeze, 1))
    paths = HybridConcurrent(axis=1, prefix="")
    paths.add(_make_fire_conv(expand1x1, 1))
    paths.add(_make_fire_conv(expand3x3, 3, 1))
    out.add(paths)
    return out


def _pool() -> nn.MaxPool2D:
    return nn.MaxPool2D(pool_size=3, strides=2, ceil_mode=True)


def _features_1_0(features: nn.HybridSequential) -> None:
    features.add(nn.Conv2D(96, kernel_size=7, strides=2), nn.Activation("relu"), _pool())
    features.add(_make_fire(16, 64, 64), _make_fire(16, 64, 64), _make_fire(32, 128, 128))
    features.add(_pool())
    features.add(_make_fire(32, 128, 128), _make_fire(48, 192, 192))
    features.add(_make_fire(48, 192, 192), _make_fire(64, 256, 256))
    features.add(_pool(), _make_fire(64, 256, 256))


def _features_1_1(features: nn.HybridSequential) -> None:
    features.add(nn.Conv2D(64, kernel_size=3, strides=2), nn.Activation("relu"), _pool())
    features.add(_make_fire(16, 64, 64), _make_fire(16, 64, 64), _pool())
    features.add(_make_fire(32, 128, 128), _make_fire(32, 128, 128), _pool())
    features.add(_make_fire(48, 192, 192), _make_fire(48, 192, 192))
    features.add(_make_fire(64, 256, 256), _make_fire(64, 256, 256))


class SqueezeNet(HybridBlock):
    """SqueezeNet (Iandola et al. 2016) `version` '1.0', or the cheaper '1.1'."""

    def __init__(self, version: str, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if version not in ("1.0", "1.1"):
            raise HybrixError(f"Unsupported SqueezeNet version {version}: 1.0 or 1.1 expected")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            (_features_1_0 if version == "1.0" else _features_1_1)(self.features)
            self.features.add(nn.Dropout(0.5))
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Conv2D(classes, kernel_size=1))
            self.output.add(nn.Activation("relu"))
            self.output.add(nn.AvgPool2D(13))
            self.output.add(nn.Flatten())

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def get_squeezenet(
    version: str, pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any
) -> SqueezeNet:
    """SqueezeNet `version` ('1.0' or '1.1'); pretrained loads `squeezenet{version}` locally."""
    net = SqueezeNet(version, **kwargs)
    if pretrained:
        load_pretrained(net, f"squeezenet{version}", ctx, root)
    return net


def squeezenet1_0(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 (MXNet model_zoo.vision.squeezenet1_0)."""
    return get_squeezenet("1.0", **kwargs)


def squeezenet1_1(**kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (MXNet model_zoo.vision.squeezenet1_1)."""
    return get_squeezenet("1.1", **kwargs)
