"""Native CPU kernels called by XLA as typed FFI custom calls: build, load, register, call.

The C sources (conv.c: dense convolution; dwconv.c: depthwise; pool.c: max pooling;
rnn.c: the fused RNN op; layout.c: NCHW -> NHWC of a few channels; common.h: what they
share) are compiled on first use with the system C compiler (`cc`/`gcc`,
`-O3 -march=native`) into one library in `cache_dir("native")`, named by a hash of the
sources, compiler version, flags, jax's FFI header and the CPU, written atomically; then
loaded and its targets registered by runtime/native.py (platform "cpu", api_version 1, names
suffixed with that hash), which also loads a bundle's copy.
`HYBRIX_NATIVE=0` turns the kernels off; `unavailable()` says why they cannot be used.
Each call splits its work over XLA's intra-op thread pool (the FFI ThreadPool API);
`HYBRIX_NATIVE_THREADS=N` caps that, read when a program is traced.

NOTE: a program holding these custom calls is not portable (the target exists only in a
process that registered it): bundles lower without them (`disabled()`, compiler/bundle.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hybrix.compiler.cache_dir import cache_dir
from hybrix.ir import HybrixError
from hybrix.ir.ops.rnn import MODES, param_layout
from hybrix.runtime.native import register_library, target_names, turned_off

__all__ = [
    "CONV_TARGET",
    "DEPTHWISE_TARGET",
    "LAYOUT_MAX_CHANNELS",
    "LAYOUT_TARGET",
    "MAXPOOL_TARGET",
    "RNN_MODES",
    "RNN_TARGET",
    "conv2d_nhwc",
    "depthwise_conv2d_nhwc",
    "disabled",
    "is_disabled",
    "library_path",
    "maxpool2d_nhwc",
    "nchw_to_nhwc",
    "pack_conv_weight",
    "pack_rnn_parameters",
    "panel_width",
    "registered_targets",
    "rnn",
    "target",
    "unavailable",
    "unusable",
]

# the kernels' exported symbols; `target(symbol)` is the FFI target registered for each
CONV_TARGET = "hybrix_conv2d_nhwc"
DEPTHWISE_TARGET = "hybrix_dwconv2d_nhwc"
MAXPOOL_TARGET = "hybrix_maxpool2d_nhwc"
LAYOUT_TARGET = "hybrix_nchw_to_nhwc"
LAYOUT_MAX_CHANNELS = 4  # layout.c's MAX_CHANNELS
RNN_TARGET = "hybrix_rnn"
RNN_MODES = MODES  # rnn.c numbers the modes in the op's order
_HERE = Path(__file__).parent
_SOURCES = tuple(_HERE / name for name in ("conv.c", "dwconv.c", "pool.c", "rnn.c", "layout.c"))
_HEADERS = (_HERE / "common.h",)
_FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=gnu11", "-fno-strict-aliasing")
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"reason": None, "done": False, "library": None}
_LOCAL = threading.local()


class NativeBuildError(HybrixError):
    """The native kernels could not be compiled, loaded or registered."""


# -- turning them off ---------------------------------------------------------------------------
@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within this block (this thread), native strategies do not fit: for portable programs."""
    depth = getattr(_LOCAL, "depth", 0)
    _LOCAL.depth = depth + 1
    try:
        yield
    finally:
        _LOCAL.depth = depth


def is_disabled() -> bool:
    return getattr(_LOCAL, "depth", 0) > 0


def unusable() -> str | None:
    """Why a strategy calling the kernels cannot be lowered here (None: it can): disabled in
    this block (a portable program), or `unavailable()`."""
    if is_disabled():
        return "native kernels disabled here (portable program)"
    return unavailable()


# -- build and load -----------------------------------------------------------------------------
def _compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        import platform

        return platform.processor() or platform.machine()


def _library_path(compiler: str, include: str) -> Path:
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    header = Path(include, "xla", "ffi", "api", "c_api.h").read_bytes()
    digest = hashlib.sha256()
    sources = [p.read_bytes() for p in (*_SOURCES, *_HEADERS)]
    for part in (*sources, version.encode(), " ".join(_FLAGS).encode(), header):
        digest.update(part)
        digest.update(b"\0")
    digest.update(_cpu().encode())
    return cache_dir("native") / f"kernels-{digest.hexdigest()[:20]}.so"


