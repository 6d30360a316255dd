"""gluon.nn layers: MXNet 1.9.1's parameter names and shapes, numerics against numpy,
hybridized output equal to imperative, deferred shape inference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybrix import autograd, init, nd
from hybrix.gluon import nn
from hybrix.gluon.block import NameManager

# (constructor, input shape, {parameter name: shape}); names as MXNet 1.9.1 makes them
# for the first layer of its kind created outside any name_scope.
LAYERS = [
    (lambda: nn.Dense(5), (2, 3, 4), {"dense0_weight": (5, 12), "dense0_bias": (5,)}),
    (
        lambda: nn.Dense(5, use_bias=False, flatten=False, activation="relu"),
        (2, 3, 4),
        {"dense0_weight": (5, 4)},
    ),
    (lambda: nn.Conv1D(4, 3), (2, 3, 9), {"conv0_weight": (4, 3, 3), "conv0_bias": (4,)}),
    (
        lambda: nn.Conv2D(6, (3, 2), strides=2, padding=1, groups=3, use_bias=False),
        (2, 3, 8, 7),
        {"conv0_weight": (6, 1, 3, 2)},
    ),
    (
        lambda: nn.Conv2D(4, 3, layout="NHWC", dilation=2),
        (1, 9, 9, 2),
        {"conv0_weight": (4, 3, 3, 2), "conv0_bias": (4,)},
    ),
    (
        lambda: nn.Conv3D(2, 2),
        (1, 3, 4, 4, 4),
        {"conv0_weight": (2, 3, 2, 2, 2), "conv0_bias": (2,)},
    ),
    (
        lambda: nn.Conv1DTranspose(4, 3, strides=2),
        (2, 3, 5),
        {"conv0_weight": (3, 4, 3), "conv0_bias": (4,)},
    ),
    (
        lambda: nn.Conv2DTranspose(4, 3, strides=2, padding=1, output_padding=1),
        (2, 3, 5, 5),
        {"conv0_weight": (3, 4, 3, 3), "conv0_bias": (4,)},
    ),
    (
        lambda: nn.Conv3DTranspose(2, 2, use_bias=False),
        (1, 3, 3, 3, 3),
        {"conv0_weight": (3, 2, 2, 2, 2)},
    ),
    (lambda: nn.MaxPool1D(), (2, 3, 8), {}),
    (lambda: nn.MaxPool2D(3, 2, 1, ceil_mode=True), (2, 3, 8, 8), {}),
    (lambda: nn.MaxPool3D(), (1, 2, 4, 4, 4), {}),
    (lambda: nn.AvgPool1D(3, 1, 1), (2, 3, 8), {}),
    (lambda: nn.AvgPool2D(3, 2, 1, count_include_pad=False), (2, 3, 8, 8), {}),
    (lambda: nn.AvgPool3D(), (1, 2, 4, 4, 4), {}),
    (lambda: nn.GlobalMaxPool1D(), (2, 3, 8), {}),
    (lambda: nn.GlobalMaxPool2D(), (2, 3, 5, 5), {}),
    (lambda: nn.GlobalMaxPool3D(), (1, 2, 3, 3, 3), {}),
    (lambda: nn.GlobalAvgPool1D(), (2, 3, 8), {}),
    (lambda: nn.GlobalAvgPool2D(), (2, 3, 5, 5), {}),
    (lambda: nn.GlobalAvgPool3D(), (1, 2, 3, 3, 3), {}),
    (
        lambda: nn.BatchNorm(),
        (4, 3, 5),
        {
            "batchnorm0_gamma": (3,),
            "batchnorm0_beta": (3,),
            "batchnorm0_running_mean": (3,),
            "batchnorm0_running_var": (3,),
        },
    ),
    (lambda: nn.LayerNorm(), (2, 3, 6), {"layernorm0_gamma": (6,), "layernorm0_beta": (6,)}),
    (
        lambda: nn.InstanceNorm(scale=True),
        (2, 3, 6),
        {"instancenorm0_gamma": (3,), "instancenorm0_beta": (3,)},
    ),
    (
        lambda: nn.GroupNorm(num_groups=2),
        (2, 4, 5),
        {"groupnorm0_gamma": (2,), "groupnorm0_beta": (2,)},
    ),
    (lambda: nn.Dropout(0.5), (3, 4), {}),
    (lambda: nn.Flatten(), (2, 3, 4), {}),
    (lambda: nn.Activation("sigmoid"), (3, 4), {}),
    (lambda: nn.LeakyReLU(0.1), (3, 4), {}),
    (lambda: nn.PReLU(in_channels=3), (2, 3, 4), {"prelu0_alpha": (3,)}),
    (lambda: nn.ELU(), (3, 4), {}),
    (lambda: nn.SELU(), (3, 4), {}),
    (lambda: nn.GELU(), (3, 4), {}),
    (lambda: nn.Swish(2.0), (3, 4), {}),
    (lambda: nn.Embedding(10, 4), (2, 3), {"embedding0_weight": (10, 4)}),
]


def _input(shape, rng, embedding=False):
    if embedding:
        return nd.array(rng.integers(0, 10, shape))
    return nd.array(rng.standard_normal(shape))


@pytest.mark.parametrize(("make", "shape", "params"), LAYERS)
def test_names_shapes_and_hybridized_equals_imperative(make, shape, params, rng):
    with NameManager():
        layer = make()
    layer.initialize(init.Uniform(0.5))
    x = _input(shape, rng, isinstance(layer, nn.Embedding))
    eager = layer(x).asnumpy()
    collected = {k: v.shape for k, v in layer.collect_params().items()}
    assert collected == params
    layer.hybridize()
    np.testing.assert_allclose(layer(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    with autograd.train_mode():
        layer.hybridize(False)
        trained = layer(x)
    assert trained.shape == eager.shape


def test_dense_matches_numpy(rng):
    dense = nn.Dense(3, activation="tanh", in_units=4)
    dense.initialize(init.Normal(1.0))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    weight, bias = dense.weight.data().asnumpy(), dense.bias.data().asnumpy()
    np.testing.assert_allclose(
        dense(nd.array(x)).asnumpy(), np.tanh(x @ weight.T + bias), rtol=1e-5, atol=1e-6
    )


def test_conv2d_matches_numpy(rng):
    # NOTE: MXNet prints weight.shape[1], in_channels // groups
    conv = nn.Conv2D(2, 3, padding=1, in_channels=3)
    conv.initialize(init.Normal(1.0))
    conv.bias.set_data(nd.array([0.5, -0.5]))
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    weight = conv.weight.data().asnumpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((1, 2, 5, 5), np.float32)
    for i in range(5):
        for j in range(5):
            window = padded[0, :, i : i + 3, j : j + 3]
            expected[0, :, i, j] = np.tensordot(weight, window, axes=3) + np.array([0.5, -0.5])
    np.testing.assert_allclose(conv(nd.array(x)).asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_train_and_predict_numerics(rng):
    bn = nn.BatchNorm(momentum=0.5, epsilon=1e-3, in_channels=3)
    bn.initialize()
    bn.gamma.set_data(nd.array([1.0, 2.0, 3.0]))
    x = rng.standard_normal((4, 3, 2)).astype(np.float32) * 2 + 1
    with autograd.record():
        out = bn(nd.array(x)).asnumpy()
    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    normed = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-3)
    np.testing.assert_allclose(out, normed * np.array([1, 2, 3.0])[:, None], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data().asnumpy(), 0.5 + 0.5 * var, rtol=1e-5)
    moving_mean, moving_var = 0.5 * mean, 0.5 + 0.5 * var
    predicted = bn(nd.array(x)).asnumpy()
    expected = (x - moving_mean[:, None]) / np.sqrt(moving_var[:, None] + 1e-3)
    np.testing.assert_allclose(predicted, expected * np.array([1, 2, 3.0])[:, None], rtol=1e-4)
    assert repr(bn) == (
        "BatchNorm(axis=1, eps=0.001, momentum=0.5, fix_gamma=False, use_global_stats=False, "
        "in_channels=3)"
    )


def test_layernorm_and_activations_match_numpy(rng):
    x = rng.standard_normal((2, 5)).astype(np.float32)
    norm = nn.LayerNorm()
    norm.initialize()
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm(nd.array(x)).asnumpy(), expected, rtol=1e-4, atol=1e-5)
    cases = [
        (nn.LeakyReLU(0.1), np.where(x > 0, x, 0.1 * x)),
        (nn.ELU(0.7), np.where(x > 0, x, 0.7 * np.expm1(x))),
        (nn.Swish(2.0), x / (1 + np.exp(-2 * x))),
        (nn.GELU(), 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))),
        (nn.Activation("softrelu"), np.log1p(np.exp(x))),
    ]
    for layer, want in cases:
        np.testing.assert_allclose(layer(nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-6)
    prelu = nn.PReLU()
    prelu.initialize()
    np.testing.assert_allclose(
        prelu(nd.array(x)).asnumpy(), np.where(x > 0, x, 0.25 * x), rtol=1e-6
    )


def test_embedding_flatten_dropout(rng):
    embedding = nn.Embedding(6, 3)
    embedding.initialize()
    weight = embedding.weight.data().asnumpy()
    index = np.array([[0, 5], [2, 2]])
    np.testing.assert_array_equal(embedding(nd.array(index)).asnumpy(), weight[index])
    assert repr(embedding) == "Embedding(6 -> 3, float32)"
    assert nn.Flatten()(nd.ones((2, 3, 4))).shape == (2, 12)
    dropout = nn.Dropout(0.5)
    x = nd.ones((200, 50))
    assert (dropout(x).asnumpy() == 1).all()  # predict mode: identity
    with autograd.record():
        dropped = dropout(x).asnumpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert abs((dropped == 0).mean() - 0.5) < 0.05


def test_deferred_shapes_filled_from_first_input():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3), nn.BatchNorm(), nn.Dense(7))
    net.initialize()
    assert net[0].weight.shape == (4, 0, 3, 3)
    net(nd.ones((2, 5, 6, 6)))
    assert net[0].weight.shape == (4, 5, 3, 3)
    assert net[1].gamma.shape == (4,)
    assert net[2].weight.shape == (7, 64)
    assert repr(net[0]) == "Conv2D(5 -> 4, kernel_size=(3, 3), stride=(1, 1))"


def test_pooling_repr_and_conv_repr():
    assert repr(nn.MaxPool2D(3, 2, 1, ceil_mode=True)) == (
        "MaxPool2D(size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, "
        "global_pool=False, pool_type=max, layout=NCHW)"
    )
    # NOTE: MXNet prints weight.shape[1], in_channels // groups
    conv = nn.Conv2D(
        8,
        3,
        strides=2,
        padding=1,
        dilation=2,
        groups=2,
        use_bias=False,
        activation="relu",
        in_channels=4,
    )
    assert repr(conv) == (
        "Conv2D(2 -> 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
        "groups=2, bias=False, Activation(relu))"
    )
