"""Table-driven op tests: infer vs ref, lower vs ref across dtypes, numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.compiler import lower_op
from hybrix.ir import DType, TensorType, get_op
from hybrix.ir.ops import all_ops
from hybrix.tests.ops.op_db import SAMPLES


def jitted(op_name, attrs):
    """The op's lowering under jax.jit (eager scans would recompile on every call)."""
    import jax

    return jax.jit(lower_op(op_name, attrs))


REQUIRED_FACETS = ("infer", "ref", "lower", "onnx")


def as_tuple(result):
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def run_ref(sample, arrays):
    op = get_op(sample.op)
    attrs = op.check_attrs(sample.attrs)
    return as_tuple(op.ref_fn(*arrays, **attrs)), attrs


def case_ids(cases):
    return [f"{s.id}-{d}" if d else s.id for s, d in cases]


DTYPE_CASES = [(s, d) for s in SAMPLES for d in s.dtypes]
GRAD_CASES = [(s, None) for s in SAMPLES if s.grad and not get_op(s.op).no_grad]


def test_every_op_has_its_facets_or_says_why():
    problems = []
    for op in all_ops():
        for facet in REQUIRED_FACETS:
            if getattr(op, f"{facet}_fn") is None and facet not in op.missing:
                problems.append(f"{op.name}: no {facet} facet and no stated reason")
    assert not problems, "\n".join(problems)


def test_every_op_has_samples():
    covered = {get_op(s.op).name for s in SAMPLES}
    missing = sorted(op.name for op in all_ops() if op.name not in covered)
    assert not missing, f"ops without samples in tests/ops/samples: {missing}"


@pytest.mark.parametrize(("sample", "dtype"), DTYPE_CASES, ids=case_ids(DTYPE_CASES))
def test_infer_matches_ref(sample, dtype, rng):
    arrays = sample.arrays(dtype, rng)
    outputs, attrs = run_ref(sample, arrays)
    op = get_op(sample.op)
    types = [TensorType(DType.from_any(a.dtype), tuple(a.shape)) for a in arrays]
    inferred = op.infer_types(types, attrs)
    got = [TensorType(DType.from_any(np.asarray(o).dtype), tuple(np.shape(o))) for o in outputs]
    assert inferred == got


@pytest.mark.parametrize(("sample", "dtype"), DTYPE_CASES, ids=case_ids(DTYPE_CASES))
def test_lower_matches_ref(sample, dtype, rng):
    arrays = sample.arrays(dtype, rng)
    expected, attrs = run_ref(sample, arrays)
    got = jitted(sample.op, attrs)(*arrays)
    assert len(got) == len(expected)
    if sample.check is not None:
        sample.check([np.asarray(g) for g in got], expected)
        return
    rtol, atol = sample.tolerance(dtype)
    for g, e in zip(got, expected, strict=True):
        g = np.asarray(g)
        assert g.dtype == np.asarray(e).dtype
        assert g.shape == np.shape(e)
        np.testing.assert_allclose(g.astype(np.float64), np.asarray(e, np.float64), rtol, atol)


@pytest.mark.parametrize(("sample", "dtype"), GRAD_CASES, ids=case_ids(GRAD_CASES))
def test_gradient_matches_finite_differences(sample, dtype, rng):
    import jax
    from jax.test_util import check_grads

    op = get_op(sample.op)
    arrays = sample.arrays("float64", rng)
    attrs = op.check_attrs(sample.attrs)
    names = op.input_names
    wrt = [
        i
        for i, a in enumerate(arrays)
        if a.dtype.kind == "f" and names[min(i, len(names) - 1)] not in op.nondiff_inputs
    ]
    if not wrt:
        pytest.skip("no differentiable input")
    fn = jitted(sample.op, attrs)

    def of_float_inputs(*diff):
        full = list(arrays)
        for i, a in zip(wrt, diff, strict=True):
            full[i] = a
        outputs = fn(*full)
        return tuple(o for o in outputs if jax.numpy.issubdtype(o.dtype, jax.numpy.floating))

    check_grads(of_float_inputs, [arrays[i] for i in wrt], order=1, modes=("rev",), eps=1e-6)