def _build(compiler: str, include: str, path: Path, flags: Sequence[str] = _FLAGS) -> None:
    temp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    command = [compiler, *flags, "-I", include, *map(str, _SOURCES), "-o", str(temp)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise NativeBuildError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}"
            )
        os.replace(temp, path)  # NOTE: atomic: a concurrent loader never sees half a file
    finally:
        temp.unlink(missing_ok=True)


def _load() -> None:
    compiler = _compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler (cc or gcc) on PATH")
    import jax

    include = jax.ffi.include_dir()
    path = _library_path(compiler, include)
    if not path.exists():
        _build(compiler, include, path)
    digest = path.stem.split("-", 1)[1]
    targets = target_names(digest)
    try:
        library = register_library(path, targets)
    except OSError as e:
        raise NativeBuildError(f"cannot load {path}: {e}") from None
    _STATE.update(library=library, path=path, targets={v: k for k, v in targets.items()})


def target(symbol: str) -> str:
    """The FFI target name this process registered for a kernel (`CONV_TARGET`, ...)."""
    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    return _STATE["targets"][symbol]


def library_path() -> Path:
    """The loaded kernel library (a bundle's precompiled executable carries it)."""
    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    return _STATE["path"]


def registered_targets() -> dict[str, str]:
    """FFI target name -> kernel symbol, as this process registered them ({} without)."""
    if unavailable():
        return {}
    return {name: symbol for symbol, name in _STATE["targets"].items()}


def unavailable() -> str | None:
    """None when the native kernels are built, loaded and registered; else why not.

    Builds on the first call of the process (about 1 s; cached on disk after that).
    HYBRIX_NATIVE=0 is read on every call, so a test can switch them off.
    """
    if turned_off():
        return "native kernels unavailable: HYBRIX_NATIVE=0"
    with _LOCK:
        if not _STATE["done"]:
            try:
                _load()
            except (NativeBuildError, OSError, subprocess.SubprocessError) as e:
                _STATE["reason"] = f"native kernels unavailable: {e}"
            _STATE["done"] = True
    return _STATE["reason"]


# -- calling ------------------------------------------------------------------------------------
def _max_threads() -> int:
    """HYBRIX_NATIVE_THREADS caps the threads a kernel uses (default 0: XLA's whole pool)."""
    try:
        return max(0, int(os.environ.get("HYBRIX_NATIVE_THREADS", "0")))
    except ValueError:
        return 0


def panel_width(filters: int) -> int:
    """The width of the column panels the kernel packs a weight of `filters` filters into."""
    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    function = _STATE["library"].hybrix_conv_panel_width
    function.restype, function.argtypes = ctypes.c_int64, [ctypes.c_int64]
    return int(function(filters))


