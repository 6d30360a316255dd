"""Where hybrix caches things on disk, and JAX's persistent compilation cache under it.

`HYBRIX_CACHE_DIR` (default `~/.cache/hybrix`) holds `lowering/` (autotuned strategy
choices, one file per machine and jax version) and `xla/` (JAX's compilation cache, so a
second process loads compiled executables instead of recompiling). The compiler turns the
latter on whenever it lowers a graph (`enable_default_compilation_cache`) for programs that
took at least `DEFAULT_MIN_COMPILE_SECONDS` to compile, unless `HYBRIX_XLA_CACHE=0`: ResNet-18
then compiles (trace, passes, lowering, XLA) in ~0.5 s instead of ~2.9 s in a second process
(bench/compile_time.py).

NOTE: with jax 0.10 on CPU, an executable the persistent cache served (deserialised)
serializes again without its kernels ("Function transpose_copy_fusion not found" when that
copy is loaded). So a bundle's precompiled executable is compiled with the cache bypassed
(`persistent_cache_bypassed`); everything else may take executables from the cache.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hybrix.runtime.native import cache_dir

__all__ = [
    "DEFAULT_MIN_COMPILE_SECONDS",
    "cache_dir",
    "enable_compilation_cache",
    "enable_default_compilation_cache",
    "machine_id",
    "persistent_cache_bypassed",
]

# NOTE: below this a program is not written: eager ops' tiny programs compile in
# milliseconds and would only fill the directory; ResNet-18 with native convs compiles in
# ~0.4 s, which 0.5 missed
DEFAULT_MIN_COMPILE_SECONDS = 0.2

_ENABLED: dict[str, str] = {}


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
    if _ENABLED.get("dir") == str(path) and _ENABLED.get("min") == str(min_compile_seconds):
        return path
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset_jax_cache()
    _ENABLED.update(dir=str(path), min=str(min_compile_seconds))
    return path


def enable_default_compilation_cache() -> Path | None:
    """JAX's persistent cache on for programs compiling for at least
    DEFAULT_MIN_COMPILE_SECONDS, unless HYBRIX_XLA_CACHE is 0 (off, false, no) or jax's cache
    dir was already pointed elsewhere. None when it stays off."""
    if os.environ.get("HYBRIX_XLA_CACHE", "1").lower() in ("0", "off", "false", "no"):
        return None
    if "dir" in _ENABLED and _ENABLED["dir"] == str(cache_dir("xla")):
        return Path(_ENABLED["dir"])
    configured = _jax_cache_dir()
    if configured and configured != _ENABLED.get("dir"):
        return None  # NOTE: the user set jax's cache dir themselves; leave it alone
    return enable_compilation_cache(DEFAULT_MIN_COMPILE_SECONDS)


@contextmanager
def persistent_cache_bypassed() -> Iterator[None]:
    """Compiles inside neither read nor write JAX's persistent cache (see the NOTE above)."""
    import jax

    if not jax.config.jax_enable_compilation_cache or not _jax_cache_dir():
        yield
        return
    jax.config.update("jax_enable_compilation_cache", False)
    _reset_jax_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
        _reset_jax_cache()


def _jax_cache_dir() -> str | None:
    import jax

    return jax.config.jax_compilation_cache_dir


def _reset_jax_cache() -> None:
    # NOTE: jax initialises its cache once per process, on the first compile; when a compile
    # already happened (with no cache, or another dir) it must be reset to see the new dir.
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):
        pass
