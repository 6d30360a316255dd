"""The distributed KVStore ('dist_sync', 'dist_device_sync'): one process per host (or per
device) joined into one group by jax.distributed, reducing with XLA collectives across
the processes (gloo on CPU, NCCL on GPU). No parameter server: every worker holds the
whole store and, with an optimizer set, runs the same update on the same all-reduced
gradient, which gives every worker the same weights (MXNet's servers compute exactly
this update once).

The group comes from the environment that `hybrix launch` sets (MXNet's DMLC_* names
also work): HYBRIX_COORDINATOR=host:port, HYBRIX_NUM_WORKERS, HYBRIX_RANK. `import
hybrix` joins it at once, because jax.distributed must start before JAX runs anything.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from typing import Any

from hybrix.kvstore._keys import KVStoreError
from hybrix.kvstore.kvstore import KVStore

__all__ = ["DistKVStore", "join_from_environment", "worker_environment"]

_GROUP: dict[str, Any] = {}
_LOOPBACK_NAMES = ("localhost",)


def worker_environment(environ: Any = None) -> tuple[str, int, int] | None:
    """(coordinator host:port, number of workers, rank) from the environment, or None."""
    env = os.environ if environ is None else environ
    coordinator = env.get("HYBRIX_COORDINATOR")
    count, rank = env.get("HYBRIX_NUM_WORKERS"), env.get("HYBRIX_RANK")
    if coordinator is None and env.get("DMLC_PS_ROOT_URI") and env.get("DMLC_PS_ROOT_PORT"):
        coordinator = f"{env['DMLC_PS_ROOT_URI']}:{env['DMLC_PS_ROOT_PORT']}"
        count, rank = env.get("DMLC_NUM_WORKER"), env.get("DMLC_WORKER_ID")
    if coordinator is None:
        return None
    try:
        number, index = int(count or ""), int(rank or "")
    except ValueError:
        raise KVStoreError(
            f"worker environment: coordinator {coordinator!r} is set but the worker count "
            f"{count!r} or rank {rank!r} is not an integer (set HYBRIX_NUM_WORKERS and "
            "HYBRIX_RANK, or start the workers with `hybrix launch`)"
        ) from None
    if not 0 <= index < number:
        raise KVStoreError(f"worker environment: rank {index} is not in [0, {number})")
    return coordinator, number, index


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def join_from_environment() -> bool:
    """Join the jax.distributed group named by the environment; False when none is."""
    import jax

    if _GROUP:
        return True
    found = worker_environment()
    if found is None:
        return False
    coordinator, count, rank = found
    host, _, port = coordinator.rpartition(":")
    timeout = int(os.environ.get("HYBRIX_INIT_TIMEOUT", "120"))
    options: dict[str, Any] = {}
    if _is_loopback(host):
        # NOTE: keep every socket on the loopback interface for single-host groups.
        options["coordinator_bind_address"] = f"127.0.0.1:{port}"
        _pin_gloo_to_loopback()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=count,
            process_id=rank,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=max(10, timeout // 2),
            shutdown_timeout_seconds=max(10, timeout // 2),
            **options,
        )
    except RuntimeError as e:
        raise KVStoreError(
            f"worker {rank} of {count} could not join the group at {coordinator}: {e}. "
            "jax.distributed must start before JAX computes anything: `import hybrix` "
            "first, or create the dist KVStore before any array work"
        ) from e
    _GROUP.update(coordinator=coordinator, num_workers=count, rank=rank)
    # NOTE: child processes (DataLoader workers) must not join again under this rank.
    for name in ("HYBRIX_COORDINATOR", "DMLC_PS_ROOT_URI"):
        os.environ.pop(name, None)
    return True


def _pin_gloo_to_loopback() -> None:
    """Make the CPU backend's gloo collectives listen on 127.0.0.1 (jax's default resolves
    the host name, which on a multi-homed host may be an outside address)."""
    try:
        from jax._src import distributed, xla_bridge
        from jax._src.lib import _jax
    except ImportError:  # pragma: no cover - a jax without these internals: keep defaults
        return
    if xla_bridge.backends_are_initialized():
        return

    def make_client() -> Any:
        collectives = _jax.make_gloo_tcp_collectives(
            distributed_client=distributed.global_state.client, hostname="127.0.0.1"
        )
        return xla_bridge.make_cpu_client(collectives=collectives)

    xla_bridge.register_backend_factory("cpu", make_client, priority=0, fail_quietly=False)


class DistKVStore(KVStore):
    """A KVStore whose reductions span every worker process of the group."""

    def __init__(self, kv_type: str) -> None:
        super().__init__(kv_type)
        if not join_from_environment():
            warnings.warn(
                f"KVStore {kv_type!r}: no worker group in the environment (start the script "
                "with `hybrix launch -n N`); running as the only worker",
                stacklevel=3,
            )

    @property
    def rank(self) -> int:
        return int(_GROUP.get("rank", 0))

    @property
    def num_workers(self) -> int:
        return int(_GROUP.get("num_workers", 1))

    def barrier(self) -> None:
        """Block until every worker reaches this barrier."""
        if self.num_workers == 1:
            super().barrier()
            return
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("hybrix.kvstore.barrier")

    _barrier = barrier

    def _initial_values(self, arrays: list) -> list:
        local = [a._data for a in arrays]
        if self.num_workers == 1:
            return local
        from hybrix.kvstore._reduce import broadcast_processes

        return broadcast_processes(local)

    def _reduce_to_store(self, groups: dict) -> list:
        local = super()._reduce_to_store(groups)
        if self.num_workers == 1:
            return local
        from hybrix.kvstore._reduce import sum_processes

        return sum_processes(local)
