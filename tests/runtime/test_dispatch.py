"""CPU dispatch: hybrix runs CPU programs on the calling thread unless asked otherwise
(runtime/xla.py), applied to jax when hybrix's compiler or nd frontend is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import hybrix.{module}, jax; print(jax.config.values['jax_cpu_enable_async_dispatch'])"


@pytest.mark.parametrize("module", ["compiler", "ndarray"])
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False"),
        ({"HYBRIX_CPU_ASYNC": "1"}, "True"),
        ({"JAX_CPU_ENABLE_ASYNC_DISPATCH": "true"}, "True"),
        ({"HYBRIX_CPU_ASYNC": "1", "JAX_CPU_ENABLE_ASYNC_DISPATCH": "0"}, "False"),
    ],
)
def test_cpu_dispatch_setting_reaches_jax(module, env, expected):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HYBRIX_CPU_ASYNC", "JAX_CPU_ENABLE_ASYNC_DISPATCH")
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == expected


def test_cpu_dispatch_async_reads_the_environment(monkeypatch):
    from hybrix.runtime.xla import cpu_dispatch_async

    monkeypatch.delenv("JAX_CPU_ENABLE_ASYNC_DISPATCH", raising=False)
    monkeypatch.delenv("HYBRIX_CPU_ASYNC", raising=False)
    assert cpu_dispatch_async() is False
    monkeypatch.setenv("HYBRIX_CPU_ASYNC", "yes")
    assert cpu_dispatch_async() is True
    monkeypatch.setenv("JAX_CPU_ENABLE_ASYNC_DISPATCH", "off")
    assert cpu_dispatch_async() is False
