"""hybrix.kv / hybrix.kvstore: MXNet's KVStore for data-parallel training on JAX devices.

kv = hybrix.kv.create("device")       # 'local' | 'device' | 'dist_sync' | 'dist_device_sync'
"""

from hybrix.kvstore._keys import KVStoreError
from hybrix.kvstore.kvstore import DEVICE_TYPES, HOST_TYPES, KVStore, KVStoreBase
from hybrix.kvstore.dist import DistKVStore

__all__ = ["DistKVStore", "KVStore", "KVStoreBase", "KVStoreError", "check_type", "create"]

# MXNet's other local names, by where they reduce
_ALIASES = {
    "local_update_cpu": "local",
    "local_allreduce_cpu": "local",
    "local_allreduce_device": "device",
    "nccl": "device",
    "dist_sync_device": "dist_device_sync",
}
_REFUSED = {
    "dist_async": "asynchronous SGD needs a parameter server, which hybrix does not have",
    "dist": "plain 'dist' is MXNet's asynchronous mode, which needs a parameter server",
    "dist_device_async": "asynchronous SGD needs a parameter server, which hybrix does not have",
    "horovod": "use 'dist_sync' (jax.distributed + XLA collectives) instead of Horovod",
    "byteps": "use 'dist_sync' (jax.distributed + XLA collectives) instead of BytePS",
    "p3": "use 'dist_sync'; priority-based parameter propagation needs a parameter server",
}


def check_type(name: str) -> str:
    """The store kind behind a KVStore type name; raises KVStoreError for a refused one."""
    if not isinstance(name, str):
        raise KVStoreError(f"name must be a string, got {type(name).__name__}")
    kind = _ALIASES.get(name, name)
    supported = sorted(HOST_TYPES + DEVICE_TYPES)
    if kind in _REFUSED:
        raise KVStoreError(
            f"KVStore type {name!r} is not supported: {_REFUSED[kind]}; supported: {supported}"
        )
    if kind not in HOST_TYPES + DEVICE_TYPES:
        raise KVStoreError(f"unknown KVStore type {name!r}; supported: {supported}")
    return kind


def create(name: str = "local") -> KVStore:
    """A new KVStore of type `name` (see the module docstring)."""
    kind = check_type(name)
    store = DistKVStore(kind) if kind.startswith("dist") else KVStore(kind)
    store._type = name
    return store
