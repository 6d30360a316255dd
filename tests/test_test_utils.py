"""hybrix.test_utils: MXNet's tolerances and helpers; the symbolic checks agree with
hybrix's autograd for every op of the op table that has a gradient."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix as mx
from hybrix import autograd, nd, sym
from hybrix.ir import get_op
from hybrix.test_utils import (
    almost_equal,
    assert_almost_equal,
    check_numeric_gradient,
    check_symbolic_backward,
    check_symbolic_forward,
    default_context,
    list_gpus,
    rand_ndarray,
    rand_shape_nd,
    same,
    set_default_context,
)
from hybrix.tests.ops.op_db import SAMPLES


def test_default_tolerances_depend_on_dtype():
    a = np.ones(3, np.float32)
    assert almost_equal(a, a + 5e-4)  # float32: atol 1e-3
    wide = a.astype(np.float64)
    assert not almost_equal(wide, wide + 5e-4)  # float64: rtol 1e-5, atol 1e-20
    assert almost_equal(a.astype(np.float16), a + 5e-2)
    assert same(np.arange(3), nd.array([0, 1, 2], dtype="int64"))
    with pytest.raises(AssertionError, match=r"Location of maximum error: \(1,\)"):
        assert_almost_equal(np.array([1.0, 2.0]), np.array([1.0, 2.5]), names=("x", "y"))


def test_random_helpers_and_contexts():
    shape = rand_shape_nd(3, dim=4)
    assert len(shape) == 3
    assert all(1 <= d <= 4 for d in shape)
    array = rand_ndarray(shape)
    assert array.shape == shape
    assert array.dtype == np.float32
    assert list_gpus() == list(range(mx.num_gpus()))
    before = default_context()
    set_default_context(mx.cpu(0))
    assert default_context() == mx.cpu(0)
    set_default_context(None)
    assert default_context() == before


def test_checks_fail_on_a_wrong_answer():
    x = sym.var("x")
    with pytest.raises(AssertionError):
        check_symbolic_forward(sym.exp(x), [np.ones((2, 2))], [np.ones((2, 2))])
    with pytest.raises(AssertionError):
        check_symbolic_backward(sym.exp(x), [np.ones(2)], [np.ones(2)], [np.ones(2)])


def _diff_positions(sample, op):
    names = op.input_names
    return [
        i
        for i, a in enumerate(sample.args)
        if np.asarray(a).dtype.kind == "f"
        and names[min(i, len(names) - 1)] not in op.nondiff_inputs
    ]


# NOTE: `_fused` carries a subgraph, which MXNet JSON cannot; ops that update aux states
# or switch on training are checked through Executor tests in tests/symbol.
_SKIPPED_OPS = {"_fused"}


def _grad_samples():
    """One sample per op with a gradient (the first in the table), to keep this quick."""
    cases, seen = [], set()
    for sample in SAMPLES:
        op = get_op(sample.op)
        if op.name in seen or op.name in _SKIPPED_OPS:
            continue
        if not sample.grad or op.no_grad or op.rng or callable(sample.args):
            continue
        if _diff_positions(sample, op) and not op.aux_updates and "training" not in op.attrs:
            cases.append(sample)
            seen.add(op.name)
    return cases


GRAD_SAMPLES = _grad_samples()


def _symbol_and_location(sample):
    op = get_op(sample.op)
    arrays = [np.asarray(a) for a in sample.args]
    names = [f"in{i}" for i in range(len(arrays))]
    variables = [sym.var(n) for n in names]
    out = getattr(sym, sample.op)(*variables, **sample.attrs)
    diff = [names[i] for i in _diff_positions(sample, op)]
    return (out[0] if len(out) > 1 else out), dict(zip(names, arrays, strict=True)), diff


def _autograd_grads(sample, location, diff, head):
    arrays = [nd.array(v, dtype=v.dtype) for v in location.values()]
    for name, array in zip(location, arrays, strict=True):
        if name in diff:
            array.attach_grad()
    with autograd.record():
        out = getattr(nd, sample.op)(*arrays, **sample.attrs)
        out = out[0] if isinstance(out, list) else out
    out.backward(nd.array(head, dtype=head.dtype))
    return {n: a.grad.asnumpy() for n, a in zip(location, arrays, strict=True) if n in diff}


@pytest.mark.parametrize("sample", GRAD_SAMPLES, ids=[s.id for s in GRAD_SAMPLES])
def test_symbolic_checks_agree_with_autograd(sample):
    symbol, location, diff = _symbol_and_location(sample)
    _, out_shapes, _ = symbol.infer_shape(**{k: v.shape for k, v in location.items()})
    head = np.random.default_rng(1).normal(size=out_shapes[0])
    expected = _autograd_grads(sample, location, diff, head)
    forward = getattr(nd, sample.op)(
        *[nd.array(v, dtype=v.dtype) for v in location.values()], **sample.attrs
    )
    forward = (forward[0] if isinstance(forward, list) else forward).asnumpy()
    check_symbolic_forward(symbol, location, [forward], dtype=np.float64)
    check_symbolic_backward(
        symbol, location, [head], expected, dtype=np.float64, rtol=1e-6, atol=1e-8
    )
    if sum(location[n].size for n in diff) <= 12:
        check_numeric_gradient(
            symbol,
            location,
            grad_nodes=diff,
            dtype=np.float64,
            numeric_eps=1e-6,
            rtol=1e-3,
            atol=1e-5,
        )
