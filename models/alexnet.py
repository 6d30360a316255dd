"""AlexNet ("One weird trick" variant) as MXNet 1.9.1's model_zoo.vision.alexnet.

Parameter names match the zoo's (`alexnet0_conv0_weight` ... `alexnet0_dense2_bias`).
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock
from hybrix.models._store import load_pretrained

__all__ = ["AlexNet", "alexnet"]


class AlexNet(HybridBlock):
    """Five convolutions with three max pools, then three dense layers (Krizhevsky 2014)."""

    def __init__(self, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            with self.features.name_scope():
                add = self.features.add
                add(nn.Conv2D(64, kernel_size=11, strides=4, padding=2, activation="relu"))
                add(nn.MaxPool2D(pool_size=3, strides=2))
                add(nn.Conv2D(192, kernel_size=5, padding=2, activation="relu"))
                add(nn.MaxPool2D(pool_size=3, strides=2))
                add(nn.Conv2D(384, kernel_size=3, padding=1, activation="relu"))
                add(nn.Conv2D(256, kernel_size=3, padding=1, activation="relu"))
                add(nn.Conv2D(256, kernel_size=3, padding=1, activation="relu"))
                add(nn.MaxPool2D(pool_size=3, strides=2))
                add(nn.Flatten())
                add(nn.Dense(4096, activation="relu"))
                add(nn.Dropout(0.5))
                add(nn.Dense(4096, activation="relu"))
                add(nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def alexnet(pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any) -> AlexNet:
    """AlexNet (MXNet model_zoo.vision.alexnet); pretrained loads `alexnet` locally."""
    net = AlexNet(**kwargs)
    if pretrained:
        load_pretrained(net, "alexnet", ctx, root)
    return net
