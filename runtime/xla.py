"""The XLA executor: a bundle's precompiled executable, or its StableHLO compiled at load.

jax is imported only inside functions. A precompiled CPU executable is run through
jaxlib's own CPU client without `import jax` (about 0.7 s of a cold start here): the
executable is deserialized by PJRT, arrays are placed with `batched_device_put`, and
results are copied out of their (row-major, checked at load) device buffers. When jax is
already imported, or for other platforms, the same executable runs through jax's client.
StableHLO (jax.export's serialized form) always goes through jax.

CPU programs run on the calling thread (`cpu_dispatch_async()`; `configure_jax_dispatch`
applies it to jax's client, when hybrix.nd or hybrix.compiler is imported: the compiler starts
jax's client from several places, layout and strategy choice among them): XLA's asynchronous
CPU dispatch hands every program to a worker thread, whose wake-up cost 10-25 us per call
on these VMs (jax.profiler trace of the fixtures' LSTM: the worker started ~25 us after the
dispatch, for 10 us of work). Synchronous, the LSTM
ran 16-17 us against 26-51 and MobileNet 1.0 (b1 224) 3.34-3.37 ms against 3.66-3.79
(ad-hoc runs of bench/infer.py's hybrix column, jax_cpu_enable_async_dispatch off/on);
training loses the overlap of Python with the step (LeNet's compiled step 6.6 -> 7.0 ms in
one run of bench/train_step.py). HYBRIX_CPU_ASYNC=1 (or jax's own
JAX_CPU_ENABLE_ASYNC_DISPATCH) keeps XLA's asynchronous dispatch.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hybrix.ir import DType
from hybrix.runtime.errors import BundleError, PlatformMismatchError

__all__ = [
    "PrecompiledProgram",
    "StableHloProgram",
    "configure_jax_dispatch",
    "cpu_dispatch_async",
    "jax_available",
    "jaxlib_version",
]


def cpu_dispatch_async() -> bool:
    """Whether CPU programs are dispatched to a worker thread: HYBRIX_CPU_ASYNC=1 (or jax's
    JAX_CPU_ENABLE_ASYNC_DISPATCH, when set); by default they run on the calling thread."""
    setting = os.environ.get("JAX_CPU_ENABLE_ASYNC_DISPATCH")
    if setting is None:
        setting = os.environ.get("HYBRIX_CPU_ASYNC", "0")
    return setting.strip().lower() in ("1", "true", "yes", "on")


def configure_jax_dispatch() -> None:
    """Apply `cpu_dispatch_async()` to jax. jax reads it when it creates its CPU client: a
    process that ran jax before importing hybrix keeps what it had."""
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", cpu_dispatch_async())


def jaxlib_version() -> str | None:
    """The installed jaxlib's version, or None; cheap (no `import jax`)."""
    try:
        from jaxlib import version
    except ImportError:
        return None
    return str(version.__version__)


def jax_available() -> bool:
    if "jax" in sys.modules:
        return sys.modules["jax"] is not None
    import importlib.util

    try:
        return importlib.util.find_spec("jax") is not None
    except (ImportError, ValueError):
        return False


class PrecompiledProgram:
    """A serialized PJRT executable for one platform, jaxlib version and input shapes."""

    def __init__(
        self,
        data: bytes,
        platform: str,
        params: Sequence[np.ndarray],
        outputs: Sequence[tuple[str, Sequence[int]]],
        bridge: str = "auto",
        prepare: tuple[bytes, Sequence[tuple[str, Sequence[int]]]] | None = None,
    ) -> None:
        """outputs: (dtype name, shape) per result; bridge: "auto", "jaxlib" or "jax";
        prepare: an executable (and its outputs) mapping the parameters to what this one takes
        (weights packed for hybrix's kernels), run once here."""
        if bridge == "auto":
            use_jaxlib = platform == "cpu" and "jax" not in sys.modules
            bridge = "jaxlib" if use_jaxlib else "jax"
        self.bridge = _JaxlibCpu() if bridge == "jaxlib" else _JaxClient(platform)
        self.executable = self.bridge.load(data)
        self.bridge.check_layouts(self.executable)
        self.outputs = [(DType.from_any(d).numpy, tuple(s)) for d, s in outputs]
        self.params = [self.bridge.put(array) for array in params]
        if prepare is not None:
            step = self.bridge.load(prepare[0])
            shapes = [(DType.from_any(d).numpy, tuple(s)) for d, s in prepare[1]]
            self.params = self.bridge.execute_on_device(step, self.params, shapes)

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        args = [self.bridge.put(np.ascontiguousarray(a)) for a in inputs] + self.params
        return self.bridge.execute(self.executable, args, self.outputs)


