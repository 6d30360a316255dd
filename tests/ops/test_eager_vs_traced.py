"""Every op-table sample: nd.<op> eager equals hybrix.compile of the same call.

Random samples (those with a `check`, or drawing from a key) compare shapes and dtypes
only, against the traced graph's output types (compiling threefry sampling twice per
sample would dominate the suite's time). Inputs are fresh NDArrays per run, since ops
with aux updates write into them.
"""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import nd
from hybrix.ir import get_op
from hybrix.ndarray._ops import make_op_function
from hybrix.tests.ops.op_db import SAMPLES


def _inputs(sample, rng_seed=0):
    op = get_op(sample.op)
    arrays = sample.arrays(sample.dtypes[0], np.random.default_rng(rng_seed))
    if op.rng and len(arrays) == len(op.input_names):
        arrays = arrays[:-1]  # the frontend supplies the PRNG key
    return arrays


def _is_random(sample) -> bool:
    op = get_op(sample.op)
    if sample.check is not None:
        return True
    return op.rng and len(sample.arrays(sample.dtypes[0], np.random.default_rng(0))) == len(
        op.input_names
    )


def _as_list(result):
    return list(result) if isinstance(result, list | tuple) else [result]


def _fresh(arrays):
    return [nd.array(a, dtype=a.dtype) for a in arrays]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_eager_matches_compiled(sample):
    arrays = _inputs(sample)
    # the op's own function: nd.full, nd.zeros, ... are MXNet's Python wrappers instead
    function = make_op_function(sample.op)
    eager_inputs = _fresh(arrays)
    eager = _as_list(function(*eager_inputs, **sample.attrs))
    if _is_random(sample):
        graph = hybrix.trace(lambda *xs: function(*xs, **sample.attrs), *_fresh(arrays))
        outputs = graph.outputs[: len(eager)]
        assert [tuple(v.shape) for v in outputs] == [e.shape for e in eager]
        assert [v.dtype.numpy for v in outputs] == [np.dtype(e.dtype) for e in eager]
        return
    compiled_inputs = _fresh(arrays)
    compiled = _as_list(hybrix.compile(lambda *xs: function(*xs, **sample.attrs))(*compiled_inputs))
    assert len(eager) == len(compiled)
    rtol, atol = sample.tolerance(sample.dtypes[0])
    for got, want in zip(compiled, eager, strict=True):
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        _assert_close(got, want, rtol, atol)
    # aux updates (BatchNorm's moving statistics) are written back alike
    for got, want in zip(compiled_inputs, eager_inputs, strict=True):
        _assert_close(got, want, rtol, atol)


def _assert_close(got, want, rtol, atol):
    np.testing.assert_allclose(
        got.asnumpy().astype(np.float64), want.asnumpy().astype(np.float64), rtol, atol
    )
