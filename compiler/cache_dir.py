"""Where hybrix caches things on disk, and JAX's persistent compilation cache under it.

`HYBRIX_CACHE_DIR` (default `~/.cache/hybrix`) holds `lowering/` (autotuned strategy
choices, one file per machine and jax version) and `xla/` (JAX's compilation cache, so a
second process loads compiled executables instead of recompiling).
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

__all__ = ["cache_dir", "enable_compilation_cache", "machine_id"]

_ENABLED: dict[str, str] = {}


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a subdirectory of it); created on first use."""
    root = os.environ.get("HYBRIX_CACHE_DIR") or os.path.join("~", ".cache", "hybrix")
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown-cpu"


def machine_id() -> str:
    """A short name for (machine, core count, jax version): measured timings key on it."""
    import jax

    text = f"{platform.machine()}|{_cpu_model()}|{os.cpu_count()}|{jax.default_backend()}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{platform.machine()}-{digest}-jax{jax.__version__}"


def enable_compilation_cache(min_compile_seconds: float = 0.0) -> Path:
    """Turn on JAX's persistent compilation cache under `cache_dir('xla')`; returns the dir.

    Idempotent; re-pointing happens when HYBRIX_CACHE_DIR changed. `min_compile_seconds`
    is jax's threshold below which a compiled program is not written (0: everything).
    """
    import jax

    path = cache_dir("xla")
    if _ENABLED.get("dir") == str(path):
        return path
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset_jax_cache()
    _ENABLED["dir"] = str(path)
    return path


def _reset_jax_cache() -> None:
    # NOTE: jax initialises its cache once per process, on the first compile; when a compile
    # already happened (with no cache, or another dir) it must be reset to see the new dir.
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):
        pass
