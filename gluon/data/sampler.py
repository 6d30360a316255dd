"""Samplers: the order of dataset indices and how they group into batches (MXNet 1.9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler"]

LAST_BATCH = ("keep", "discard", "rollover")


class Sampler:
    """Base class: iterating yields indices (or batches of them)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, length: int, start: int = 0) -> None:
        self._length, self._start = length, start

    def __iter__(self) -> Iterator[int]:
        return iter(range(self._start, self._start + self._length))

    def __len__(self) -> int:
        return self._length


class RandomSampler(Sampler):
    """A fresh permutation each epoch, drawn from numpy's global RNG as MXNet does."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __iter__(self) -> Iterator[int]:
        # NOTE: numpy's global RNG, as MXNet's sampler, so np.random.seed repeats epochs
        return iter(np.random.permutation(self._length).tolist())  # noqa: NPY002

    def __len__(self) -> int:
        return self._length


class BatchSampler(Sampler):
    """Group a sampler's indices into lists of batch_size; last_batch keep/discard/rollover."""

    def __init__(self, sampler: Any, batch_size: int, last_batch: str = "keep") -> None:
        if last_batch not in LAST_BATCH:
            raise HybrixError(f"last_batch must be one of {list(LAST_BATCH)}, got {last_batch!r}")
        if batch_size < 1:
            raise HybrixError(f"batch_size must be positive, got {batch_size}")
        self._sampler, self._batch_size, self._last_batch = sampler, batch_size, last_batch
        self._previous: list[int] = []

    def __iter__(self) -> Iterator[list[int]]:
        batch, self._previous = self._previous, []
        for index in self._sampler:
            batch.append(index)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            if self._last_batch == "keep":
                yield batch
            elif self._last_batch == "rollover":
                self._previous = batch

    def __len__(self) -> int:
        if self._last_batch == "keep":
            return (len(self._sampler) + self._batch_size - 1) // self._batch_size
        if self._last_batch == "discard":
            return len(self._sampler) // self._batch_size
        return (len(self._previous) + len(self._sampler)) // self._batch_size
