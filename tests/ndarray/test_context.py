"""Contexts: names, `with ctx:` defaults, placement, missing devices, cpu(1) via XLA_FLAGS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import hybrix
from hybrix import HybrixError, nd


def test_context_basics():
    ctx = hybrix.Context("cpu", 0)
    assert ctx == hybrix.cpu() == hybrix.cpu(0)
    assert str(ctx) == repr(ctx) == "cpu(0)"
    assert ctx.device_type == "cpu"
    assert ctx.device_typeid == 1
    assert hybrix.Context(hybrix.gpu(2)) == hybrix.gpu(2)
    assert str(hybrix.gpu(1)) == "gpu(1)"
    assert hybrix.context.cpu_pinned(0).device_type == "cpu_pinned"
    assert len({hybrix.cpu(0), hybrix.cpu(0), hybrix.cpu(1)}) == 2
    with pytest.raises(HybrixError, match="unknown device type"):
        hybrix.Context("tpu")


def test_with_context_sets_default():
    assert hybrix.current_context() == hybrix.cpu(0)
    with hybrix.context.cpu_pinned(0) as ctx:
        assert hybrix.current_context() is ctx
        x = nd.zeros((2,))
        assert x.context == ctx  # pinned memory is host memory, reported as MXNet does
        assert list(x._data.devices()) == [hybrix.cpu(0).device]
    assert hybrix.current_context() == hybrix.cpu(0)


def test_missing_devices_raise_clear_errors():
    if hybrix.num_gpus() == 0:
        with pytest.raises(HybrixError, match=r"gpu\(0\) does not exist"):
            nd.zeros((2,), ctx=hybrix.gpu(0))
    with pytest.raises(HybrixError, match=r"cpu\(64\) does not exist"):
        nd.zeros((2,), ctx=hybrix.cpu(64))


def test_num_gpus_is_an_int():
    assert isinstance(hybrix.num_gpus(), int)


def test_cpu1_with_forced_host_devices():
    script = textwrap.dedent(
        """
        import numpy as np
        import hybrix
        from hybrix import nd
        x = nd.array([1, 2, 3], ctx=hybrix.cpu(1))
        assert x.context == hybrix.cpu(1), x.context
        y = x * 2 + x
        assert y.context == hybrix.cpu(1), y.context
        z = nd.random.uniform(shape=(2,), ctx=hybrix.cpu(1))
        assert z.context == hybrix.cpu(1), z.context
        w = y.copyto(hybrix.cpu(0))
        assert w.context == hybrix.cpu(0)
        with hybrix.cpu(1):
            assert nd.ones((2,)).context == hybrix.cpu(1)
        for made in (nd.zeros((2, 3), ctx=hybrix.cpu(1)), nd.ones((2, 3), ctx=hybrix.cpu(1))):
            assert (made * 2).context == hybrix.cpu(1), (made * 2).context
        np.testing.assert_array_equal(w.asnumpy(), [3, 6, 9])
        whole = nd.zeros((2, 2), ctx=hybrix.cpu(1))
        whole[:] = np.ones((2, 2))
        whole[:] = 3
        assert whole.context == hybrix.cpu(1), whole.context
        np.testing.assert_array_equal(whole.asnumpy(), np.full((2, 2), 3))
        # data swapped for an array on another device: the context follows the data
        w._data = y._data
        assert w.context == hybrix.cpu(1), w.context
        assert (w + 1).context == hybrix.cpu(1), (w + 1).context
        pinned = nd.array([1.0], ctx=hybrix.context.cpu_pinned(0))
        assert pinned.context.device_type == "cpu_pinned", pinned.context
        print("ok")
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
