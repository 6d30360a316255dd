"""hybrix.init: MXNet's initializers, name dispatch, registry, repeatable draws."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hybrix as mx
from hybrix import init, nd
from hybrix.ir import HybrixError


def _filled(initializer, shape, name="fc_weight"):
    array = nd.zeros(shape)
    initializer(init.InitDesc(name), array)
    return array.asnumpy()


def test_uniform_and_normal_ranges():
    mx.random.seed(0)
    values = _filled(init.Uniform(0.3), (200, 50))
    assert values.min() >= -0.3
    assert values.max() <= 0.3
    assert abs(values.mean()) < 0.01
    assert values.std() > 0.15
    values = _filled(init.Normal(0.5), (200, 50))
    assert abs(values.std() - 0.5) < 0.02


@pytest.mark.parametrize(
    ("factor_type", "fan"), [("avg", (20 * 9 + 10 * 9) / 2), ("in", 20 * 9), ("out", 10 * 9)]
)
def test_xavier_scale(factor_type, fan):
    values = _filled(init.Xavier(factor_type=factor_type, magnitude=2.5), (10, 20, 3, 3))
    bound = np.sqrt(2.5 / fan)
    assert values.max() <= bound
    assert values.min() >= -bound
    assert values.max() > 0.9 * bound  # the whole range is used
    gaussian = _filled(init.Xavier("gaussian", "in", 3), (300, 400))
    assert abs(gaussian.std() - np.sqrt(3 / 400)) < 0.002


def test_msraprelu_is_gaussian_xavier():
    values = _filled(init.MSRAPrelu(slope=0.0), (300, 400))
    assert abs(values.std() - np.sqrt(2.0 / 350)) < 0.002


def test_xavier_rejects_vectors():
    with pytest.raises(HybrixError, match="at least 2D"):
        _filled(init.Xavier(), (5,))


def test_orthogonal_rows():
    values = _filled(init.Orthogonal(scale=2.0), (6, 10))
    np.testing.assert_allclose(values @ values.T, 4 * np.eye(6), atol=1e-4)


def test_suffix_dispatch():
    uniform = init.Uniform()
    assert (_filled(uniform, (3,), "x_bias") == 0).all()
    assert (_filled(uniform, (3,), "bn_gamma") == 1).all()
    assert (_filled(uniform, (3,), "bn_beta") == 0).all()
    with pytest.raises(HybrixError, match="weight, bias, gamma"):
        _filled(uniform, (3,), "strange")


def test_init_attribute_wins_over_name():
    array = nd.zeros((4,))
    init.Uniform()(init.InitDesc("fc_bias", {"__init__": "ones"}), array)
    assert (array.asnumpy() == 1).all()
    array = nd.zeros((2, 2))
    init.Zero()(init.InitDesc("w_weight", {"__init__": init.Constant(3.5)}), array)
    assert (array.asnumpy() == 3.5).all()


def test_create_and_dumps():
    xavier = init.Xavier(rnd_type="gaussian", magnitude=2)
    again = init.create(xavier.dumps())
    assert isinstance(again, init.Xavier)
    assert again.magnitude == 2
    assert again.rnd_type == "gaussian"
    assert json.loads(init.Constant(2.0).dumps()) == ["constant", {"value": 2.0}]
    assert isinstance(init.create("zeros"), init.Zero)
    assert isinstance(init.create("msraprelu"), init.MSRAPrelu)
    with pytest.raises(HybrixError, match=r"registered: .*xavier"):
        init.create("nope")


def test_user_subclass_registered():
    @init.register
    class Twos(init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 2

    assert (_filled(init.create("twos"), (2, 2)) == 2).all()


def test_mixed_and_load(tmp_path):
    mixed = init.Mixed([".*special.*", ".*"], [init.One(), init.Zero()])
    assert (_filled(mixed, (3,), "special_weight") == 1).all()
    assert (_filled(mixed, (2, 2), "a_weight") == 0).all()
    # NOTE: as in MXNet, the chosen initializer still dispatches by suffix: biases get 0
    assert (_filled(mixed, (3,), "special_bias") == 0).all()
    with pytest.raises(HybrixError, match="did not match"):
        init.Mixed(["x.*"], [init.One()])("y_weight", nd.zeros((1,)))
    path = str(tmp_path / "p.params")
    nd.save(path, {"arg:w_weight": nd.array([[1.0, 2.0]])})
    loader = init.Load(path, default_init=init.One())
    assert _filled(loader, (1, 2), "w_weight").tolist() == [[1.0, 2.0]]
    assert (_filled(loader, (2, 2), "other_weight") == 1).all()
    with pytest.raises(HybrixError, match="shape"):
        _filled(loader, (2, 2), "w_weight")


def test_seed_repeats_draws():
    mx.random.seed(7)
    first = _filled(init.Xavier(), (4, 5))
    mx.random.seed(7)
    np.testing.assert_array_equal(first, _filled(init.Xavier(), (4, 5)))
