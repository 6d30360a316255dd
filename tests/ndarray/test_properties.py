"""NDArray properties, conversion methods, reshape, copy and repr."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import HybrixError, nd


@pytest.fixture
def x():
    return nd.array([[1, 2, 3], [4, 5, 6]])


def test_properties(x):
    assert x.shape == (2, 3)
    assert x.size == 6
    assert x.ndim == 2
    assert x.dtype is np.float32
    assert x.context == hybrix.cpu(0)
    assert x.ctx == x.context
    assert x.stype == "default"
    np.testing.assert_array_equal(x.T.asnumpy(), x.asnumpy().T)
    one_d = nd.array([1, 2])
    assert one_d.T is one_d


def test_repr_matches_mxnet():
    assert repr(nd.array([[1, 2], [3, 4]])) == "\n[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>"
    assert repr(nd.array([1, 2, 3], dtype="int32")) == "\n[1 2 3]\n<NDArray 3 @cpu(0)>"


def test_asnumpy_asscalar_tolist(x):
    host = x.asnumpy()
    host[0, 0] = 100  # a copy: writing it leaves x alone
    assert x.asnumpy()[0, 0] == 1
    assert nd.array([7]).asscalar() == 7
    assert isinstance(nd.array([7]).asscalar(), np.float32)
    with pytest.raises(ValueError, match="not a scalar"):
        x.asscalar()
    assert x.tolist() == [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(np.asarray(x), host * 0 + x.asnumpy())


def test_astype(x):
    y = x.astype("int32")
    assert y.dtype is np.int32
    assert x.astype(np.float32, copy=False) is x
    assert x.astype(np.float32) is not x


def test_copy_and_copyto(x):
    y = x.copy()
    y += 1
    np.testing.assert_array_equal(x.asnumpy()[0], [1, 2, 3])
    target = nd.zeros((2, 3), dtype="float64")
    assert x.copyto(target) is target
    assert target.dtype is np.float64
    np.testing.assert_array_equal(target.asnumpy(), x.asnumpy())
    on_cpu = x.copyto(hybrix.cpu(0))
    assert on_cpu.context == hybrix.cpu(0)
    assert x.as_in_context(hybrix.cpu(0)) is x
    with pytest.raises(HybrixError, match="shape"):
        x.copyto(nd.zeros((3, 2)))


def test_reshape_codes(x):
    assert x.reshape(3, 2).shape == (3, 2)
    assert x.reshape((3, -1)).shape == (3, 2)
    assert x.reshape(shape=(-1,)).shape == (6,)
    y = nd.zeros((2, 3, 4))
    assert y.reshape(0, -1).shape == (2, 12)
    assert y.reshape(-3, -2).shape == (6, 4)
    assert y.reshape(-4, 1, 2, -2).shape == (1, 2, 3, 4)
    assert nd.zeros((10, 5, 4)).reshape(-1, 0, reverse=True).shape == (50, 4)


def test_len_iter_bool():
    x = nd.array([[1, 2], [3, 4], [5, 6]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3
    np.testing.assert_array_equal(rows[1].asnumpy(), [3, 4])
    assert not nd.zeros((0,))
    assert nd.array([2])
    assert not nd.array([0])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_fluent_methods(x):
    data = x.asnumpy()
    np.testing.assert_allclose(x.sum().asnumpy(), [21])
    np.testing.assert_allclose(x.sum(axis=1).asnumpy(), data.sum(1))
    np.testing.assert_allclose(x.mean(axis=0).asnumpy(), data.mean(0))
    np.testing.assert_allclose(x.max().asnumpy(), [6])
    np.testing.assert_allclose(x.exp().asnumpy(), np.exp(data), rtol=1e-6)
    np.testing.assert_allclose(x.sqrt().asnumpy(), np.sqrt(data), rtol=1e-6)
    np.testing.assert_allclose(x.square().asnumpy(), data**2)
    assert x.argmax(axis=1).dtype is np.float32
    np.testing.assert_array_equal(x.argmax(axis=1).asnumpy(), [2, 2])
    np.testing.assert_allclose(x.softmax().asnumpy().sum(axis=-1), [1, 1], rtol=1e-6)
    assert x.flatten().shape == (2, 3)
    assert x.expand_dims(axis=0).shape == (1, 2, 3)
    assert x.transpose().shape == (3, 2)
    assert x.swapaxes(0, 1).shape == (3, 2)
    parts = x.split(num_outputs=3, axis=1)
    assert [p.shape for p in parts] == [(2, 1)] * 3
    assert x.slice_axis(axis=1, begin=1, end=3).shape == (2, 2)
    np.testing.assert_array_equal(x.clip(2, 5).asnumpy(), np.clip(data, 2, 5))
    assert x.tile(reps=(2, 1)).shape == (4, 3)
    assert x.broadcast_to((3, 2, 3)).shape == (3, 2, 3)
    np.testing.assert_array_equal(x.zeros_like().asnumpy(), 0)
    np.testing.assert_array_equal(x.take(nd.array([1])).asnumpy(), data[[1]])
