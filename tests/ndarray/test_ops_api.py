"""Generated nd.<op> functions: argument binding, aliases, out=, training, aux updates, rng."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import HybrixError, autograd, nd
from hybrix.ir.ops import all_ops


def test_every_registered_op_and_alias_is_an_nd_function():
    for op in all_ops():
        for name in (op.name, *op.aliases):
            assert callable(getattr(nd, name)), name


def test_unknown_op_raises_attribute_error():
    with pytest.raises(AttributeError, match="unknown operator"):
        nd.NoSuchOp  # noqa: B018


def test_inputs_by_position_or_keyword_and_attrs_by_position():
    x, w, b = nd.ones((2, 4)), nd.ones((3, 4)), nd.zeros(3)
    by_position = nd.FullyConnected(x, w, b, num_hidden=3)
    by_keyword = nd.FullyConnected(data=x, weight=w, bias=b, num_hidden=3, name="fc")
    np.testing.assert_array_equal(by_position.asnumpy(), by_keyword.asnumpy())
    np.testing.assert_array_equal(nd.clip(nd.array([-2, 0, 2]), -1, 1).asnumpy(), [-1, 0, 1])
    assert nd.FullyConnected(x, w, num_hidden=3, no_bias=True).shape == (2, 3)


def test_bad_attribute_names_the_op():
    with pytest.raises(HybrixError, match="FullyConnected"):
        nd.FullyConnected(nd.ones((2, 4)), nd.ones((3, 4)), nd.zeros(3), num_hiden=3)
    with pytest.raises(HybrixError, match="needs input"):
        nd.FullyConnected(nd.ones((2, 4)), num_hidden=3)


def test_shape_errors_are_hybrix_errors():
    with pytest.raises(HybrixError):
        nd.elemwise_add(nd.ones((2, 3)), nd.ones((3, 2)))


def test_aliases_and_namespaces():
    x = nd.ones((2, 3))
    assert nd.concat(x, x, dim=0).shape == (4, 3)
    assert nd.SliceChannel(x, num_outputs=3, axis=1)[0].shape == (2, 1)
    assert nd._internal._plus_scalar(x, scalar=1.0).asnumpy()[0, 0] == 2
    assert nd.op.relu(x).shape == (2, 3)


def test_multiple_visible_outputs_return_a_list():
    parts = nd.split(nd.ones((2, 4)), num_outputs=2, axis=1)
    assert isinstance(parts, list)
    assert len(parts) == 2


def test_out_with_several_outputs():
    outs = [nd.zeros((2, 2)), nd.zeros((2, 2))]
    assert nd.split(nd.ones((2, 4)), num_outputs=2, axis=1, out=outs) is outs
    np.testing.assert_array_equal(outs[1].asnumpy(), 1)


def test_training_attribute_follows_autograd_mode():
    x = nd.ones((200,))
    np.testing.assert_array_equal(nd.Dropout(x, p=0.5).asnumpy(), 1)  # predict mode
    with autograd.record():
        dropped = nd.Dropout(x, p=0.5).asnumpy()
    assert set(np.unique(dropped)) <= {0.0, 2.0}
    assert (dropped == 0).any()
    with autograd.train_mode():
        np.testing.assert_array_equal(nd.Dropout(x, p=0.5, training=False).asnumpy(), 1)


def test_batchnorm_writes_moving_stats_back():
    data = nd.array(np.arange(8, dtype=np.float32).reshape(4, 2))
    gamma, beta = nd.ones(2), nd.zeros(2)
    mean, var = nd.zeros(2), nd.ones(2)
    with autograd.record():
        nd.BatchNorm(data, gamma, beta, mean, var, fix_gamma=False)
    host = data.asnumpy()
    np.testing.assert_allclose(mean.asnumpy(), 0.1 * host.mean(0), rtol=1e-5)
    np.testing.assert_allclose(var.asnumpy(), 0.9 + 0.1 * host.var(0), rtol=1e-5)
    before = mean.asnumpy()
    nd.BatchNorm(data, gamma, beta, mean, var, fix_gamma=False)  # predict mode: unchanged
    np.testing.assert_array_equal(mean.asnumpy(), before)


def test_random_seed_repeats_and_signatures():
    nd.random.seed(3)
    first = nd.random.uniform(-1, 1, shape=(3, 2)).asnumpy()
    nd.random.seed(3)
    second = nd.random.uniform(-1, 1, shape=(3, 2)).asnumpy()
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32
    assert ((first >= -1) & (first < 1)).all()
    assert not np.array_equal(nd.random.uniform(shape=(3, 2)).asnumpy(), first)
    assert nd.random.normal(0, 1, (4,)).shape == (4,)
    assert nd.random.normal(shape=(2,), dtype="float64").dtype is np.float64
    ints = nd.random.randint(0, 5, shape=(10,))
    assert ints.dtype is np.int32
    assert ints.asnumpy().max() < 5
    per_element = nd.random.uniform(nd.zeros(2), nd.ones(2), shape=(3,))
    assert per_element.shape == (2, 3)
