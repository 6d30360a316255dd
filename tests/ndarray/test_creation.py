"""Creation functions and dtype rules (MXNet 1.9: float32 unless an NDArray or dtype says)."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import HybrixError, nd

try:
    import ml_dtypes

    BF16 = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover
    BF16 = None


def test_array_from_list_is_float32():
    x = nd.array([[1, 2], [3, 4]])
    assert x.dtype is np.float32
    assert x.shape == (2, 2)
    np.testing.assert_array_equal(x.asnumpy(), [[1, 2], [3, 4]])


def test_array_from_numpy_is_float32_like_mxnet():
    assert nd.array(np.arange(3, dtype=np.int64)).dtype is np.float32
    assert nd.array(np.ones(3, np.float64)).dtype is np.float32


def test_array_explicit_dtype_and_ndarray_source():
    x = nd.array([1, 2], dtype="int32")
    assert x.dtype is np.int32
    assert nd.array(x).dtype is np.int32
    assert nd.array(x, dtype=np.float16).dtype is np.float16


@pytest.mark.parametrize(
    "dtype", ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
)
def test_dtypes(dtype):
    x = nd.zeros((2, 3), dtype=dtype)
    assert x.dtype is np.dtype(dtype).type
    assert x.asnumpy().dtype == np.dtype(dtype)


@pytest.mark.skipif(BF16 is None, reason="ml_dtypes missing")
def test_bfloat16():
    x = nd.ones((2,), dtype="bfloat16")
    assert x.dtype is BF16
    y = x + x
    assert y.dtype is BF16
    np.testing.assert_array_equal(y.asnumpy().astype(np.float32), [2, 2])


def test_zeros_ones_full_empty():
    np.testing.assert_array_equal(nd.zeros(3).asnumpy(), np.zeros(3, np.float32))
    np.testing.assert_array_equal(nd.ones((2, 1)).asnumpy(), np.ones((2, 1), np.float32))
    full = nd.full((2, 2), 7, dtype="int32")
    assert full.dtype is np.int32
    np.testing.assert_array_equal(full.asnumpy(), 7)
    assert nd.empty((0, 4)).shape == (0, 4)
    assert nd.zeros((2,)).dtype is np.float32


def test_arange_like_mxnet():
    np.testing.assert_array_equal(nd.arange(3).asnumpy(), [0, 1, 2])
    assert nd.arange(3).dtype is np.float32
    np.testing.assert_allclose(
        nd.arange(2, 6, step=1.5, repeat=2).asnumpy(), [2, 2, 3.5, 3.5, 5, 5]
    )
    got = nd.arange(2, 6, step=2, repeat=3, dtype="int32")
    assert got.dtype is np.int32
    np.testing.assert_array_equal(got.asnumpy(), [2, 2, 2, 4, 4, 4])


def test_eye():
    np.testing.assert_array_equal(nd.eye(2).asnumpy(), np.eye(2))
    np.testing.assert_array_equal(nd.eye(2, 3, 1).asnumpy(), np.eye(2, 3, 1))


def test_zeros_like_ones_like():
    x = nd.array([[1, 2]], dtype="float64")
    assert nd.zeros_like(x).dtype is np.float64
    np.testing.assert_array_equal(nd.ones_like(x).asnumpy(), [[1, 1]])


def test_concat_and_stack_wrappers():
    a, b = nd.ones((2, 1)), nd.zeros((2, 2))
    assert nd.concat(a, b, dim=1).shape == (2, 3)
    assert nd.Concat(a, b, dim=1).shape == (2, 3)
    assert nd.concatenate([a, a], axis=0).shape == (4, 1)
    assert nd.stack(a, a, axis=0).shape == (2, 2, 1)


def test_bad_source_raises():
    with pytest.raises(HybrixError, match="array-like"):
        nd.array([[1, 2], [3]])


def test_waitall_and_wait_to_read():
    x = nd.ones((3,)) + 1
    x.wait_to_read()
    nd.waitall()
    np.testing.assert_array_equal(x.asnumpy(), 2)
