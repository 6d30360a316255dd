"""Tracing nd code into ir.Graph and hybrix.compile: MLP, symbolic batch, constants,
in-place writes written back, random ops with key inputs, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import HybrixError, autograd, nd
from hybrix.ir import ShapeError, UnknownOpError


def mlp(x, w1, b1, w2, b2):
    hidden = nd.relu(nd.FullyConnected(x, w1, b1, num_hidden=8))
    return nd.FullyConnected(hidden, w2, b2, num_hidden=3) * 2 + 1


@pytest.fixture
def params():
    rng = np.random.default_rng(0)
    return [nd.array(rng.standard_normal(s)) for s in [(8, 4), (8,), (3, 8), (3,)]]


@pytest.fixture
def batch():
    return nd.array(np.random.default_rng(1).standard_normal((5, 4)))


def test_trace_mlp_prints_graph(batch, params):
    graph = hybrix.trace(mlp, batch, *params)
    text = str(graph)
    print(text)
    assert [v.name for v in graph.inputs] == ["x", "w1", "b1", "w2", "b2"]
    assert [n.op for n in graph.nodes] == [
        "FullyConnected",
        "relu",
        "FullyConnected",
        "_mul_scalar",
        "_plus_scalar",
    ]
    assert text.startswith("graph mlp(%x: f32[5,4]")
    assert graph.outputs[0].shape == (5, 3)


def test_compile_matches_eager(batch, params):
    compiled = hybrix.compile(mlp)
    got = compiled(batch, *params)
    assert isinstance(got, nd.NDArray)
    np.testing.assert_allclose(got.asnumpy(), mlp(batch, *params).asnumpy(), rtol=1e-5, atol=1e-6)
    host = [p.asnumpy() for p in params]
    np.testing.assert_allclose(compiled(batch.asnumpy(), *host).asnumpy(), got.asnumpy(), rtol=1e-6)


def test_symbolic_batch(batch, params):
    graph = hybrix.trace(mlp, batch, *params, symbolic={0: "N"})
    assert graph.inputs[0].shape == ("N", 4)
    assert graph.outputs[0].shape == ("N", 3)
    compiled = hybrix.compile(mlp, batch, *params, symbolic={0: "N"})
    for size in (1, 7):
        x = nd.array(np.ones((size, 4)))
        np.testing.assert_allclose(
            compiled(x, *params).asnumpy(), mlp(x, *params).asnumpy(), rtol=1e-5, atol=1e-6
        )
    assert len(compiled._symbolic) == 1  # one trace serves every batch size
    with pytest.raises(ShapeError, match="input x expects shape"):
        compiled(nd.ones((2, 5)), *params)


def test_symbolic_spec_forms():
    def double(x):
        return x * 2

    x = nd.ones((2, 3, 4))
    assert hybrix.trace(double, x, symbolic={0: {2: "T"}}).inputs[0].shape == (2, 3, "T")
    assert hybrix.trace(double, x, symbolic={0: ("N", None, "T")}).inputs[0].shape == ("N", 3, "T")
    with pytest.raises(HybrixError, match="no axis 5"):
        hybrix.trace(double, x, symbolic={0: {5: "T"}})


def test_shape_inside_trace_and_reshape_with_symbolic_dims():
    def flatten_rows(x):
        assert x.shape[1:] == (3, 4)
        return x.reshape(0, -1)

    graph = hybrix.trace(flatten_rows, nd.ones((2, 3, 4)), symbolic={0: "N"})
    assert graph.outputs[0].shape == ("N", 12)


def test_constants_created_and_captured(params):
    offset = nd.array([1.0, 2.0, 3.0])

    def shift(x):
        return x + offset + nd.ones((3,))

    graph = hybrix.trace(shift, nd.zeros((3,)))
    assert len(graph.constants) == 2
    compiled = hybrix.compile(shift)
    np.testing.assert_array_equal(compiled(nd.zeros((3,))).asnumpy(), [2, 3, 4])
    offset[:] = 10  # captured arrays are read on every call
    np.testing.assert_array_equal(compiled(nd.zeros((3,))).asnumpy(), [11, 11, 11])


def test_multiple_outputs_and_indexing():
    def parts(x):
        a, b = nd.split(x, num_outputs=2, axis=1)
        return [a[0], b[:, ::-1], x[1:, 1]]

    x = nd.array(np.arange(8).reshape(2, 4))
    compiled = hybrix.compile(parts)
    got, want = compiled(x), parts(x)
    assert isinstance(got, list)
    assert len(got) == 3
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g.asnumpy(), w.asnumpy())


def test_inplace_writes_to_inputs_are_written_back():
    def accumulate(total, x):
        total += x
        total[0] = 5.0
        return total * 1

    total, x = nd.zeros((3,)), nd.ones((3,))
    graph = hybrix.trace(accumulate, total, x)
    assert len(graph.outputs) == 2  # the result, then the new value of `total`
    assert np.array_equal(total.asnumpy(), [0, 0, 0])  # tracing leaves the inputs alone
    compiled = hybrix.compile(accumulate)
    compiled(total, x)
    compiled(total, x)
    np.testing.assert_array_equal(total.asnumpy(), [5, 2, 2])


def test_batchnorm_moving_stats_written_back_in_training():
    gamma, beta, mean, var = nd.ones(2), nd.zeros(2), nd.zeros(2), nd.ones(2)

    def norm(x):
        return nd.BatchNorm(x, gamma, beta, mean, var, fix_gamma=False)

    x = nd.array(np.arange(8, dtype=np.float32).reshape(4, 2))
    compiled = hybrix.compile(norm)
    with autograd.train_mode():
        compiled(x)
    np.testing.assert_allclose(mean.asnumpy(), 0.1 * x.asnumpy().mean(0), rtol=1e-5)
    before = mean.asnumpy()
    compiled(x)  # predict mode: a second trace, no update
    np.testing.assert_array_equal(mean.asnumpy(), before)


def test_random_ops_get_key_inputs():
    def noisy(x):
        return x + nd.random.uniform(shape=(4,))

    graph = hybrix.trace(noisy, nd.zeros((4,)))
    assert [v.name for v in graph.inputs] == ["x", "rng_key0"]
    compiled = hybrix.compile(noisy)
    first, second = compiled(nd.zeros((4,))).asnumpy(), compiled(nd.zeros((4,))).asnumpy()
    assert not np.array_equal(first, second)  # fresh keys each call
    assert ((first >= 0) & (first < 1)).all()


def test_dropout_in_predict_mode_needs_no_key():
    def drop(x):
        return nd.Dropout(x, p=0.5)

    assert len(hybrix.trace(drop, nd.ones((3,))).inputs) == 1
    with autograd.train_mode():
        assert len(hybrix.trace(drop, nd.ones((3,))).inputs) == 2


def test_reading_values_while_tracing_raises():
    def bad(x):
        return nd.array(x.asnumpy())

    with pytest.raises(HybrixError, match="traced"):
        hybrix.trace(bad, nd.ones((2,)))


def test_errors_name_the_problem():
    with pytest.raises(HybrixError, match="must return an NDArray"):
        hybrix.trace(lambda x: 3, nd.ones((2,)))
    with pytest.raises(UnknownOpError):
        hybrix.trace(lambda x: nd.NoSuchOp(x), nd.ones((2,)))
    with pytest.raises(HybrixError, match="FullyConnected"):
        hybrix.trace(lambda x: nd.FullyConnected(x, x, num_hidden="a"), nd.ones((2, 2)))
    with pytest.raises(ShapeError):
        hybrix.trace(lambda x, y: x + y, nd.ones((2, 3)), nd.ones((3, 2)))
    with pytest.raises(HybrixError, match="must be an NDArray"):
        hybrix.compile(lambda x: x)([1, 2])


def test_compiled_retraces_per_signature(params):
    compiled = hybrix.compile(mlp)
    compiled(nd.ones((2, 4)), *params)
    compiled(nd.ones((3, 4)), *params)
    compiled(nd.ones((3, 4)), *params)
    assert len(compiled._exact) == 2


def test_traced_setitem_matches_eager():
    def write(x):
        y = x * 1
        y[1, ::2] = nd.array([7.0, 8.0])
        y[:, [0]] = 0.5
        return y

    x = nd.array(np.arange(8).reshape(2, 4))
    np.testing.assert_array_equal(hybrix.compile(write)(x).asnumpy(), write(x).asnumpy())
