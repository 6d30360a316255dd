"""Samples for the contrib ops GluonCV exports (ir/ops/contrib.py)."""

from __future__ import annotations

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(6)
_HALF = ("float16", "float32", "float64")


def _normal(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape)


def _pool(name: str, shape: tuple[int, ...], **attrs: object) -> Sample:
    return Sample("_contrib_AdaptiveAvgPooling2D", [_normal(*shape)], attrs, _HALF, name=name)


def _resize(name: str, shape: tuple[int, ...], *extra: np.ndarray, **attrs: object) -> Sample:
    return Sample("_contrib_BilinearResize2D", [_normal(*shape), *extra], attrs, name=name)


SAMPLES = [
    _pool("adaptive_pool_global", (2, 3, 5, 4)),
    _pool("adaptive_pool_square", (1, 2, 7, 7), output_size=(3,)),
    _pool("adaptive_pool_overlap_rect", (2, 2, 5, 6), output_size=(3, 4)),
    _pool("adaptive_pool_upsample", (1, 1, 2, 3), output_size=(3, 5)),
    _resize("resize_up_corners", (2, 2, 3, 4), height=5, width=7),
    _resize("resize_down_no_corners", (1, 2, 6, 7), height=4, width=3, align_corners=False),
    _resize("resize_up_no_corners", (1, 1, 3, 3), height=7, width=5, align_corners=False),
    _resize("resize_scale", (1, 2, 4, 3), scale_height=2.0, scale_width=1.5),
    _resize("resize_odd_scale", (1, 1, 5, 4), mode="odd_scale", scale_height=2.0, scale_width=0.5),
    _resize("resize_like", (1, 2, 3, 3), _normal(1, 1, 5, 6), mode="like"),
    _resize("resize_to_even_up", (1, 1, 3, 4), mode="to_even_up"),
    _resize("resize_to_odd_down", (1, 1, 4, 6), mode="to_odd_down"),
    _resize("resize_same_size", (1, 2, 3, 3), height=3, width=3),
    _resize("resize_to_one", (1, 1, 4, 4), height=1, width=2),
]
