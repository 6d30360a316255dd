"""hybrix.np against NumPy, with mxnet.numpy 1.9.1's differences (checked in MXNet 1.9.1)."""

from __future__ import annotations

import numpy as onp
import pytest

from hybrix import autograd, np, npx
from hybrix.ir import HybrixError


def test_defaults_follow_mxnet():
    assert np.arange(5).dtype == onp.float32  # NumPy: int64
    assert np.array([1, 2]).dtype == onp.float32
    assert np.zeros((2,)).dtype == onp.float32
    x = np.array([[1, 5], [7, 3]])
    assert x.argmax(axis=1).dtype == onp.int64
    assert (x == x).dtype == onp.bool_
    ints = np.array([1, 2], dtype="int32")
    assert (ints / np.array([2, 2], dtype="int32")).dtype == onp.float32
    assert np.mean(ints).dtype == onp.float32
    assert repr(np.array([1.0, 2.0])) == "array([1., 2.])"


def test_math_matches_numpy(rng):
    a = rng.normal(size=(3, 4)).astype("f")
    b = rng.normal(size=(4,)).astype("f")
    x, y = np.array(a), np.array(b)
    cases = [
        (x + y, a + b),
        (x * 2 - 1, a * 2 - 1),
        (2 / (x * x + 1), 2 / (a * a + 1)),
        (np.exp(x), onp.exp(a)),
        (np.maximum(x, 0.5), onp.maximum(a, 0.5)),
        (np.sum(x, axis=0), a.sum(0)),
        (x.mean(axis=1, keepdims=True), a.mean(1, keepdims=True)),
        (np.dot(x, y), a @ b),
        (np.matmul(x, x.T), a @ a.T),
        (x.reshape(2, -1), a.reshape(2, -1)),
        (np.concatenate([x, x], axis=1), onp.concatenate([a, a], 1)),
        (np.where(x > 0, x, 0.0), onp.where(a > 0, a, 0)),
        (np.clip(x, -0.5, 0.5), a.clip(-0.5, 0.5)),
        (np.linalg.norm(x), onp.linalg.norm(a)),
        (x[1:, ::2], a[1:, ::2]),
        (x.T, a.T),
        (np.stack([y, y], axis=1), onp.stack([b, b], 1)),
        (np.flip(x, 0), a[::-1]),
    ]
    for got, want in cases:
        assert isinstance(got, np.ndarray)
        assert got.shape == want.shape
        onp.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-5)
    assert x.sum().shape == ()
    assert x[1, 2].shape == ()
    assert x[1, 2].item() == pytest.approx(float(a[1, 2]))


def test_autograd_and_0d_results():
    x = np.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()
    assert isinstance(x.grad, np.ndarray)
    onp.testing.assert_allclose(x.grad.asnumpy(), [2.0, 4.0, 6.0])


def test_random_and_npx():
    np.random.seed(1)
    first = np.random.uniform(size=(3,)).asnumpy()
    np.random.seed(1)
    onp.testing.assert_array_equal(first, np.random.uniform(size=(3,)).asnumpy())
    picks = np.random.choice(5, (20,), replace=True)
    assert picks.dtype == onp.int64
    assert int(picks.min()) >= 0
    assert int(picks.max()) < 5
    distinct = np.random.choice(np.arange(6), (6,), replace=False).asnumpy()
    assert sorted(distinct.tolist()) == list(range(6))
    data = np.ones((3, 2, 1))
    masked = npx.sequence_mask(data, np.array([1, 3]), use_sequence_length=True)
    assert masked.reshape(3, 2).asnumpy().tolist() == [[1, 1], [0, 1], [0, 1]]
    onp.testing.assert_allclose(npx.softmax(np.zeros((2, 4))).asnumpy(), 0.25)
    assert npx.one_hot(np.array([0, 2]), 3).asnumpy().tolist() == [[1, 0, 0], [0, 0, 1]]


def test_bad_input_is_a_clear_error():
    with pytest.raises(HybrixError, match="only one -1"):
        np.zeros((2, 3)).reshape(-1, -1)
    with pytest.raises(HybrixError, match="boolean mask"):
        np.zeros((2,))[np.array([True, False], dtype="bool")]
