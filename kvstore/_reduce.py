"""Reductions behind the KVStore as XLA programs: an all-reduce across the JAX devices of
this process, and an all-reduce or broadcast across the processes of a jax.distributed
group (gloo on CPU, NCCL on GPU).

Each reduction takes a list of keys' arrays and runs them as one jitted program: the
arrays of one key, one per device, are viewed without a copy as the shards of one global
array (stacked along axis 0) and summed with the result replicated on every device, so
XLA emits the all-reduce itself.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["allreduce_devices", "broadcast_processes", "process_devices", "sum_processes"]


def _device_of(array: Any) -> Any:
    return next(iter(array.devices()))


def allreduce_devices(groups: list[list[Any]]) -> list[list[Any]]:
    """For each group of jax arrays (same shape), the sum placed on each array's device.

    Groups whose arrays sit on distinct devices are reduced together by one collective
    program per device set; a group with a repeated device is summed on its first one.
    """
    results: list[list[Any] | None] = [None] * len(groups)
    by_devices: dict[tuple, list[int]] = {}
    for position, arrays in enumerate(groups):
        devices = tuple(_device_of(a) for a in arrays)
        if len(arrays) == 1:
            results[position] = list(arrays)
        elif len(set(devices)) == len(devices):
            by_devices.setdefault(devices, []).append(position)
        else:
            results[position] = _sum_then_copy(arrays, devices)
    for devices, positions in by_devices.items():
        sums = _collective_sum([groups[p] for p in positions], devices)
        for position, total in zip(positions, sums, strict=True):
            results[position] = [_shard_on(total, d) for d in devices]
    return results  # type: ignore[return-value]


def _sum_then_copy(arrays: list, devices: tuple) -> list:
    import jax

    total = arrays[0]
    for array in arrays[1:]:
        total = total + jax.device_put(array, devices[0])
    return [jax.device_put(total, d) for d in devices]


def _shard_on(array: Any, device: Any) -> Any:
    for shard in array.addressable_shards:
        if shard.device == device:
            return shard.data
    raise AssertionError(f"no shard of the reduced array on {device}")  # pragma: no cover


def _collective_sum(groups: list[list[Any]], devices: tuple) -> list:
    """sum over each group's arrays (one per device in `devices`), replicated."""
    program, sharding = _program("sum", devices)
    stacked = [_stack(arrays, sharding, len(devices)) for arrays in groups]
    return program(stacked, tuple(a[0].shape for a in groups))


def _stack(arrays: list, sharding: Any, count: int) -> Any:
    """One global array whose shard i is arrays[i] (flattened), without copying."""
    import jax

    flat = [a.reshape(-1) if a.ndim != 1 else a for a in arrays]
    size = flat[0].shape[0]
    return jax.make_array_from_single_device_arrays((count * size,), sharding, flat)


@functools.lru_cache(maxsize=64)
def _program(kind: str, devices: tuple) -> tuple[Any, Any]:
    """A jitted reduction over the mesh of `devices`: 'sum' or 'first' (rank 0's value)."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(devices, dtype=object), ("workers",))
    count = len(devices)

    def reduce(stacked: list, shapes: tuple) -> list:
        outputs = []
        for array, shape in zip(stacked, shapes, strict=True):
            rows = array.reshape(count, -1)
            value = rows.sum(axis=0, dtype=array.dtype) if kind == "sum" else rows[0]
            outputs.append(value.reshape(shape))
        return outputs

    replicated = NamedSharding(mesh, PartitionSpec())
    jitted = jax.jit(reduce, static_argnums=(1,), out_shardings=replicated)
    return jitted, NamedSharding(mesh, PartitionSpec("workers"))


# -- across processes (jax.distributed) -------------------------------------------------------
def process_devices() -> tuple:
    """One device per process, in process order: each process's first local device."""
    import jax

    first: dict[int, Any] = {}
    for device in jax.devices():
        first.setdefault(device.process_index, device)
    return tuple(first[p] for p in sorted(first))


def _across_processes(kind: str, arrays: list) -> list:
    """`kind` over every process's arrays[i]; the result lands on arrays[i]'s device."""
    import jax

    if not arrays:
        return []
    devices = process_devices()
    mine = devices[jax.process_index()]
    program, sharding = _program(kind, devices)
    count = len(devices)
    stacked = []
    for array in arrays:
        local = jax.device_put(array, mine).reshape(-1)
        shape = (count * local.shape[0],)
        stacked.append(jax.make_array_from_single_device_arrays(shape, sharding, [local]))
    outputs = program(stacked, tuple(a.shape for a in arrays))
    return [
        jax.device_put(_shard_on(out, mine), _device_of(array))
        for out, array in zip(outputs, arrays, strict=True)
    ]


def sum_processes(arrays: list) -> list:
    """The sum over all processes of each array (called by every process, same shapes)."""
    return _across_processes("sum", arrays)


def broadcast_processes(arrays: list) -> list:
    """Process 0's value of each array, on every process."""
    return _across_processes("first", arrays)
