"""mx.io: DataBatch, DataDesc, DataIter and NDArrayIter (MXNet 1.9 semantics)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = ["DataBatch", "DataDesc", "DataIter", "NDArrayIter"]

LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """A named shape with dtype and layout, as MXNet's provide_data entries."""

    def __new__(cls, name: str, shape: tuple, dtype: Any = np.float32, layout: str = "NCHW"):
        desc = super().__new__(cls, name, shape)
        desc.dtype, desc.layout = dtype, layout
        return desc

    def __repr__(self) -> str:
        return f"DataDesc[{self.name},{self.shape},{np.dtype(self.dtype).name},{self.layout}]"


class DataBatch:
    """One batch: lists of data and label NDArrays, the padding count and the indices."""

    def __init__(
        self,
        data: list,
        label: list | None = None,
        pad: int = 0,
        index: Any = None,
        bucket_key: Any = None,
        provide_data: Any = None,
        provide_label: Any = None,
    ):
        self.data, self.label, self.pad, self.index = data, label, pad, index
        self.bucket_key = bucket_key
        self.provide_data, self.provide_label = provide_data, provide_label

    def __repr__(self) -> str:
        shapes = [d.shape for d in self.data]
        labels = [d.shape for d in self.label] if self.label else None
        return f"DataBatch: data shapes: {shapes} label shapes: {labels}"


class DataIter:
    """Base iterator: reset(), next() -> DataBatch, Python iteration."""

    def __init__(self, batch_size: int = 0) -> None:
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[DataBatch]:
        return self

    def __next__(self) -> DataBatch:
        return self.next()

    def reset(self) -> None:
        raise NotImplementedError

    def next(self) -> DataBatch:
        raise NotImplementedError


def _named_arrays(source: Any, default_name: str) -> list[tuple[str, np.ndarray]]:
    """MXNet accepts an array, a list of arrays or a dict name -> array."""
    if source is None:
        return []
    if isinstance(source, dict):
        items = list(source.items())
    elif isinstance(source, list | tuple):
        names = (
            [default_name]
            if len(source) == 1
            else [f"_{i}_{default_name}" for i in range(len(source))]
        )
        items = list(zip(names, source, strict=True))
    else:
        items = [(default_name, source)]
    return [(name, a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)) for name, a in items]


class NDArrayIter(DataIter):
    """Iterate numpy/NDArray data in batches; last_batch_handle 'pad', 'discard', 'roll_over'."""

    def __init__(
        self,
        data: Any,
        label: Any = None,
        batch_size: int = 1,
        shuffle: bool = False,
        last_batch_handle: str = "pad",
        data_name: str = "data",
        label_name: str = "softmax_label",
    ) -> None:
        super().__init__(batch_size)
        if last_batch_handle not in LAST_BATCH_HANDLES:
            raise HybrixError(
                f"last_batch_handle must be one of {list(LAST_BATCH_HANDLES)}, "
                f"got {last_batch_handle!r}"
            )
        self.data = _named_arrays(data, data_name)
        self.label = _named_arrays(label, label_name)
        sizes = {len(a) for _, a in self.data + self.label}
        if len(sizes) != 1:
            raise HybrixError(f"NDArrayIter: data and label lengths differ: {sorted(sizes)}")
        self.num_data = sizes.pop()
        if self.num_data < batch_size and last_batch_handle == "discard":
            raise HybrixError(f"batch_size {batch_size} exceeds the {self.num_data} samples")
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.idx = np.arange(self.num_data)
        self._carry: np.ndarray = np.zeros(0, np.int64)
        self.reset()

    @property
    def provide_data(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size, *a.shape[1:]), a.dtype) for n, a in self.data]

    @property
    def provide_label(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size, *a.shape[1:]), a.dtype) for n, a in self.label]

    def reset(self) -> None:
        if self.shuffle:
            np.random.shuffle(self.idx)  # noqa: NPY002 - numpy's global RNG, as MXNet
        order = np.concatenate([self._carry, self.idx]) if len(self._carry) else self.idx
        self._order, self._cursor, self._carry = order, 0, np.zeros(0, np.int64)

    def next(self) -> DataBatch:
        from hybrix import nd

        start, total = self._cursor, len(self._order)
        if start >= total:
            raise StopIteration
        end = start + self.batch_size
        pad = max(0, end - total)
        if pad:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over":
                self._carry = self._order[start:]
                self._cursor = total
                raise StopIteration
        indices = self._order[start:end]
        if pad:  # MXNet pads by wrapping around to the start
            indices = np.concatenate([indices, self._order[:pad]])
        self._cursor = end

        def take(arrays: list) -> list:
            return [nd.array(a[indices], dtype=a.dtype) for _, a in arrays]

        return DataBatch(take(self.data), take(self.label), pad, indices)
