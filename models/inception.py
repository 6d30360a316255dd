"""Inception v3 as MXNet 1.9.1's model_zoo.vision.inception (299x299 inputs).

Parameter names match the zoo's (`inception30_conv0_weight`, `inception30_A1_conv0_weight`,
`inception30_E2_batchnorm8_gamma`, `inception30_dense0_weight`). BatchNorm eps is 0.001.
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock
from hybrix.models._layers import HybridConcurrent
from hybrix.models._store import load_pretrained

__all__ = ["Inception3", "inception_v3"]

# a conv setting: (channels, kernel_size, strides, padding); None keeps Conv2D's default
Setting = tuple[Any, Any, Any, Any]
_SETTING_NAMES = ("channels", "kernel_size", "strides", "padding")


def _make_basic_conv(**kwargs: Any) -> nn.HybridSequential:
    out = nn.HybridSequential(prefix="")
    out.add(nn.Conv2D(use_bias=False, **kwargs))
    out.add(nn.BatchNorm(epsilon=0.001))
    out.add(nn.Activation("relu"))
    return out


def _make_branch(use_pool: str | None, *conv_settings: Setting) -> nn.HybridSequential:
    out = nn.HybridSequential(prefix="")
    if use_pool == "avg":
        out.add(nn.AvgPool2D(pool_size=3, strides=1, padding=1))
    elif use_pool == "max":
        out.add(nn.MaxPool2D(pool_size=3, strides=2))
    for setting in conv_settings:
        kwargs = {k: v for k, v in zip(_SETTING_NAMES, setting, strict=True) if v is not None}
        out.add(_make_basic_conv(**kwargs))
    return out


def _concurrent(prefix: str, *branches: tuple) -> HybridConcurrent:
    """Branches (each `(use_pool, *settings)`) built inside the block's name scope."""
    out = HybridConcurrent(axis=1, prefix=prefix)
    with out.name_scope():
        for branch in branches:
            out.add(_make_branch(*branch))
    return out


def _make_a(pool_features: int, prefix: str) -> HybridConcurrent:
    return _concurrent(
        prefix,
        (None, (64, 1, None, None)),
        (None, (48, 1, None, None), (64, 5, None, 2)),
        (None, (64, 1, None, None), (96, 3, None, 1), (96, 3, None, 1)),
        ("avg", (pool_features, 1, None, None)),
    )


def _make_b(prefix: str) -> HybridConcurrent:
    return _concurrent(
        prefix,
        (None, (384, 3, 2, None)),
        (None, (64, 1, None, None), (96, 3, None, 1), (96, 3, 2, None)),
        ("max",),
    )


def _make_c(channels_7x7: int, prefix: str) -> HybridConcurrent:
    c7 = channels_7x7
    return _concurrent(
        prefix,
        (None, (192, 1, None, None)),
        (None, (c7, 1, None, None), (c7, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0))),
        (
            None,
            (c7, 1, None, None),
            (c7, (7, 1), None, (3, 0)),
            (c7, (1, 7), None, (0, 3)),
            (c7, (7, 1), None, (3, 0)),
            (192, (1, 7), None, (0, 3)),
        ),
        ("avg", (192, 1, None, None)),
    )


def _make_d(prefix: str) -> HybridConcurrent:
    return _concurrent(
        prefix,
        (None, (192, 1, None, None), (320, 3, 2, None)),
        (
            None,
            (192, 1, None, None),
            (192, (1, 7), None, (0, 3)),
            (192, (7, 1), None, (3, 0)),
            (192, 3, 2, None),
        ),
        ("max",),
    )


def _split(*settings: Setting) -> HybridConcurrent:
    """1x3 and 3x1 convs side by side (each from one setting), concatenated."""
    out = HybridConcurrent(axis=1, prefix="")
    for setting in settings:
        out.add(_make_branch(None, setting))
    return out


def _make_e(prefix: str) -> HybridConcurrent:
    # NOTE: creation order matters for the names; it follows MXNet's _make_E line by line
    out = HybridConcurrent(axis=1, prefix=prefix)
    with out.name_scope():
        out.add(_make_branch(None, (320, 1, None, None)))
        branch_3x3 = nn.HybridSequential(prefix="")
        out.add(branch_3x3)
        branch_3x3.add(_make_branch(None, (384, 1, None, None)))
        branch_3x3.add(_split((384, (1, 3), None, (0, 1)), (384, (3, 1), None, (1, 0))))
        branch_3x3dbl = nn.HybridSequential(prefix="")
        out.add(branch_3x3dbl)
        branch_3x3dbl.add(_make_branch(None, (448, 1, None, None), (384, 3, None, 1)))
        branch_3x3dbl.add(_split((384, (1, 3), None, (0, 1)), (384, (3, 1), None, (1, 0))))
        out.add(_make_branch("avg", (192, 1, None, None)))
    return out


class Inception3(HybridBlock):
    """Inception v3 (Szegedy et al. 2015) for 299x299 inputs."""

    def __init__(self, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            add = self.features.add
            add(_make_basic_conv(channels=32, kernel_size=3, strides=2))
            add(_make_basic_conv(channels=32, kernel_size=3))
            add(_make_basic_conv(channels=64, kernel_size=3, padding=1))
            add(nn.MaxPool2D(pool_size=3, strides=2))
            add(_make_basic_conv(channels=80, kernel_size=1))
            add(_make_basic_conv(channels=192, kernel_size=3))
            add(nn.MaxPool2D(pool_size=3, strides=2))
            add(_make_a(32, "A1_"), _make_a(64, "A2_"), _make_a(64, "A3_"))
            add(_make_b("B_"))
            add(_make_c(128, "C1_"), _make_c(160, "C2_"), _make_c(160, "C3_"))
            add(_make_c(192, "C4_"))
            add(_make_d("D_"), _make_e("E1_"), _make_e("E2_"))
            add(nn.AvgPool2D(pool_size=8))
            add(nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def inception_v3(
    pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any
) -> Inception3:
    """Inception v3 (MXNet model_zoo.vision.inception_v3); pretrained loads `inceptionv3`."""
    net = Inception3(**kwargs)
    if pretrained:
        load_pretrained(net, "inceptionv3", ctx, root)
    return net
