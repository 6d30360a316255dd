"""KVStore: MXNet 1.9's key-value store for data-parallel training, on JAX devices.

    kv = hybrix.kv.create("device")
    kv.init("w", nd.zeros(shape))
    kv.push("w", [grad_on_cpu0, grad_on_cpu1])     # summed across devices
    kv.pull("w", out=[w_on_cpu0, w_on_cpu1])       # the stored value, on each device
    kv.pushpull("w", grads)                        # all-reduce in place

Types: 'local' reduces and stores on the host (cpu(0)); 'device' stores on the first
value's device and reduces with an XLA all-reduce across the values' devices. The
distributed types live in `hybrix.kvstore.dist`. Pushes, pulls and updates are synchronous
in program order (JAX's dispatch is asynchronous, so they return before the math is done,
as MXNet's engine does); `priority` is accepted and ignored.

With an optimizer (`set_optimizer`), a push runs the update on the stored value with the
pushed sum as the gradient, once per key however many devices pushed: MXNet's
update_on_kvstore. A list of keys is reduced, and updated, as one jitted program.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any

from hybrix.kvstore._keys import KVStoreError, group_pairs

__all__ = ["DEVICE_TYPES", "HOST_TYPES", "KVStore", "KVStoreBase"]

# where a store keeps its values and sums them: the host CPU, or the values' devices
HOST_TYPES = ("local", "dist_sync")
DEVICE_TYPES = ("device", "dist_device_sync")


class KVStoreBase:
    """What MXNet's KVStoreBase names: capability strings."""

    OPTIMIZER = "optimizer"


