"""Every lowering strategy equals the op's lower facet and numpy ref, in values and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import native
from hybrix.compiler.jx import jax_namespace
from hybrix.compiler.strategies import Case, candidates
from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.ir import get_op

# NOTE: float32 with tolerances, one layout per case (alternating), one jitted value-and-VJP
# per strategy: the whole file ran ~170 s eagerly in float64 over both layouts.
RTOL, ATOL = 2e-5, 2e-5
_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
# name -> (data shape, attrs, channels-last?); every strategy and geometry kind appears:
# padding, stride, dilation, groups, taps trimmed (asymmetric and negative padding), 1x1,
# depthwise, 1-D and 3-D, each layout
CONV_CASES = {
    "3x3_pad": ((2, 4, 5, 5), {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1)}, False),
    "1x1_input": ((2, 4, 1, 1), {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1)}, True),
    "2x2_stride2": (
        (2, 4, 2, 2),
        {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1), "stride": (2, 2)},
        False,
    ),
    "dilate_groups": (
        (2, 4, 7, 6),
        {
            "kernel": (3, 2),
            "num_filter": 6,
            "pad": (2, 1),
            "stride": (2, 1),
            "dilate": (2, 3),
            "num_group": 2,
        },
        True,
    ),
    "1x1_stride": ((2, 4, 7, 6), {"kernel": (1, 1), "num_filter": 6, "stride": (2, 2)}, False),
    "depthwise": (
        (2, 4, 7, 6),
        {"kernel": (3, 3), "num_filter": 4, "num_group": 4, "pad": (1, 1)},
        True,
    ),
    "conv1d": ((2, 4, 7), {"kernel": (3,), "num_filter": 4, "pad": (1,)}, True),
    "conv3d": ((1, 2, 3, 3, 3), {"kernel": (2, 3, 2), "num_filter": 3, "pad": (1, 1, 0)}, False),
    "dilated_trim": (
        (1, 3, 2, 2),
        {"kernel": (3, 3), "num_filter": 2, "pad": (2, 2), "dilate": (2, 2)},
        True,
    ),
}


def _conv_inputs(rng, shape, attrs, last):
    op = get_op("Convolution")
    full = op.check_attrs({**attrs, "layout": _LAST[len(shape) - 2] if last else None})
    x = rng.standard_normal(shape)
    w = rng.standard_normal((attrs["num_filter"], shape[1] // full["num_group"], *attrs["kernel"]))
    b = rng.standard_normal(attrs["num_filter"])
    if last:
        x, w = np.moveaxis(x, 1, -1), np.moveaxis(w, 1, -1)
    return [a.astype(np.float32) for a in (x, w, b)], full


def _fitting(op, arrays, attrs):
    case = Case.make(op, [a.shape for a in arrays], "float32", attrs)
    return [s for s, why in candidates(case) if why is None and not s.naive]


def _value_and_vjp(lower, attrs):
    """A jitted (args, head) -> (output, input gradients) of one lowering."""

    def run(args, head):
        out, pullback = jax.vjp(lambda *a: lower(jax_namespace(), *a, **attrs), *args)
        return out, pullback(head)

    return jax.jit(run)


def test_conv_cases_cover_every_strategy():
    seen = set()
    for shape, attrs, last in CONV_CASES.values():
        arrays, full = _conv_inputs(np.random.default_rng(0), shape, attrs, last)
        seen |= {s.name for s in _fitting("Convolution", arrays, full)}
    expected = {"xla_trim", "xla_relayout", "im2col", "matmul_1x1"}
    built = {"native", "native_depthwise"} if native.unavailable() is None else set()
    assert seen == expected | {"depthwise"} | built


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv_strategies_match_facet_ref_and_grads(name):
    rng = np.random.default_rng(0)
    arrays, attrs = _conv_inputs(rng, *CONV_CASES[name])
    op = get_op("Convolution")
    expected = op.ref_fn(*[a.astype(np.float64) for a in arrays], **attrs)
    args = [jnp.asarray(a) for a in arrays]
    head = jnp.asarray(rng.standard_normal(expected.shape).astype(np.float32))
    _, facet_grads = _value_and_vjp(op.lower_fn, attrs)(args, head)
    strategies = _fitting("Convolution", arrays, attrs)
    assert strategies, "every case has at least one non-naive strategy"
    for strategy in strategies:
        out, grads = _value_and_vjp(strategy.lower, attrs)(args, head)
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL, err_msg=strategy.name)
        for got, want in zip(grads, facet_grads, strict=True):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=strategy.name)


def test_conv_strategy_numeric_gradient():
    from jax.test_util import check_grads

    rng = np.random.default_rng(1)
    arrays, attrs = _conv_inputs(rng, *CONV_CASES["2x2_stride2"])
    for strategy in _fitting("Convolution", arrays, attrs):
        fn = lambda *a, lower=strategy.lower: lower(jax_namespace(), *a, **attrs)  # noqa: E731
        # NOTE: a convolution is bilinear in (data, weight), so a central difference is exact
        # for any step: a large one keeps float32 rounding out of the comparison
        check_grads(fn, [jnp.asarray(a) for a in arrays], order=1, modes=["rev"], eps=1.0)


def test_trim_taps_turns_3x3_on_1x1_into_1x1():
    attrs = {"kernel": (3, 3), "pad": (1, 1)}
    geometry = trim_taps(conv_geometry((1, 8, 1, 1), (4, 8, 3, 3), attrs))
    assert geometry.kernel == (1, 1)
    assert geometry.taps == ((1, 2), (1, 2))
    assert (geometry.low, geometry.high) == ((0, 0), (0, 0))
    assert geometry.out == (1, 1)


def test_trim_taps_keeps_ordinary_convolutions():
    geometry = trim_taps(
        conv_geometry((1, 8, 9, 9), (4, 8, 3, 3), {"kernel": (3, 3), "pad": (1, 1)})
    )
    assert not geometry.trimmed


def test_strategy_reasons_name_why_not():
    case = Case.make(
        "Convolution",
        [(1, 4, 5, 5), (4, 4, 3, 3)],
        "float32",
        get_op("Convolution").check_attrs({"kernel": (3, 3), "num_filter": 4, "no_bias": True}),
    )
    reasons = {s.name: why for s, why in candidates(case)}
    assert reasons["matmul_1x1"] == "kernel (3, 3) is not 1x1 after trimming"
    assert reasons["xla_trim"] == "no tap reads only padding"
    assert reasons["im2col"] is None


POOL_CASES = {
    "max_3x3_s2_p1": (
        (2, 3, 9, 9),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"},
        True,
    ),
    "max_full": (
        (2, 3, 8, 8),
        {"kernel": (3, 3), "stride": (2, 2), "pool_type": "max", "pooling_convention": "full"},
        False,
    ),
    "avg_pad": (
        (2, 3, 6, 6),
        {"kernel": (2, 2), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg"},
        True,
    ),
    "sum_1d": ((2, 3, 7), {"kernel": (3,), "stride": (2,), "pool_type": "sum"}, False),
    "global_avg": (
        (2, 3, 4, 4),
        {"kernel": (1, 1), "global_pool": True, "pool_type": "avg"},
        True,
    ),
    "global_max": ((2, 3, 4, 4), {"global_pool": True, "pool_type": "max"}, False),
}


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_pool_strategies_match_facet_ref_and_grads(name):
    rng = np.random.default_rng(2)
    shape, attrs, last = POOL_CASES[name]
    op = get_op("Pooling")
    rank = len(shape) - 2
    attrs = op.check_attrs({**attrs, "layout": _LAST[rank] if last else None})
    x = rng.standard_normal(shape).astype(np.float32)
    if last:
        x = np.moveaxis(x, 1, -1)
    expected = op.ref_fn(x.astype(np.float64), **attrs)
    head = jnp.asarray(rng.standard_normal(expected.shape).astype(np.float32))
    _, (facet_grad,) = _value_and_vjp(op.lower_fn, attrs)([jnp.asarray(x)], head)
    strategies = _fitting("Pooling", [x], attrs)
    assert strategies
    for strategy in strategies:
        out, (grad,) = _value_and_vjp(strategy.lower, attrs)([jnp.asarray(x)], head)
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL, err_msg=strategy.name)
        np.testing.assert_allclose(grad, facet_grad, rtol=RTOL, atol=ATOL, err_msg=strategy.name)


def test_slices_does_not_fit_lp_pooling():
    attrs = get_op("Pooling").check_attrs({"kernel": (2, 2), "pool_type": "lp", "p_value": 2})
    case = Case.make("Pooling", [(1, 1, 4, 4)], "float32", attrs)
    reasons = {s.name: why for s, why in candidates(case)}
    assert reasons["slices"] == "pool_type 'lp' (only max, avg, sum)"


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel": (2, 2), "stride": (2, 2)},
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)},  # overlapping windows
        {"kernel": (3, 3), "stride": (1, 1), "pool_type": "max", "pooling_convention": "full"},
    ],
)
@pytest.mark.parametrize("name", ["slices", "native_max"])
def test_max_pooling_gives_ties_to_the_first_max_like_mxnet(attrs, name):
    # values on a coarse grid tie often (zeros after a ReLU); MXNet and XLA's
    # select-and-scatter both send each window's gradient to its first max only
    if name == "native_max" and native.unavailable():
        pytest.skip(native.unavailable())
    op = get_op("Pooling")
    attrs = op.check_attrs({"pool_type": "max", "layout": "NHWC", **attrs})
    rng = np.random.default_rng(4)
    x = np.maximum(np.round(rng.standard_normal((2, 8, 8, 20)) * 2) / 2, 0).astype(np.float32)
    out = op.ref_fn(x.astype(np.float64), **attrs)
    head = jnp.asarray(rng.standard_normal(out.shape).astype(np.float32))
    (strategy,) = [s for s in _fitting("Pooling", [x], attrs) if s.name == name]
    value, (grad,) = _value_and_vjp(strategy.lower, attrs)([jnp.asarray(x)], head)
    _, (facet_grad,) = _value_and_vjp(op.lower_fn, attrs)([jnp.asarray(x)], head)
    np.testing.assert_allclose(value, out, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(grad, facet_grad)
    # each window's gradient lands once: the total equals the head's
    np.testing.assert_allclose(float(grad.sum()), float(head.sum()), rtol=1e-5, atol=1e-4)


def test_native_max_pooling_fits_nhwc_max_windows_only():
    op = get_op("Pooling")
    nhwc = op.check_attrs({"kernel": (2, 2), "pool_type": "max", "layout": "NHWC"})
    reasons = {
        s.name: why for s, why in candidates(Case.make("Pooling", [(1, 4, 4, 3)], "f4", nhwc))
    }
    assert reasons["native_max"] == native.unavailable()
    nchw = op.check_attrs({"kernel": (2, 2), "pool_type": "max"})
    reasons = {
        s.name: why for s, why in candidates(Case.make("Pooling", [(1, 3, 4, 4)], "f4", nchw))
    }
    assert reasons["native_max"] == "native pooling is 2-D channels-last (NHWC) only"
    avg = {**nhwc, "pool_type": "avg"}
    reasons = {
        s.name: why for s, why in candidates(Case.make("Pooling", [(1, 4, 4, 3)], "f4", avg))
    }
    assert reasons["native_max"] == "native pooling is max pooling over windows only"
