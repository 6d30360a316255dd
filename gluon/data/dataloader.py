"""DataLoader: batches from a Dataset, optionally produced by worker processes (MXNet 1.9).

Workers are real processes (multiprocessing "spawn": forking a process that has started
JAX's threads is unsafe). They return numpy batches; the main process wraps them as
NDArrays, so no JAX work happens in a worker for numpy datasets.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from hybrix.gluon.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from hybrix.ir import HybrixError

__all__ = ["DataLoader", "default_batchify_fn"]


def _stack_numpy(items: list[Any]) -> Any:
    """Batch samples as numpy: arrays stacked, tuples batched element-wise."""
    first = items[0]
    if isinstance(first, tuple | list):
        return [_stack_numpy(list(column)) for column in zip(*items, strict=True)]
    return np.stack([np.asarray(item) for item in items])


def _to_ndarray(batch: Any) -> Any:
    from hybrix import nd

    if isinstance(batch, list):
        return [_to_ndarray(part) for part in batch]
    return nd.array(batch, dtype=batch.dtype)


def default_batchify_fn(data: list[Any]) -> Any:
    """Stack samples into NDArrays (keeping dtypes); tuples give a list of batches."""
    return _to_ndarray(_stack_numpy(data))


class DataLoader:
    """Iterate a dataset in mini-batches.

    Args follow MXNet: batch_size, shuffle, sampler, last_batch ('keep', 'discard',
    'rollover'), batch_sampler, batchify_fn, num_workers (0: in this process), timeout.
    pin_memory, pin_device_id, prefetch and thread_pool are accepted for compatibility.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = None,
        shuffle: bool = False,
        sampler: Any = None,
        last_batch: str | None = None,
        batch_sampler: Any = None,
        batchify_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        pin_device_id: int = 0,
        prefetch: int | None = None,
        thread_pool: bool = False,
        timeout: int = 120,
    ) -> None:
        self._dataset = dataset
        self._batch_sampler = _batch_sampler(
            len(dataset), batch_size, shuffle, sampler, last_batch, batch_sampler
        )
        self._batchify_fn = batchify_fn
        self._num_workers = max(0, num_workers)
        self._timeout = timeout

    def __len__(self) -> int:
        return len(self._batch_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self._num_workers == 0:
            for indices in self._batch_sampler:
                yield self._batch([self._dataset[i] for i in indices])
            return
        yield from self._iterate_with_workers()

    def _batch(self, samples: list[Any]) -> Any:
        if self._batchify_fn is not None:
            return self._batchify_fn(samples)
        return default_batchify_fn(samples)

    def _iterate_with_workers(self) -> Iterator[Any]:
        context = multiprocessing.get_context("spawn")
        with context.Pool(
            self._num_workers, initializer=_worker_init, initargs=(self._dataset,)
        ) as pool:
            pending = [pool.apply_async(_worker_load, (batch,)) for batch in self._batch_sampler]
            for result in pending:
                samples = result.get(self._timeout)
                if self._batchify_fn is not None:
                    yield self._batchify_fn(samples)
                else:
                    yield _to_ndarray(_stack_numpy(samples))


def _batch_sampler(
    length: int,
    batch_size: int | None,
    shuffle: bool,
    sampler: Any,
    last_batch: str | None,
    batch_sampler: Any,
) -> Any:
    if batch_sampler is not None:
        if batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise HybrixError(
                "batch_size, shuffle, sampler and last_batch must not be given with batch_sampler"
            )
        return batch_sampler
    if batch_size is None:
        raise HybrixError("DataLoader needs batch_size when no batch_sampler is given")
    if sampler is None:
        sampler = RandomSampler(length) if shuffle else SequentialSampler(length)
    elif shuffle:
        raise HybrixError("shuffle must be False when a sampler is given")
    return BatchSampler(sampler, batch_size, last_batch or "keep")


_WORKER_DATASET: Any = None


def _worker_init(dataset: Any) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _worker_load(indices: list[int]) -> list[Any]:
    """Samples as numpy (NDArrays converted), so the main process only wraps them."""
    return [_as_numpy(_WORKER_DATASET[i]) for i in indices]


def _as_numpy(sample: Any) -> Any:
    if isinstance(sample, tuple | list):
        return tuple(_as_numpy(part) for part in sample)
    if hasattr(sample, "asnumpy"):
        return sample.asnumpy()
    return np.asarray(sample)