class KVStore(KVStoreBase):
    """A single-process KVStore ('local' or 'device'); create with `hybrix.kv.create`."""

    def __init__(self, kv_type: str = "local") -> None:
        if kv_type not in HOST_TYPES + DEVICE_TYPES:
            raise KVStoreError(
                f"unknown KVStore type {kv_type!r}; expected one of {HOST_TYPES + DEVICE_TYPES}"
            )
        self._type = kv_type
        self._on_host = kv_type in HOST_TYPES
        self._store: dict[Any, Any] = {}
        self._updater: Any = None

    # -- identity -------------------------------------------------------------------------
    @property
    def type(self) -> str:
        return self._type

    @property
    def rank(self) -> int:
        return 0

    @property
    def num_workers(self) -> int:
        return 1

    def is_capable(self, capability: str) -> bool:
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return True
        raise KVStoreError(f"Unknown capability: {capability}")

    def barrier(self) -> None:
        """Wait for all workers; with one worker, for this process's pending work."""
        from hybrix import nd

        nd.waitall()

    _barrier = barrier

    def __repr__(self) -> str:
        return f"<KVStore {self.type} rank {self.rank} of {self.num_workers}>"

    # -- the store --------------------------------------------------------------------------
    def init(self, key: Any, value: Any) -> None:
        """Store the initial value of each key (once per key)."""
        groups = group_pairs(key, value)
        for k in groups:
            if k in self._store:
                raise KVStoreError(f"duplicate init of key {k!r}")
        firsts = self._initial_values([arrays[0] for arrays in groups.values()])
        for k, data in zip(groups, firsts, strict=True):
            self._store[k] = self._stored_array(data)

    def push(self, key: Any, value: Any, priority: int = 0) -> None:
        """Sum each key's values across devices into the store (or update it with them)."""
        groups = group_pairs(key, value)
        self._check_known(groups, value_arrays=True)
        sums = self._reduce_to_store(groups)
        self._apply(list(groups), sums)

    def pull(self, key: Any, out: Any = None, priority: int = 0, ignore_sparse: bool = True):
        """Copy each key's stored value into `out` (an NDArray or one per device)."""
        if out is None:
            raise KVStoreError("pull needs `out`: the NDArray(s) to copy the stored value into")
        groups = group_pairs(key, out, what="out")
        self._check_known(groups)
        for k, outs in groups.items():
            _write(outs, self._store[k]._data)

    def pushpull(self, key: Any, value: Any, out: Any = None, priority: int = 0) -> None:
        """push then pull; without `out` the pulled values overwrite `value`."""
        groups = group_pairs(key, value)
        self._check_known(groups, value_arrays=True)
        outs = groups if out is None else group_pairs(key, out, what="out")
        if self._updater is None and not self._on_host and self.num_workers == 1:
            # NOTE: without an update the stored value is the sum itself, so the all-reduce
            # places it on the devices directly (MXNet's device store does the same).
            reduced = self._allreduce(groups)
            for k, arrays in reduced.items():
                self._store[k]._data = self._to_store_device(arrays[0])
                _write(outs[k], arrays)
            return
        self._apply(list(groups), self._reduce_to_store(groups))
        for k in outs:
            _write(outs[k], self._store[k]._data)

    def broadcast(self, key: Any, value: Any, out: Any, priority: int = 0) -> None:
        """init with `value` (rank 0's, when distributed), then pull into `out`."""
        self.init(key, value)
        self.pull(key, out=out)

    def row_sparse_pull(self, *args: Any, **kwargs: Any) -> None:
        raise KVStoreError("row_sparse_pull: hybrix has no sparse arrays; use pull")

    # -- optimizer on the store -----------------------------------------------------------
    def set_optimizer(self, optimizer: Any) -> None:
        """Run `optimizer` on the stored values at each push (update_on_kvstore)."""
        from hybrix import optimizer as opt

        if not isinstance(optimizer, opt.Optimizer):
            raise KVStoreError(
                f"set_optimizer expects an Optimizer, got {type(optimizer).__name__}"
            )
        self._set_updater(opt.get_updater(optimizer))

    def _set_updater(self, updater: Any) -> None:
        """A function updater(key, merged_value, stored_value) run at each push."""
        self._updater = updater

    def set_gradient_compression(self, compression_params: dict) -> None:
        raise KVStoreError(
            f"set_gradient_compression({compression_params!r}): gradient compression is not "
            "supported; gradients are reduced exactly by XLA collectives"
        )

    def save_optimizer_states(self, fname: str, dump_optimizer: bool = False) -> None:
        """Write the updater's states (and with dump_optimizer the optimizer) to fname."""
        updater = self._require_updater("save_optimizer_states")
        data = updater.get_states(dump_optimizer)
        folder = os.path.dirname(os.path.abspath(fname))
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, fname)

    def load_optimizer_states(self, fname: str) -> None:
        """Load what save_optimizer_states wrote."""
        updater = self._require_updater("load_optimizer_states")
        try:
            with open(fname, "rb") as handle:
                data = handle.read()
            updater.set_states(data)
        except (OSError, pickle.UnpicklingError) as e:
            raise KVStoreError(f"cannot read optimizer states from {fname!r}: {e}") from e

    def _require_updater(self, what: str) -> Any:
        if self._updater is None or not hasattr(self._updater, "get_states"):
            raise KVStoreError(f"{what}: no optimizer on this KVStore; call set_optimizer first")
        return self._updater

    # -- steps that the distributed store refines ------------------------------------------
    def _initial_values(self, arrays: list) -> list:
        """The value each key starts from (jax arrays); dist: rank 0's."""
        return [a._data for a in arrays]

    def _reduce_to_store(self, groups: dict) -> list:
        """The sum of each key's values (jax arrays on the store device)."""
        if self._on_host:
            return [_sum_on_host([a._data for a in arrays]) for arrays in groups.values()]
        sums = []
        for k, arrays in self._allreduce(groups).items():
            target = self._store[k].context.device
            on_target = [a for a in arrays if next(iter(a.devices())) == target]
            sums.append(on_target[0] if on_target else _device_put(arrays[0], target))
        return sums

    def _allreduce(self, groups: dict) -> dict:
        """key -> the sum of its values, one array on each value's device."""
        from hybrix.kvstore._reduce import allreduce_devices

        reduced = allreduce_devices([[a._data for a in arrays] for arrays in groups.values()])
        return dict(zip(groups, reduced, strict=True))

    # -- helpers ------------------------------------------------------------------------------
    def _stored_array(self, data: Any) -> Any:
        import jax.numpy as jnp

        from hybrix.context import context_of_device
        from hybrix.ndarray import NDArray

        placed = self._to_store_device(jnp.array(data, copy=True))
        return NDArray(placed, context_of_device(next(iter(placed.devices()))))

    def _to_store_device(self, data: Any) -> Any:
        import jax

        if self._on_host:
            return jax.device_put(data, jax.local_devices(backend="cpu")[0])
        return data

    def _check_known(self, groups: dict, value_arrays: bool = False) -> None:
        for k, arrays in groups.items():
            stored = self._store.get(k)
            if stored is None:
                raise KVStoreError(f"key {k!r} has not been initialized; call init({k!r}, ...)")
            for array in arrays:
                if tuple(array.shape) != tuple(stored.shape):
                    raise KVStoreError(
                        f"key {k!r}: shape {tuple(array.shape)} does not match the stored "
                        f"shape {tuple(stored.shape)}"
                    )

    def _apply(self, keys: list, sums: list) -> None:
        """Store each sum, or update the stored value with it when an updater is set."""
        from hybrix import optimizer as opt
        from hybrix.ndarray import NDArray

        if self._updater is None:
            for k, total in zip(keys, sums, strict=True):
                self._store[k]._data = total
            return
        stored = [self._store[k] for k in keys]
        grads = [NDArray(total, s.context) for total, s in zip(sums, stored, strict=True)]
        if isinstance(self._updater, opt.Updater):
            self._updater(list(keys), grads, stored)  # one fused update for all keys
            return
        for k, grad, weight in zip(keys, grads, stored, strict=True):
            self._updater(k, grad, weight)


def _sum_on_host(arrays: list) -> Any:
    """The sum of one key's jax arrays on the host CPU (MXNet's 'local' CommCPU)."""
    import jax

    host = jax.local_devices(backend="cpu")[0]
    total = jax.device_put(arrays[0], host)
    for array in arrays[1:]:
        total = total + jax.device_put(array, host)
    return total


def _device_put(data: Any, device: Any) -> Any:
    import jax

    return jax.device_put(data, device)


def _write(outs: list, values: Any) -> None:
    """Write a value (or one value per output) into NDArrays on their own devices.

    NOTE: a pulled value is always a copy: the optimizer donates the stored weights'
    buffers, so an output sharing one would be freed by the next update.
    """
    import jax

    for i, out in enumerate(outs):
        value = values[i] if isinstance(values, list) else values
        if value.dtype != out._data.dtype:
            value = value.astype(out._data.dtype)
        out._data = jax.device_put(value, out.context.device, may_alias=isinstance(values, list))
