"""mx.test_utils: MXNet's test helpers with the same names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hybrix.gluon.data.vision.datasets import MNIST, find_file, read_idx

__all__ = ["get_mnist"]


def get_mnist(path: str | None = None) -> dict[str, Any]:
    """MNIST from the four standard files in `path` (default: the current directory).

    As MXNet's: images (N, 1, 28, 28) float32 in [0, 1], labels int8. Nothing is
    downloaded; a missing file raises an error naming the files and the folder.
    """
    folder = Path(path) if path else Path.cwd()
    names = MNIST.FILES[True] + MNIST.FILES[False]
    result = {}
    for split, prefix in (("train", True), ("test", False)):
        images_name, labels_name = MNIST.FILES[prefix]
        images = read_idx(find_file(folder, images_name, "get_mnist", names), 3)
        labels = read_idx(find_file(folder, labels_name, "get_mnist", names), 1)
        result[f"{split}_data"] = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
        result[f"{split}_label"] = labels.astype(np.int8)
    return result
