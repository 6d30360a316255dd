"""Indexing and assignment: basic, advanced, MXNet's (1,) rule, writes via .at[].set."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import HybrixError, nd

DATA = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.fixture
def x():
    return nd.array(DATA)


@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        slice(None),
        slice(0, 1),
        (slice(None), 1),
        (1, slice(None, None, -1)),
        (slice(None), slice(2, None), slice(None, None, 2)),
        (slice(None, None, -2), slice(-2, None)),
        (Ellipsis, 1),
        (None, 0),
        (0, None, slice(1, 3)),
        (Ellipsis, None),
        (slice(3, 5),),
    ],
)
def test_basic_indexing_matches_numpy(x, key):
    got = x[key]
    assert isinstance(got, nd.NDArray)
    np.testing.assert_array_equal(got.asnumpy(), DATA[key])


def test_all_integer_key_gives_shape_1_like_mxnet(x):
    assert x[1, 2, 3].shape == (1,)
    assert x[1, 2, 3].asscalar() == DATA[1, 2, 3]
    assert nd.array([5, 6, 7])[1].shape == (1,)


@pytest.mark.parametrize(
    "key",
    [
        [1, 0],
        np.array([0, 1, 1]),
        (slice(None), [2, 0]),
        (1, [0, 2], slice(1, 3)),
        ([0, 1], [1, 2]),
    ],
)
def test_advanced_indexing_matches_numpy(x, key):
    np.testing.assert_array_equal(x[key].asnumpy(), DATA[key])


def test_ndarray_index_float_is_cast(x):
    index = nd.array([1, 0])  # float32, as MXNet passes index arrays
    np.testing.assert_array_equal(x[index].asnumpy(), DATA[[1, 0]])
    np.testing.assert_array_equal(x[:, nd.array([2], dtype="int32")].asnumpy(), DATA[:, [2]])


def test_out_of_range_raises_index_error(x):
    with pytest.raises(IndexError):
        x[2]
    with pytest.raises(IndexError):
        x[0, -4]
    with pytest.raises(IndexError):
        x[0, 0, 0, 0]


def test_slices_are_copies_not_views(x):
    part = x[0]
    part[:] = -1
    assert x.asnumpy()[0, 0, 0] == 0  # documented: basic slices are not views


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (slice(None), 3.0),
        (slice(None), np.ones((2, 3, 4))),
        (1, 5),
        ((0, 1), np.array([9, 8, 7, 6])),
        ((slice(None), slice(None, None, 2), 0), 4),
        ((1, 2, 3), np.array([42.0])),
        (([0, 1], [1, 2]), 11),
        ((Ellipsis, 0), np.arange(6).reshape(2, 3)),
        ((slice(None), 1), np.arange(4)),  # broadcast over the first axis
    ],
)
def test_setitem_matches_numpy(x, key, value):
    expected = DATA.copy()
    expected[key] = (
        np.asarray(value).reshape(np.shape(expected[key]))
        if np.size(value) == np.size(expected[key])
        else value
    )
    alias = x
    x[key] = value
    assert alias.dtype is np.float32
    np.testing.assert_array_equal(alias.asnumpy(), expected)


def test_setitem_with_ndarray_value_and_dtype_cast():
    x = nd.zeros((2, 3), dtype="int32")
    x[:] = nd.array([[1.7, 2, 3], [4, 5, 6]])
    assert x.dtype is np.int32
    np.testing.assert_array_equal(x.asnumpy(), [[1, 2, 3], [4, 5, 6]])
    x[1] = nd.array([7, 8, 9])
    np.testing.assert_array_equal(x.asnumpy()[1], [7, 8, 9])


def test_setitem_shape_mismatch_raises():
    x = nd.zeros((2, 3))
    with pytest.raises(Exception, match="shape"):
        x[0] = np.ones(4)


def test_setitem_whole_array_converts_and_broadcasts_like_numpy():
    x = nd.zeros((2, 3), dtype="float32")
    x[:] = np.arange(6, dtype=np.float64).reshape(2, 3)  # cast to the array's dtype
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.asnumpy(), np.arange(6).reshape(2, 3))
    x[:] = nd.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.asnumpy(), [[1, 2, 3], [4, 5, 6]])
    x[:] = 7
    np.testing.assert_array_equal(x.asnumpy(), np.full((2, 3), 7))
    x[:] = np.array([1, 2, 3])  # a broadcast takes the general path
    np.testing.assert_array_equal(x.asnumpy(), [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(HybrixError, match="cannot assign"):
        x[:] = np.ones((4, 5))
