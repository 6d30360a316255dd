"""Samples for the random ops (ir/ops/random.py).

ref (numpy) and lower (JAX) draw different numbers from one distribution, so each sample
checks shape, dtype, range and loose moments instead of values. The key is the raw
uint32[2] of JAX's default threefry2x32 PRNG, which the frontend normally supplies.
"""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_KEY = np.asarray([0, 42], np.uint32)


def _same_layout(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == np.shape(e)
        assert g.dtype == np.asarray(e).dtype


def _moments(low=None, high=None, mean=None, std=None, tol=0.1):
    """A check: same layout, values in [low, high), mean and std near the given ones."""

    def check(got, expected):
        _same_layout(got, expected)
        for values in (np.asarray(got[0], np.float64), np.asarray(expected[0], np.float64)):
            if low is not None:
                assert values.min() >= low
                assert values.max() < high
            if mean is not None:
                assert abs(values.mean() - mean) < tol * std
                assert abs(values.std() - std) < tol * std

    return check


def _per_element(mean, std, tol=0.15):
    """A check for _sample_*: moments over the trailing sample axis, per parameter element."""

    def check(got, expected):
        _same_layout(got, expected)
        for values in (np.asarray(got[0], np.float64), np.asarray(expected[0], np.float64)):
            axes = tuple(range(mean.ndim, values.ndim))
            assert np.all(np.abs(values.mean(axes) - mean) < tol * std)
            assert np.all(np.abs(values.std(axes) - std) < tol * std)

    return check


def _permuted_rows(data):
    def check(got, expected):
        _same_layout(got, expected)
        rows = sorted(map(tuple, data.reshape(len(data), -1).tolist()))
        for values in (got[0], expected[0]):
            values = np.asarray(values, np.float64)
            assert sorted(map(tuple, values.reshape(len(data), -1).tolist())) == rows

    return check


def _random(op, name, args=(), check=None, **attrs):
    return Sample(op, [*args, _KEY], attrs, dtypes=("float64",), grad=False, name=name, check=check)


_LOW = np.asarray([[0.0, -2.0], [1.0, 5.0]])
_HIGH = np.asarray([[1.0, 2.0], [1.5, 9.0]])
_MU = np.asarray([0.0, -3.0, 10.0])
_SIGMA = np.asarray([1.0, 0.5, 2.0])
_SHUFFLED = _rng.permutation(24).reshape(6, 2, 2).astype(np.float64)

SAMPLES = [
    _random(
        "_random_uniform", "random_uniform", shape=(2000,), check=_moments(0.0, 1.0, 0.5, 12**-0.5)
    ),
    _random(
        "uniform",
        "random_uniform_range_float16",
        shape=(40, 50),
        low=-3.0,
        high=5.0,
        dtype="float16",
        check=_moments(-3.0, 5.0 + 1e-2, 1.0, 8 * 12**-0.5),
    ),
    _random(
        "random_uniform",
        "random_uniform_float64_empty",
        shape=(0, 3),
        dtype="float64",
        check=_moments(),
    ),
    _random(
        "_random_normal",
        "random_normal",
        shape=(50, 40),
        loc=2.0,
        scale=3.0,
        check=_moments(mean=2.0, std=3.0),
    ),
    _random(
        "normal",
        "random_normal_float64",
        shape=(2000,),
        dtype="float64",
        check=_moments(mean=0.0, std=1.0),
    ),
    _random(
        "_random_randint",
        "random_randint",
        shape=(3000,),
        low=-2,
        high=5,
        check=_moments(-2, 5, 1.0, 2.0),
    ),
    _random(
        "random_randint",
        "random_randint_int64_scalar",
        shape=(),
        low=3,
        high=4,
        dtype="int64",
        check=_moments(3, 4),
    ),
    _random(
        "_sample_uniform",
        "sample_uniform",
        [_LOW, _HIGH],
        shape=(4000,),
        check=_per_element((_LOW + _HIGH) / 2, (_HIGH - _LOW) * 12**-0.5 + 1e-9),
    ),
    _random(
        "sample_uniform",
        "sample_uniform_no_shape_float16",
        [_LOW, _HIGH],
        dtype="float16",
        check=_moments(),
    ),
    _random(
        "_sample_normal",
        "sample_normal",
        [_MU, _SIGMA],
        shape=(50, 80),
        dtype="float64",
        check=_per_element(_MU, _SIGMA),
    ),
    _random("_shuffle", "shuffle", [_SHUFFLED], check=_permuted_rows(_SHUFFLED)),
    _random("shuffle", "shuffle_vector", [np.arange(7.0)], check=_permuted_rows(np.arange(7.0))),
]
