"""VGG 11/13/16/19, with and without BatchNorm, as MXNet 1.9.1's model_zoo.vision.vgg.

Parameter names match the zoo's (`vgg0_conv0_weight`, `vgg0_dense2_weight`); the
initializers are MXNet's (Xavier gaussian/out/2 for convolutions, normal for dense).
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock
from hybrix.initializer import Xavier
from hybrix.ir import HybrixError
from hybrix.models._store import load_pretrained

__all__ = [
    "VGG",
    "get_vgg",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]


class VGG(HybridBlock):
    """Simonyan & Zisserman 2014: blocks of 3x3 convs and max pools, three dense layers."""

    def __init__(
        self,
        layers: list[int],
        filters: list[int],
        classes: int = 1000,
        batch_norm: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(layers) != len(filters):
            raise HybrixError(f"VGG: {len(layers)} blocks but {len(filters)} filter counts")
        with self.name_scope():
            self.features = self._make_features(layers, filters, batch_norm)
            for _ in range(2):
                self.features.add(
                    nn.Dense(
                        4096,
                        activation="relu",
                        weight_initializer="normal",
                        bias_initializer="zeros",
                    )
                )
                self.features.add(nn.Dropout(rate=0.5))
            self.output = nn.Dense(classes, weight_initializer="normal", bias_initializer="zeros")

    def _make_features(
        self, layers: list[int], filters: list[int], batch_norm: bool
    ) -> nn.HybridSequential:
        featurizer = nn.HybridSequential(prefix="")
        for num, channels in zip(layers, filters, strict=True):
            for _ in range(num):
                featurizer.add(
                    nn.Conv2D(
                        channels,
                        kernel_size=3,
                        padding=1,
                        weight_initializer=Xavier(
                            rnd_type="gaussian", factor_type="out", magnitude=2
                        ),
                        bias_initializer="zeros",
                    )
                )
                if batch_norm:
                    featurizer.add(nn.BatchNorm())
                featurizer.add(nn.Activation("relu"))
            featurizer.add(nn.MaxPool2D(strides=2))
        return featurizer

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


VGG_SPEC = {
    11: ([1, 1, 2, 2, 2], [64, 128, 256, 512, 512]),
    13: ([2, 2, 2, 2, 2], [64, 128, 256, 512, 512]),
    16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]),
    19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512]),
}


def get_vgg(
    num_layers: int, pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any
) -> VGG:
    """VGG with `num_layers` in 11, 13, 16, 19; batch_norm=True adds BatchNorm."""
    if num_layers not in VGG_SPEC:
        raise HybrixError(f"Invalid number of VGG layers: {num_layers}. Options are 11/13/16/19")
    layers, filters = VGG_SPEC[num_layers]
    net = VGG(layers, filters, **kwargs)
    if pretrained:
        suffix = "_bn" if kwargs.get("batch_norm") else ""
        load_pretrained(net, f"vgg{num_layers}{suffix}", ctx, root)
    return net


def _factory(num_layers: int, batch_norm: bool) -> Any:
    def build(**kwargs: Any) -> VGG:
        if batch_norm:
            kwargs["batch_norm"] = True
        return get_vgg(num_layers, **kwargs)

    build.__name__ = f"vgg{num_layers}{'_bn' if batch_norm else ''}"
    with_bn = " with BatchNorm" if batch_norm else ""
    build.__doc__ = f"VGG-{num_layers}{with_bn} (MXNet model_zoo.vision.{build.__name__})."
    return build


vgg11 = _factory(11, False)
vgg13 = _factory(13, False)
vgg16 = _factory(16, False)
vgg19 = _factory(19, False)
vgg11_bn = _factory(11, True)
vgg13_bn = _factory(13, True)
vgg16_bn = _factory(16, True)
vgg19_bn = _factory(19, True)
