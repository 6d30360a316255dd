"""Every op case recorded from real MXNet 1.9.1 (shared/fixtures/mxnet/ops) at the op level.

Forward outputs, aux updates and gradients (head = ones and a random head) of each op's
JAX lowering must match MXNet within float32 tolerance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrix.compiler import lower_op
from hybrix.ir import get_op
from hybrix.tests.conftest import FIXTURES


def jitted(op_name, attrs):
    """The op's lowering under jax.jit (eager scans would recompile on every call)."""
    import jax

    return jax.jit(lower_op(op_name, attrs))


OPS_DIR = FIXTURES / "ops"
CASES = sorted(p.stem for p in OPS_DIR.glob("*.npz")) if OPS_DIR.is_dir() else []
RTOL, ATOL = 1e-4, 1e-5


def load_case(name):
    data = np.load(OPS_DIR / f"{name}.npz")
    op = get_op(str(data["op"]))
    attrs = json.loads(str(data["attrs"]))
    if "training" in op.attrs:
        attrs["training"] = bool(data["train_mode"])
    attrs = op.check_attrs(attrs, name)
    names = json.loads(str(data["input_names"]))
    inputs = [data[f"in__{n}"] for n in names]
    return data, op, attrs, names, inputs


def visible_outputs(data):
    return [data[f"out__{i}"] for i in range(100) if f"out__{i}" in data]


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_mxnet(name):
    data, op, attrs, _names, inputs = load_case(name)
    outputs = jitted(op.name, attrs)(*inputs)
    expected = visible_outputs(data)
    for got, want in zip(outputs, expected, strict=False):
        assert np.shape(got) == want.shape
        np.testing.assert_allclose(np.asarray(got, np.float64), want, RTOL, ATOL)
    output_names = op.output_names(attrs)
    for output_name, input_name in op.aux_updates.items():
        key = f"aux_after__{input_name}"
        if key in data:
            got = outputs[output_names.index(output_name)]
            np.testing.assert_allclose(np.asarray(got), data[key], RTOL, ATOL)


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_mxnet(name):
    import jax
    import jax.numpy as jnp

    data, op, attrs, names, inputs = load_case(name)
    wrt = [i for i, n in enumerate(names) if f"grad_ones__{n}" in data]
    if not wrt:
        pytest.skip("MXNet records no gradient for this case")
    fn = jitted(op.name, attrs)
    visible = len(visible_outputs(data))

    def of_wrt(*diff):
        full = [jnp.asarray(a) for a in inputs]
        for i, a in zip(wrt, diff, strict=True):
            full[i] = a
        return fn(*full)[:visible]

    primals = [jnp.asarray(inputs[i]) for i in wrt]
    outputs, vjp = jax.vjp(of_wrt, *primals)
    for head_kind in ("ones", "rand"):
        if head_kind == "ones":
            heads = tuple(jnp.ones_like(o) for o in outputs)
        else:
            heads = tuple(jnp.asarray(data[f"head_rand__{i}"]) for i in range(visible))
        grads = vjp(heads)
        for i, grad in zip(wrt, grads, strict=True):
            want = data[f"grad_{head_kind}__{names[i]}"]
            np.testing.assert_allclose(
                np.asarray(grad, np.float64),
                want,
                1e-3,
                1e-4,
                err_msg=f"{name}: d/d{names[i]} with head={head_kind}",
            )


@pytest.mark.parametrize("name", CASES)
def test_nd_call_matches_mxnet(name):
    """The user-facing nd.<op> call, as the fixture made it, under MXNet's train/predict mode."""
    from hybrix import autograd, nd

    data = np.load(OPS_DIR / f"{name}.npz")
    attrs = json.loads(str(data["attrs"]))
    names = json.loads(str(data["input_names"]))
    arrays = {n: nd.array(data[f"in__{n}"], dtype=data[f"in__{n}"].dtype) for n in names}
    function = getattr(nd, str(data["op"]))
    mode = autograd.train_mode() if bool(data["train_mode"]) else autograd.predict_mode()
    with mode:
        if bool(data["varargs"]):
            result = function(*arrays.values(), **attrs)
        else:
            result = function(**arrays, **attrs)
    results = result if isinstance(result, list) else [result]
    expected = visible_outputs(data)
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got.asnumpy().astype(np.float64), want, RTOL, ATOL)
    for key in (k for k in data if k.startswith("aux_after__")):
        got = arrays[key.removeprefix("aux_after__")].asnumpy()
        np.testing.assert_allclose(got, data[key], RTOL, ATOL)


@pytest.mark.parametrize("name", CASES)
def test_nd_gradients_match_mxnet(name):
    """nd.<op> under autograd.record(train_mode=<fixture's>), backward with head = ones and
    with the fixture's random head: .grad of each input MXNet recorded a gradient for."""
    from hybrix import autograd, nd

    data = np.load(OPS_DIR / f"{name}.npz")
    names = json.loads(str(data["input_names"]))
    wrt = [n for n in names if f"grad_ones__{n}" in data]
    if not wrt:
        pytest.skip("MXNet records no gradient for this case")
    attrs = json.loads(str(data["attrs"]))
    arrays = {n: nd.array(data[f"in__{n}"], dtype=data[f"in__{n}"].dtype) for n in names}
    for n in wrt:
        arrays[n].attach_grad()
    function = getattr(nd, str(data["op"]))
    with autograd.record(train_mode=bool(data["train_mode"])):
        if bool(data["varargs"]):
            result = function(*arrays.values(), **attrs)
        else:
            result = function(**arrays, **attrs)
    heads = result if isinstance(result, list) else [result]
    assert len(heads) == len(visible_outputs(data))
    for head_kind in ("ones", "rand"):
        if head_kind == "ones":
            head_grads = [nd.ones(h.shape, dtype=h.dtype) for h in heads]
        else:
            head_grads = [nd.array(data[f"head_rand__{i}"]) for i in range(len(heads))]
        autograd.backward(heads, head_grads, retain_graph=head_kind == "ones")
        for n in wrt:
            np.testing.assert_allclose(
                arrays[n].grad.asnumpy().astype(np.float64),
                data[f"grad_{head_kind}__{n}"],
                1e-3,
                1e-4,
                err_msg=f"{name}: d/d{n} with head={head_kind}",
            )
