"""Datasets as MXNet 1.9 defines them: Dataset, SimpleDataset, ArrayDataset, transforms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybrix.ir import HybrixError

__all__ = ["ArrayDataset", "Dataset", "SimpleDataset"]


class Dataset:
    """Abstract dataset: `__getitem__(idx)` and `__len__()`."""

    def __getitem__(self, idx: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def transform(self, fn: Callable[..., Any], lazy: bool = True) -> Dataset:
        """A dataset of fn(*sample) (fn(sample) for non-tuple samples)."""
        transformed = _LazyTransformDataset(self, fn)
        if lazy:
            return transformed
        return SimpleDataset([transformed[i] for i in range(len(transformed))])

    def transform_first(self, fn: Callable[[Any], Any], lazy: bool = True) -> Dataset:
        """Transform only the first element of each sample (the data, not the label)."""
        return self.transform(_TransformFirst(fn), lazy)

    def filter(self, fn: Callable[[Any], bool]) -> Dataset:
        return _SampledDataset(self, [i for i in range(len(self)) if fn(self[i])])

    def shard(self, num_shards: int, index: int) -> Dataset:
        """The index-th of num_shards contiguous parts (the first parts one longer)."""
        if not 0 <= index < num_shards:
            raise HybrixError(f"shard index {index} out of range for {num_shards} shards")
        length = len(self)
        size, extra = divmod(length, num_shards)
        start = index * size + min(index, extra)
        end = start + size + (1 if index < extra else 0)
        return _SampledDataset(self, list(range(start, end)))

    def take(self, count: int | None) -> Dataset:
        count = len(self) if count is None else min(count, len(self))
        return _SampledDataset(self, list(range(count)))

    def sample(self, sampler: Any) -> Dataset:
        return _SampledDataset(self, list(sampler))


class SimpleDataset(Dataset):
    """A dataset over any indexable object (list, numpy array, NDArray)."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, idx: int) -> Any:
        return self._data[idx]


class ArrayDataset(Dataset):
    """Samples are tuples of the i-th element of each array; one array gives plain items."""

    def __init__(self, *args: Any) -> None:
        if not args:
            raise HybrixError("ArrayDataset needs at least one array")
        length = len(args[0])
        for i, data in enumerate(args):
            if len(data) != length:
                raise HybrixError(
                    f"ArrayDataset: array {i} has length {len(data)}, expected {length} "
                    "(the length of the first array)"
                )
        self._length = length
        self._data = [_as_indexable(a) for a in args]

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, idx: int) -> Any:
        if len(self._data) == 1:
            return self._data[0][idx]
        return tuple(data[idx] for data in self._data)


def _as_indexable(data: Any) -> Any:
    """As MXNet: a 1-D NDArray becomes numpy (so samples are scalars); others stay."""
    if hasattr(data, "asnumpy") and len(data.shape) == 1:
        return data.asnumpy()
    return data


class _LazyTransformDataset(Dataset):
    def __init__(self, data: Dataset, fn: Callable[..., Any]) -> None:
        self._data, self._fn = data, fn

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, idx: int) -> Any:
        item = self._data[idx]
        return self._fn(*item) if isinstance(item, tuple) else self._fn(item)


class _TransformFirst:
    """Picklable (for DataLoader workers) wrapper applying fn to a sample's first element."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self._fn = fn

    def __call__(self, first: Any, *rest: Any) -> Any:
        return (self._fn(first), *rest) if rest else self._fn(first)


class _SampledDataset(Dataset):
    def __init__(self, data: Dataset, indices: list[int]) -> None:
        self._data, self._indices = data, indices

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> Any:
        return self._data[self._indices[idx]]