class StableHloProgram:
    """jax.export's serialized StableHLO, compiled by XLA for each new input shape."""

    def __init__(self, data: bytes, platform: str, params: Sequence[np.ndarray]) -> None:
        import jax
        from jax import export

        try:
            self.exported = export.deserialize(bytearray(data))
        except Exception as e:  # jax raises plain ValueError/flatbuffer errors
            raise BundleError(f"cannot deserialize the {platform} StableHLO ({e})") from None
        self.device = jax.devices(_jax_platform(platform))[0]
        self.params = [jax.device_put(np.asarray(array), self.device) for array in params]
        self.function = jax.jit(self.exported.call)

    def __call__(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        import jax

        with jax.default_device(self.device):
            results = self.function(*inputs, *self.params)
        return [np.asarray(result) for result in results]


def _jax_platform(platform: str) -> str:
    return "gpu" if platform in ("cuda", "rocm") else platform


def machine_platforms() -> list[str]:
    """Platforms this process can run XLA programs on, best first (imports jax if present)."""
    if not jax_available():
        return []
    import jax

    backend = jax.default_backend()
    names = {"gpu": ["cuda", "rocm"]}.get(backend, [backend])
    return [*names, "cpu"] if backend != "cpu" else ["cpu"]


# -- bridges: how arrays reach the executable --------------------------------------------------
class _JaxlibCpu:
    """jaxlib's CPU client, used directly so that running needs no `import jax`."""

    def __init__(self) -> None:
        client, sharding = _jaxlib_cpu_client()
        self.client = client
        self.device = client.devices()[0]
        self.sharding = sharding

    def load(self, data: bytes) -> Any:
        from jaxlib import xla_client

        devices = xla_client.DeviceList((self.device,))
        try:
            return self.client.deserialize_executable(data, devices)
        except Exception as e:  # XlaRuntimeError: the bytes are not an executable for us
            raise PlatformMismatchError(f"cannot load the precompiled executable ({e})") from None

    def check_layouts(self, executable: Any) -> None:
        _check_row_major(executable)

    def put(self, array: np.ndarray) -> Any:
        import jaxlib._jax as _jax

        aval = _Aval(array.shape, array.dtype)
        return _jax.batched_device_put(aval, self.sharding, [array], [self.device], enable_x64=True)

    def execute(self, executable: Any, args: list, outputs: Sequence[tuple]) -> list[np.ndarray]:
        arrays = self.execute_on_device(executable, args, outputs)
        return [
            _to_host(array, dtype, shape)
            for array, (dtype, shape) in zip(arrays, outputs, strict=True)
        ]

    def execute_on_device(self, executable: Any, args: list, outputs: Sequence[tuple]) -> list:
        """The results as device arrays (inputs of another execution)."""
        import jaxlib._jax as _jax

        results = executable.execute_sharded(args)
        handlers = [
            _jax.array_result_handler(_Aval(shape, dtype), self.sharding, True, _skip_checks=True)
            for dtype, shape in outputs
        ]
        return list(results.consume_with_handlers(handlers))


class _Aval:
    """The few facts jaxlib's C++ reads from an abstract value."""

    __slots__ = ("dtype", "shape", "weak_type")

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = False


@functools.cache
def _jaxlib_cpu_client() -> tuple[Any, Any]:
    import jaxlib._jax as _jax
    from jaxlib import utils, xla_client

    utils.absl_set_min_log_level(1)  # as jax does: no INFO lines from PJRT on stderr

    class Sharding(_jax.SingleDeviceSharding):  # type: ignore[misc]
        """jax's SingleDeviceSharding adds these in Python; batched_device_put reads them."""

        memory_kind = None

        def _to_xla_hlo_sharding(self, num_dimensions: int) -> Any:
            return xla_client.HloSharding.replicate()

    client = xla_client.make_cpu_client(asynchronous=cpu_dispatch_async())
    return client, Sharding(client.devices()[0])


def _to_host(array: Any, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Copy a row-major CPU device buffer into a new numpy array."""
    array.block_until_ready()
    result = np.empty(shape, dtype)
    if result.nbytes:
        ctypes.memmove(result.ctypes.data, array.unsafe_buffer_pointer(), result.nbytes)
    return result


def _check_row_major(executable: Any) -> None:
    """_to_host copies raw bytes, so every buffer must be in numpy's C order."""
    layouts = [*executable.get_parameter_layouts(), *executable.get_output_layouts()]
    for layout in layouts:
        text = str(layout)
        dims = [int(d) for d in text.strip("{}").split(",") if d.strip()] if text else []
        if dims != sorted(dims, reverse=True):
            raise PlatformMismatchError(f"the executable uses a non-row-major layout {text}")


class _JaxClient:
    """The executable loaded into jax's own client (jax already imported, or a GPU)."""

    def __init__(self, platform: str) -> None:
        import jax

        try:
            self.device = jax.devices(_jax_platform(platform))[0]
        except RuntimeError:
            raise PlatformMismatchError(f"this machine has no {platform} device") from None

    def load(self, data: bytes) -> Any:
        from jaxlib import xla_client

        devices = xla_client.DeviceList((self.device,))
        try:
            return self.device.client.deserialize_executable(data, devices)
        except Exception as e:
            raise PlatformMismatchError(f"cannot load the precompiled executable ({e})") from None

    def check_layouts(self, executable: Any) -> None:
        return None  # results come back through jax, which handles layouts

    def put(self, array: np.ndarray) -> Any:
        import jax

        return jax.device_put(array, self.device)

    def execute(self, executable: Any, args: list, outputs: Sequence[tuple]) -> list[np.ndarray]:
        return [np.asarray(array) for array in self.execute_on_device(executable, args, outputs)]

    def execute_on_device(self, executable: Any, args: list, outputs: Sequence[tuple]) -> list:
        results = executable.execute_sharded(args).disassemble_into_single_device_arrays()
        return [shards[0] for shards in results]


def binding_key(bindings: Mapping[str, int]) -> str:
    """The canonical text of a binding of symbolic dimensions: 'N=1,T=5' ('' when none)."""
    return ",".join(f"{name}={int(size)}" for name, size in sorted(bindings.items()))
