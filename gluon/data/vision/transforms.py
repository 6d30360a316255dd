"""Image transforms of gluon.data.vision.transforms (MXNet 1.9), on HWC images.

They are callables on NDArrays (or numpy arrays) of one image (H, W, C) or a batch
(N, H, W, C), as MXNet's; Compose chains them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = [
    "CenterCrop",
    "Cast",
    "Compose",
    "Normalize",
    "RandomFlipLeftRight",
    "Resize",
    "ToTensor",
]


def _numpy(image: Any) -> np.ndarray:
    return image.asnumpy() if hasattr(image, "asnumpy") else np.asarray(image)


def _ndarray(array: np.ndarray) -> Any:
    from hybrix import nd

    return nd.array(array, dtype=array.dtype)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self._transforms = list(transforms)

    def __call__(self, image: Any) -> Any:
        for transform in self._transforms:
            image = transform(image)
        return image


class Cast:
    def __init__(self, dtype: Any = "float32") -> None:
        self._dtype = dtype

    def __call__(self, image: Any) -> Any:
        return _ndarray(_numpy(image).astype(self._dtype))


class ToTensor:
    """(H, W, C) uint8 in [0, 255] -> (C, H, W) float32 in [0, 1]; batches too."""

    def __call__(self, image: Any) -> Any:
        array = _numpy(image)
        if array.ndim not in (3, 4):
            raise HybrixError(f"ToTensor expects (H, W, C) or (N, H, W, C), got {array.shape}")
        axes = (2, 0, 1) if array.ndim == 3 else (0, 3, 1, 2)
        return _ndarray((array.transpose(axes) / 255.0).astype(np.float32))


class Normalize:
    """(x - mean) / std per channel of a (C, H, W) or (N, C, H, W) tensor."""

    def __init__(self, mean: Any = 0.0, std: Any = 1.0) -> None:
        self._mean = np.asarray(mean, np.float32)
        self._std = np.asarray(std, np.float32)

    def __call__(self, tensor: Any) -> Any:
        array = _numpy(tensor)
        shape = (-1, 1, 1)
        return _ndarray(
            ((array - self._mean.reshape(shape)) / self._std.reshape(shape)).astype(array.dtype)
        )


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """MXNet sizes are (width, height); an int means a square."""
    if isinstance(size, int):
        return size, size
    width, height = size
    return int(width), int(height)


class Resize:
    """Resize an (H, W, C) image to size=(width, height) (bilinear, or nearest with 0)."""

    def __init__(self, size: int | Sequence[int], keep_ratio: bool = False, interpolation: int = 1):
        self._size, self._keep_ratio, self._interpolation = size, keep_ratio, interpolation

    def __call__(self, image: Any) -> Any:
        array = _numpy(image)
        height, width = array.shape[-3], array.shape[-2]
        if self._keep_ratio and isinstance(self._size, int):
            scale = self._size / min(height, width)
            new_w, new_h = round(width * scale), round(height * scale)
        else:
            new_w, new_h = _size_pair(self._size)
        return _ndarray(_resize(array, new_h, new_w, self._interpolation).astype(array.dtype))


def _resize(array: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    """Half-pixel-centre sampling, as OpenCV's INTER_LINEAR / INTER_NEAREST."""
    in_h, in_w = array.shape[-3], array.shape[-2]
    ys = (np.arange(height) + 0.5) * in_h / height - 0.5
    xs = (np.arange(width) + 0.5) * in_w / width - 0.5
    if interpolation == 0:
        rows = np.clip(np.floor((np.arange(height)) * in_h / height), 0, in_h - 1).astype(int)
        cols = np.clip(np.floor((np.arange(width)) * in_w / width), 0, in_w - 1).astype(int)
        return array[..., rows, :, :][..., cols, :]
    y0 = np.clip(np.floor(ys), 0, in_h - 1).astype(int)
    x0 = np.clip(np.floor(xs), 0, in_w - 1).astype(int)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None, None]
    wx = np.clip(xs - x0, 0, 1)[None, :, None]
    source = array.astype(np.float64)
    top = source[..., y0, :, :][..., x0, :] * (1 - wx) + source[..., y0, :, :][..., x1, :] * wx
    bottom = source[..., y1, :, :][..., x0, :] * (1 - wx) + source[..., y1, :, :][..., x1, :] * wx
    result = top * (1 - wy) + bottom * wy
    return np.rint(result) if array.dtype.kind in "ui" else result


class CenterCrop:
    """Crop the centre size=(width, height) of an (H, W, C) image."""

    def __init__(self, size: int | Sequence[int], interpolation: int = 1) -> None:
        self._width, self._height = _size_pair(size)

    def __call__(self, image: Any) -> Any:
        array = _numpy(image)
        height, width = array.shape[-3], array.shape[-2]
        if self._height > height or self._width > width:
            raise HybrixError(
                f"CenterCrop to {self._width}x{self._height} needs an image at least that "
                f"large, got {width}x{height}"
            )
        top, left = (height - self._height) // 2, (width - self._width) // 2
        return _ndarray(
            np.ascontiguousarray(array[..., top : top + self._height, left : left + self._width, :])
        )


class RandomFlipLeftRight:
    """Flip an (H, W, C) image horizontally with probability 0.5 (numpy's global RNG)."""

    def __call__(self, image: Any) -> Any:
        array = _numpy(image)
        if np.random.random_sample() < 0.5:  # noqa: NPY002 - numpy's global RNG, seedable
            array = np.ascontiguousarray(array[..., ::-1, :])
        return _ndarray(array)
