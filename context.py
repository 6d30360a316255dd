"""Context: MXNet's device handle (`cpu(0)`, `gpu(1)`), mapped onto JAX devices.

`with hybrix.gpu(0):` makes a context the default for arrays created inside the block,
as in MXNet. A context names a device; `Context.device` finds the JAX device and raises
a HybrixError when this machine has none of that kind or too few of them.
"""

from __future__ import annotations

import threading
from typing import Any

from hybrix.ir.errors import HybrixError

__all__ = ["Context", "cpu", "cpu_pinned", "current_context", "gpu", "num_gpus"]

# MXNet's device type ids (include/mxnet/base.h), used by .params files and `device_typeid`.
_TYPE_IDS = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
_TYPE_NAMES = {v: k for k, v in _TYPE_IDS.items()}
# Which JAX platform backs each MXNet device type: pinned and shared memory are host memory.
_PLATFORMS = {"cpu": "cpu", "gpu": "gpu", "cpu_pinned": "cpu", "cpu_shared": "cpu"}


class _DefaultStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[Context] = []


_DEFAULTS = _DefaultStack()


class Context:
    """A device: `Context("gpu", 1)`, `Context(other_context)`; usable as `with ctx:`."""

    __slots__ = ("_device", "device_id", "device_typeid")

    devtype2str = _TYPE_NAMES
    devstr2type = _TYPE_IDS

    def __init__(self, device_type: str | Context, device_id: int = 0) -> None:
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if device_type not in _TYPE_IDS:
                raise HybrixError(
                    f"unknown device type {device_type!r}; expected one of {sorted(_TYPE_IDS)}"
                )
            self.device_typeid = _TYPE_IDS[device_type]
            self.device_id = int(device_id)
        self._device: Any = None

    @property
    def device_type(self) -> str:
        return _TYPE_NAMES[self.device_typeid]

    @property
    def device(self) -> Any:
        """The jax.Device behind this context (looked up once)."""
        if self._device is None:
            self._device = _jax_device(self.device_type, self.device_id)
        return self._device

    def empty_cache(self) -> None:
        """MXNet frees cached GPU memory here; XLA's allocator manages its own pool."""

    def __hash__(self) -> int:
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Context)
            and self.device_typeid == other.device_typeid
            and self.device_id == other.device_id
        )

    def __str__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __enter__(self) -> Context:
        _DEFAULTS.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _DEFAULTS.stack.pop()


def _jax_device(device_type: str, device_id: int) -> Any:
    import jax

    platform = _PLATFORMS[device_type]
    try:
        # NOTE: this process's devices: in a jax.distributed group cpu(0) is every worker's own.
        devices = jax.local_devices(backend=platform)
    except RuntimeError:
        devices = []
    if device_id >= len(devices):
        hint = (
            " (set XLA_FLAGS=--xla_force_host_platform_device_count=N for N CPU devices)"
            if platform == "cpu"
            else ""
        )
        raise HybrixError(
            f"context {device_type}({device_id}) does not exist: this machine has "
            f"{len(devices)} {platform} device(s){hint}"
        )
    return devices[device_id]


def context_of_device(device: Any) -> Context:
    """The Context for a jax.Device (the inverse of `Context.device`)."""
    device_type = "gpu" if device.platform in ("gpu", "cuda", "rocm") else "cpu"
    import jax

    try:
        index = jax.local_devices(backend=device.platform).index(device)
    except (RuntimeError, ValueError):
        index = device.id
    ctx = Context(device_type, index)
    ctx._device = device
    return ctx


def cpu(device_id: int = 0) -> Context:
    """The CPU context; device_id picks among the host devices JAX exposes."""
    return Context("cpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    """Page-locked host memory in MXNet; plain host memory here."""
    return Context("cpu_pinned", device_id)


def gpu(device_id: int = 0) -> Context:
    """The GPU context; using it on a machine without that GPU raises HybrixError."""
    return Context("gpu", device_id)


def num_gpus() -> int:
    """How many GPUs JAX sees (0 without a GPU backend)."""
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:
        return 0


def current_context() -> Context:
    """The innermost `with ctx:` context, else cpu(0)."""
    stack = _DEFAULTS.stack
    return stack[-1] if stack else _CPU0


_CPU0 = Context("cpu", 0)
Context.default_ctx = _CPU0  # type: ignore[attr-defined]