def pack_conv_weight(weight: Any, *, weight_last: bool, taps: Sequence[tuple[int, int]]) -> Any:
    """The weight as the kernel packs it on every call, for a constant weight to be packed
    once: (panels, kept taps * C, width), panel q holding filters q*width.. (zeros past the
    last), row t*C + c tap t (row-major over `taps`) and channel c. jax ops on `weight`."""
    import jax.numpy as jnp

    (h0, h1), (w0, w1) = taps
    last = weight if weight_last else jnp.transpose(weight, (0, 2, 3, 1))
    last = last[:, h0:h1, w0:w1, :]
    filters = last.shape[0]
    width = panel_width(filters)
    panels = -(-filters // width)
    rows = last.reshape(filters, -1)
    rows = jnp.pad(rows, ((0, panels * width - filters), (0, 0)))
    return jnp.transpose(rows.reshape(panels, width, -1), (0, 2, 1))


def conv2d_nhwc(
    data: Any,
    weight: Any,
    bias: Any,
    *,
    weight_last: bool,
    taps: Sequence[tuple[int, int]],
    stride: Sequence[int],
    dilate: Sequence[int],
    low: Sequence[int],
    out: Sequence[int],
    relu: bool = False,
    filters: int | None = None,
    residual: Any = None,
    target: str | None = None,
) -> Any:
    """The native convolution of NHWC `data` (a jax array or tracer), output NHWC.

    weight: (O, KH, KW, C) when `weight_last`, else (O, C, KH, KW); only the taps in
    `taps` ((start, stop) per axis) are used. Or packed by `pack_conv_weight` (rank 3, for
    these taps): then `filters` gives O. low: zero padding before each spatial axis
    (negative crops); out: output (OH, OW). bias: (O,) or None. residual: None or an array
    of the output's shape added before `relu` (max(0, .)), all fused.
    target: the FFI target to call (default: this process's; tests register builds for other
    CPUs under other names).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    packed = weight.ndim == 3
    if packed:
        if filters is None:
            raise HybrixError("Convolution (native): a packed weight needs `filters`")
        (h0, h1), (w0, w1) = taps
        taps = ((0, h1 - h0), (0, w1 - w0))
    else:
        filters = weight.shape[0]
    channels = data.shape[-1] if packed else weight.shape[-1] if weight_last else weight.shape[1]
    if data.ndim != 4 or (not packed and weight.ndim != 4) or data.shape[-1] != channels:
        layout = "(O, KH, KW, C)" if weight_last else "(O, C, KH, KW)"
        raise HybrixError(
            f"Convolution (native): expected data (N, H, W, C) and weight {layout} with the "
            f"same C; got data {tuple(data.shape)} and weight {tuple(weight.shape)}"
        )
    if bias is None:
        bias = jnp.zeros((filters,), data.dtype)
    elif tuple(bias.shape) != (filters,):
        raise HybrixError(
            f"Convolution (native): expected bias ({filters},), got {tuple(bias.shape)}"
        )
    (th0, th1), (tw0, tw1) = taps
    wlayout = 2 if packed else 0 if weight_last else 1
    params = [wlayout, th0, tw0, th1 - th0, tw1 - tw0, *stride, *dilate, *low]
    params += [int(relu), _max_threads()]
    result = jax.ShapeDtypeStruct((data.shape[0], *out, filters), data.dtype)
    if residual is not None and tuple(residual.shape) != result.shape:
        raise HybrixError(
            f"Convolution (native): expected a residual of the output's shape {result.shape}, "
            f"got {tuple(residual.shape)}"
        )
    name = target or _STATE["targets"][CONV_TARGET]
    call = jax.ffi.ffi_call(name, result, vmap_method="sequential")
    inputs = (data, weight, bias) if residual is None else (data, weight, bias, residual)
    return call(*inputs, conv=np.asarray(params, np.int64))


def depthwise_conv2d_nhwc(
    data: Any,
    weight: Any,
    bias: Any,
    *,
    stride: Sequence[int],
    dilate: Sequence[int],
    low: Sequence[int],
    out: Sequence[int],
    relu: bool = False,
    target: str | None = None,
) -> Any:
    """The native depthwise convolution (one filter per channel) of NHWC `data`, output NHWC.

    weight: (C, KH, KW) (the op's (C, 1, KH, KW) and (C, KH, KW, 1) reshaped, no copy).
    low: zero padding before each spatial axis (>= 0); out: output (OH, OW); the padding
    after follows from them. bias: (C,) or None. relu: max(0, .) fused.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    if data.ndim != 4 or weight.ndim != 3 or weight.shape[0] != data.shape[-1]:
        raise HybrixError(
            "Convolution (native depthwise): expected data (N, H, W, C) and weight (C, KH, KW) "
            f"with the same C; got data {tuple(data.shape)} and weight {tuple(weight.shape)}"
        )
    channels = data.shape[-1]
    if bias is None:
        bias = jnp.zeros((channels,), data.dtype)
    elif tuple(bias.shape) != (channels,):
        raise HybrixError(
            f"Convolution (native depthwise): expected bias ({channels},), got {tuple(bias.shape)}"
        )
    if min(low) < 0:
        raise HybrixError(
            f"Convolution (native depthwise): expected padding >= 0 before each spatial axis, "
            f"got {tuple(low)}"
        )
    params = [*weight.shape[1:], *stride, *dilate, *low, int(relu), _max_threads()]
    result = jax.ShapeDtypeStruct((data.shape[0], *out, channels), data.dtype)
    name = target or _STATE["targets"][DEPTHWISE_TARGET]
    call = jax.ffi.ffi_call(name, result, vmap_method="sequential")
    return call(data, weight, bias, dw=np.asarray(params, np.int64))


def maxpool2d_nhwc(
    data: Any,
    *,
    kernel: Sequence[int],
    stride: Sequence[int],
    low: Sequence[int],
    out: Sequence[int],
    target: str | None = None,
) -> Any:
    """The native max pooling of NHWC `data`, output NHWC (N, *out, C). low: padding before
    each spatial axis (>= 0); windows skip padding, and one of padding only gives the lowest
    finite float (MXNet's padding value)."""
    import jax
    import numpy as np

    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    if data.ndim != 4 or min(low) < 0:
        raise HybrixError(
            f"Pooling (native): expected data (N, H, W, C) and padding >= 0, got data "
            f"{tuple(data.shape)} and padding {tuple(low)}"
        )
    params = [*kernel, *stride, *low, _max_threads()]
    result = jax.ShapeDtypeStruct((data.shape[0], *out, data.shape[-1]), data.dtype)
    name = target or _STATE["targets"][MAXPOOL_TARGET]
    call = jax.ffi.ffi_call(name, result, vmap_method="sequential")
    return call(data, pool=np.asarray(params, np.int64))


def nchw_to_nhwc(data: Any, *, target: str | None = None) -> Any:
    """`data` (N, C, H, W) as (N, H, W, C), by the native kernel (1 to LAYOUT_MAX_CHANNELS
    channels: an image network's input)."""
    import jax
    import numpy as np

    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    if data.ndim != 4 or not 1 <= data.shape[1] <= LAYOUT_MAX_CHANNELS:
        raise HybrixError(
            f"transpose (native): expected data (N, C, H, W) with 1 to {LAYOUT_MAX_CHANNELS} "
            f"channels, got {tuple(data.shape)}"
        )
    n, c, h, w = data.shape
    result = jax.ShapeDtypeStruct((n, h, w, c), data.dtype)
    name = target or _STATE["targets"][LAYOUT_TARGET]
    call = jax.ffi.ffi_call(name, result, vmap_method="sequential")
    return call(data, layout=np.asarray([_max_threads()], np.int64))


def rnn(
    data: Any,
    parameters: Any,
    state: Any,
    cell: Any = None,
    *,
    mode: str,
    hidden: int,
    layers: int,
    bidirectional: bool,
    packed: bool = False,
    target: str | None = None,
) -> tuple[Any, ...]:
    """The native fused RNN (MXNet's RNN op without clipping or sequence lengths).

    data (T, N, C), parameters: the op's flat vector (or `pack_rnn_parameters`' layout when
    `packed`), state (and `cell` for lstm) (L*D, N, H). Returns (output (T, N, D*H), final
    state) and, for lstm, the final cell.
    """
    import jax
    import numpy as np

    reason = unavailable()
    if reason:
        raise NativeBuildError(reason)
    if mode not in RNN_MODES or (cell is None) == (mode == "lstm"):
        raise HybrixError(
            f"RNN (native): expected a mode of {RNN_MODES} with a cell state for lstm only; "
            f"got mode {mode!r} {'with' if cell is not None else 'without'} a cell state"
        )
    directions = 2 if bidirectional else 1
    params = [RNN_MODES.index(mode), hidden, layers, directions, _max_threads(), int(packed)]
    steps, batch = data.shape[0], data.shape[1]
    states = jax.ShapeDtypeStruct((layers * directions, batch, hidden), data.dtype)
    results = [jax.ShapeDtypeStruct((steps, batch, directions * hidden), data.dtype), states]
    inputs = [data, parameters, state]
    if cell is not None:
        results.append(states)
        inputs.append(cell)
    name = target or _STATE["targets"][RNN_TARGET]
    call = jax.ffi.ffi_call(name, results, vmap_method="sequential")
    return tuple(call(*inputs, rnn=np.asarray(params, np.int64)))


def pack_rnn_parameters(
    parameters: Any, *, mode: str, hidden: int, layers: int, bidirectional: bool, input_size: int
) -> Any:
    """The RNN op's flat parameters as the kernel reads them with `packed`: each layer and
    direction's W_x (G*H, in) and W_h (G*H, H) transposed in place, the biases unchanged (jax
    ops; for constant parameters packed once, compiler/prepack)."""
    import jax.numpy as jnp

    attrs = {"mode": mode, "state_size": hidden, "num_layers": layers}
    entries, _ = param_layout({**attrs, "bidirectional": bidirectional}, input_size)
    pieces = []
    for entry in entries:
        for key in ("wx", "wh"):
            offset, (rows, size) = entry[key]
            block = parameters[offset : offset + rows * size].reshape(rows, size)
            pieces.append(block.T.reshape(-1))
    pieces.append(parameters[entries[0]["bx"][0] :])  # every bias, after every weight
    return jnp.concatenate(pieces)
