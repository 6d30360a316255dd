"""Python operators: MXNet's op choices, reflected forms and in-place updates."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import nd

A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
B = np.array([[2.0], [4.0]], np.float32)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda x, y: x + y, A + B),
        (lambda x, y: x - y, A - B),
        (lambda x, y: x * y, A * B),
        (lambda x, y: x / y, A / B),
        (lambda x, y: x % y, A % B),
        (lambda x, y: x**y, A**B),
        (lambda x, y: x + 2, A + 2),
        (lambda x, y: 2 + x, 2 + A),
        (lambda x, y: x - 2, A - 2),
        (lambda x, y: 2 - x, 2 - A),
        (lambda x, y: x * 3, A * 3),
        (lambda x, y: 3 * x, 3 * A),
        (lambda x, y: x / 2, A / 2),
        (lambda x, y: 2 / x, 2 / A),
        (lambda x, y: x % 4, A % 4),
        (lambda x, y: 7 % x, 7 % A),
        (lambda x, y: x**2, A**2),
        (lambda x, y: 2**x, 2**A),
        (lambda x, y: -x, -A),
        (lambda x, y: abs(-x), A),
        (lambda x, y: np.float32(2) * x, 2 * A),
    ],
)
def test_arithmetic(expression, expected):
    got = expression(nd.array(A), nd.array(B))
    assert got.dtype is np.float32
    np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda x, y: x == y, A == B),
        (lambda x, y: x != y, A != B),
        (lambda x, y: x > y, A > B),
        (lambda x, y: x >= y, A >= B),
        (lambda x, y: x < y, A < B),
        (lambda x, y: x <= y, A <= B),
        (lambda x, y: x == 2, A == 2),
        (lambda x, y: x > 2, A > 2),
        (lambda x, y: x < 2, A < 2),
        (lambda x, y: x >= 3, A >= 3),
    ],
)
def test_comparisons_return_ndarrays_of_input_dtype(expression, expected):
    got = expression(nd.array(A), nd.array(B))
    assert isinstance(got, nd.NDArray)
    assert got.dtype is np.float32  # MXNet: 0/1 in the input dtype
    np.testing.assert_array_equal(got.asnumpy(), expected.astype(np.float32))


def test_eq_with_none_is_false():
    assert (nd.array([1]) == None) is False  # noqa: E711


def test_unsupported_operand_raises_type_error():
    with pytest.raises(TypeError):
        nd.array([1]) + "a"


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (lambda x: x.__iadd__(1), A + 1),
        (lambda x: x.__isub__(nd.array(B)), A - B),
        (lambda x: x.__imul__(2), A * 2),
        (lambda x: x.__itruediv__(2), A / 2),
        (lambda x: x.__imod__(4), A % 4),
        (lambda x: x.__ipow__(2), A**2),
    ],
)
def test_inplace_mutates_the_object(update, expected):
    x = nd.array(A)
    alias = x
    result = update(x)
    assert result is x
    np.testing.assert_allclose(alias.asnumpy(), expected, rtol=1e-6)


def test_inplace_keeps_shape():
    x = nd.array(B)
    with pytest.raises(Exception, match="shape"):
        x += nd.array(A)


def test_out_argument_writes_into_existing_array():
    x, y = nd.array(A), nd.array(A)
    out = nd.zeros((2, 3))
    assert nd.broadcast_add(x, y, out=out) is out
    np.testing.assert_allclose(out.asnumpy(), A + A)


def test_hash_is_identity():
    x = nd.array([1])
    assert hash(x) != hash(nd.array([1])) or x is not None
    assert {x: 1}[x] == 1
