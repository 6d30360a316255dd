"""MNIST, FashionMNIST and CIFAR10 read from the standard files in a local folder.

Nothing is downloaded: a missing file raises an error naming the files and the folder
to put them in. The default root is $HYBRIX_HOME (else $MXNET_HOME, else ~/.mxnet)
/datasets/<name>, as MXNet's.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hybrix.gluon.data.dataset import Dataset
from hybrix.ir import HybrixError, ModelFormatError

__all__ = ["CIFAR10", "MNIST", "FashionMNIST", "read_idx"]

IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # labels, images (unsigned byte data)


def data_dir() -> Path:
    home = os.environ.get("HYBRIX_HOME") or os.environ.get("MXNET_HOME")
    return Path(home) if home else Path.home() / ".mxnet"


def read_idx(path: Path, rank: int) -> np.ndarray:
    """An idx-format file (gzipped or not) of unsigned bytes with `rank` dimensions."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    header = 4 + 4 * rank
    if len(raw) < header:
        raise ModelFormatError(f"{path}: truncated idx header ({len(raw)} bytes)")
    magic, *dims = struct.unpack(f">I{rank}I", raw[:header])
    if magic != IDX_MAGIC[rank]:
        raise ModelFormatError(f"{path}: idx magic 0x{magic:08X}, expected 0x{IDX_MAGIC[rank]:08X}")
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise ModelFormatError(f"{path}: {len(raw) - header} data bytes, expected {count}")
    return np.frombuffer(raw, np.uint8, count, header).reshape(dims)


def find_file(root: Path, name: str, dataset: str, all_names: tuple[str, ...]) -> Path:
    """`name` in root, gzipped or not; else an error listing what to put where."""
    for candidate in (root / name, root / name.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    raise HybrixError(
        f"{dataset}: {name} not found in {root}; nothing is downloaded here. Put the "
        f"standard files ({', '.join(all_names)}) in that folder or pass root=."
    )


class _ImageDataset(Dataset):
    """Images (N, H, W, C) uint8 NDArray and int32 labels; transform(data, label)."""

    def __init__(self, data: np.ndarray, label: np.ndarray, transform: Any) -> None:
        from hybrix import nd

        self._data = nd.array(data, dtype=data.dtype)
        self._label = label
        self._transform = transform

    def __len__(self) -> int:
        return len(self._label)

    def __getitem__(self, idx: int) -> Any:
        if self._transform is not None:
            return self._transform(self._data[idx], self._label[idx])
        return self._data[idx], self._label[idx]


class MNIST(_ImageDataset):
    """MNIST digits: (28, 28, 1) uint8 images and int32 labels."""

    NAME = "mnist"
    FILES: ClassVar[dict[bool, tuple[str, str]]] = {
        True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }

    def __init__(self, root: str | None = None, train: bool = True, transform: Any = None):
        folder = Path(root).expanduser() if root else data_dir() / "datasets" / self.NAME
        names = self.FILES[True] + self.FILES[False]
        images_name, labels_name = self.FILES[train]
        dataset = type(self).__name__
        images = read_idx(find_file(folder, images_name, dataset, names), 3)
        labels = read_idx(find_file(folder, labels_name, dataset, names), 1)
        if len(images) != len(labels):
            raise ModelFormatError(f"{folder}: {len(images)} images but {len(labels)} labels")
        super().__init__(images[..., None], labels.astype(np.int32), transform)


class FashionMNIST(MNIST):
    """Fashion-MNIST: the same file names and layout as MNIST."""

    NAME = "fashion-mnist"


class CIFAR10(_ImageDataset):
    """CIFAR-10 binary version: (32, 32, 3) uint8 images, int32 labels."""

    TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    TEST = ("test_batch.bin",)
    RECORD = 1 + 3 * 32 * 32

    def __init__(self, root: str | None = None, train: bool = True, transform: Any = None):
        folder = Path(root).expanduser() if root else data_dir() / "datasets" / "cifar10"
        if (folder / "cifar-10-batches-bin").is_dir():
            folder = folder / "cifar-10-batches-bin"
        names = self.TRAIN if train else self.TEST
        every = self.TRAIN + self.TEST
        records = [self._read(find_file(folder, n, "CIFAR10", every)) for n in names]
        table = np.concatenate(records)
        images = table[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        super().__init__(np.ascontiguousarray(images), table[:, 0].astype(np.int32), transform)

    def _read(self, path: Path) -> np.ndarray:
        raw = np.frombuffer(path.read_bytes(), np.uint8)
        if raw.size % self.RECORD:
            raise ModelFormatError(
                f"{path}: {raw.size} bytes is not a whole number of {self.RECORD}-byte records"
            )
        return raw.reshape(-1, self.RECORD)
