"""Loading a library of hybrix's native CPU kernels and registering its XLA FFI targets.

compiler/native builds the library on this machine and registers it; a bundle whose
precompiled executable calls the kernels carries the library too, and the xla executor
registers it from the bundle before loading the executable (jaxlib only, no `import jax`).
Target names carry the library's digest (`hybrix_conv2d_nhwc_<digest>`), so a program only
ever calls the kernels it was compiled against, whichever other version a process loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "cache_dir",
    "cpu_flags",
    "library_file",
    "missing_cpu_flags",
    "register_library",
    "target_names",
    "turned_off",
    "usable",
]

SYMBOLS = (
    "hybrix_conv2d_nhwc",
    "hybrix_dwconv2d_nhwc",
    "hybrix_maxpool2d_nhwc",
    "hybrix_rnn",
    "hybrix_nchw_to_nhwc",
)
_LOADED: dict[str, ctypes.CDLL] = {}  # path -> library, kept alive while targets are in use
_REGISTERED: set[str] = set()  # target names registered in this process (XLA refuses twice)


def target_names(digest: str) -> dict[str, str]:
    """FFI target name -> exported symbol, for a library of this digest."""
    return {f"{symbol}_{digest}": symbol for symbol in SYMBOLS}


def cache_dir(*parts: str) -> Path:
    """hybrix's cache directory (`HYBRIX_CACHE_DIR`, default ~/.cache/hybrix) or a
    subdirectory of it; created on first use. compiler.cache_dir re-exports it."""
    root = os.environ.get("HYBRIX_CACHE_DIR") or os.path.join("~", ".cache", "hybrix")
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def turned_off() -> bool:
    """Whether `HYBRIX_NATIVE` turns the native kernels off (0, off, false, no)."""
    return os.environ.get("HYBRIX_NATIVE", "1").lower() in ("0", "off", "false", "no")


def library_file(data: bytes) -> Path:
    """A file holding `data` (a library shipped in a bundle), named by its hash, under
    `cache_dir("native")`; written atomically once."""
    path = cache_dir("native") / f"bundled-{hashlib.sha256(data).hexdigest()[:20]}.so"
    if not path.exists():
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)  # NOTE: atomic: a concurrent loader never sees half a file
    return path


def register_library(path: str | Path, targets: Mapping[str, str]) -> ctypes.CDLL:
    """dlopen `path` and register each exported `targets[name]` as the CPU FFI target `name`
    (api_version 1). Raises OSError when the library cannot be loaded here (another CPU, a
    missing symbol)."""
    from jaxlib import xla_client

    key = str(path)
    library = _LOADED.get(key) or ctypes.CDLL(key)
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    for name, symbol in targets.items():
        try:
            function = getattr(library, symbol)
        except AttributeError:
            raise OSError(f"{path} has no function {symbol}") from None
        if name in _REGISTERED:
            continue  # NOTE: the name holds the library's digest: the same kernels
        capsule = new_capsule(ctypes.cast(function, ctypes.c_void_p).value, None, None)
        xla_client.register_custom_call_target(name, capsule, platform="cpu", api_version=1)
        _REGISTERED.add(name)
    _LOADED[key] = library
    return library


def cpu_flags() -> list[str]:
    """This CPU's feature flags (/proc/cpuinfo's flags, or Features on ARM); [] elsewhere. A
    library built with -march=native needs them all where it runs."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return sorted(set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def missing_cpu_flags(needed: list[str]) -> list[str]:
    """The flags of `needed` this CPU lacks (all of them when it cannot tell)."""
    have = set(cpu_flags())
    return [flag for flag in needed if flag not in have]


def usable(library: Mapping[str, Any] | None) -> bool:
    """Whether an executable needing `library` (a manifest's "native" entry; None: none) may
    run here: this CPU has the flags it was built for, and HYBRIX_NATIVE is not off."""
    if library is None:
        return True
    if turned_off():
        return False
    return not missing_cpu_flags(list(library.get("cpu_flags", [])))
