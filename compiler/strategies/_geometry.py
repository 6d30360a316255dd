"""Concrete window geometry of one Convolution call, and dropping taps that read only padding.

A `ConvGeometry` holds static sizes only (the strategies run on traced arrays whose shapes
are known). Padding is per side (`low`, `high`) because trimming taps makes it asymmetric,
and may be negative: a negative pad crops the input (lax.pad accepts that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import prod
from typing import Any

from hybrix.ir import HybrixError

__all__ = ["ConvGeometry", "conv_geometry", "trim_taps"]

_LAST = {"NWC", "NHWC", "NDHWC"}


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution: batch, channels, filters, groups and per-spatial-axis window sizes.

    `taps[axis]` is the range of kernel taps kept (all of them unless trimmed); the weight is
    sliced to it before use.
    """

    batch: int
    channels: int
    filters: int
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilate: tuple[int, ...]
    low: tuple[int, ...]
    high: tuple[int, ...]
    taps: tuple[tuple[int, int], ...]
    last: bool
    full: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def out(self) -> tuple[int, ...]:
        """Output spatial size."""
        return tuple(
            (n + lo + hi - d * (k - 1) - 1) // s + 1
            for n, lo, hi, k, s, d in zip(
                self.spatial,
                self.low,
                self.high,
                self.kernel,
                self.stride,
                self.dilate,
                strict=True,
            )
        )

    @property
    def trimmed(self) -> bool:
        """Whether taps were dropped (`full` is the kernel before trimming)."""
        return self.kernel != self.full

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the (trimmed) convolution."""
        per_output = 2 * (self.channels // self.groups) * prod(self.kernel)
        return self.batch * self.filters * prod(self.out) * per_output


def _ints(value: Sequence[int], rank: int, default: int) -> tuple[int, ...]:
    return tuple(value) if value else (default,) * rank


def conv_geometry(
    data_shape: Sequence[int], weight_shape: Sequence[int], attrs: Mapping[str, Any]
) -> ConvGeometry:
    """The geometry of a Convolution node with static shapes (MXNet defaults filled)."""
    kernel = tuple(attrs["kernel"])
    rank = len(kernel)
    if len(data_shape) != rank + 2 or len(weight_shape) != rank + 2:
        raise HybrixError(
            f"Convolution: data {tuple(data_shape)} and weight {tuple(weight_shape)} must "
            f"have {rank + 2} dimensions for kernel {kernel}"
        )
    last = attrs.get("layout") in _LAST
    channels = data_shape[-1] if last else data_shape[1]
    spatial = tuple(data_shape[1:-1] if last else data_shape[2:])
    pad = _ints(attrs.get("pad", ()), rank, 0)
    return ConvGeometry(
        batch=int(data_shape[0]),
        channels=int(channels),
        filters=int(weight_shape[0]),
        groups=int(attrs.get("num_group", 1)),
        spatial=tuple(int(n) for n in spatial),
        kernel=kernel,
        stride=_ints(attrs.get("stride", ()), rank, 1),
        dilate=_ints(attrs.get("dilate", ()), rank, 1),
        low=pad,
        high=pad,
        taps=tuple((0, k) for k in kernel),
        last=last,
        full=kernel,
    )


def _useful_taps(n: int, out: int, k: int, s: int, d: int, low: int) -> tuple[int, int]:
    """The first and one-past-last taps that read some real input (not only padding)."""
    useful = [t for t in range(k) if any(0 <= o * s + t * d - low < n for o in range(out))]
    if not useful:  # every tap reads padding only; keep the kernel (output is the bias)
        return 0, k
    return useful[0], useful[-1] + 1


def trim_taps(geometry: ConvGeometry) -> ConvGeometry:
    """Drop kernel taps that only ever read padding, keeping the output size.

    E.g. a 3x3 pad-1 convolution on a 1x1 input keeps only its centre tap: a 1x1 convolution
    without padding. The remaining padding may become asymmetric or negative (a crop).
    """
    out = geometry.out
    kernel, low, high, taps = [], [], [], []
    for axis in range(geometry.rank):
        n, k = geometry.spatial[axis], geometry.kernel[axis]
        s, d, lo = geometry.stride[axis], geometry.dilate[axis], geometry.low[axis]
        start, stop = _useful_taps(n, out[axis], k, s, d, lo)
        new_low = lo - start * d
        size = stop - start
        # keep the output size: last window end = (out-1)*s + (size-1)*d - new_low
        new_high = (out[axis] - 1) * s + (size - 1) * d - new_low - (n - 1)
        kernel.append(size)
        low.append(new_low)
        high.append(new_high)
        taps.append((start, stop))
    return replace(
        geometry, kernel=tuple(kernel), low=tuple(low), high=tuple(high), taps=tuple(taps)
    )
