"""HybridBlock.hybridize: one compiled program per input signature, parameters as named
graph inputs, BatchNorm statistics written back, static_alloc, errors, gradients
(hybridized vs imperative vs finite differences), export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrix import autograd, init, nd
from hybrix.gluon import HybridBlock, nn
from hybrix.gluon._cached_graph import trace_block
from hybrix.gluon.block import LayerError, _flatten
from hybrix.ir import HybrixError


def _net():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"))
        net.add(nn.Flatten(), nn.Dense(3))
    net.initialize(init.Xavier())
    return net


def test_one_program_per_signature(rng):
    net = _net()
    net.hybridize()
    x = nd.array(rng.standard_normal((2, 3, 5, 5)))
    first = net(x).asnumpy()
    net(x)
    assert len(net._cached) == 1
    net(nd.array(rng.standard_normal((2, 3, 5, 5))))
    assert len(net._cached) == 1
    net(nd.array(rng.standard_normal((1, 3, 5, 5))))
    np.testing.assert_array_equal(net(x).asnumpy(), first)
    with autograd.record():
        net(x)
    assert len(net._cached) == 3  # a new batch size, then training mode
    net.hybridize()
    assert not net._cached


def test_graph_inputs_are_data_then_parameters(rng):
    net = _net()
    x = nd.array(rng.standard_normal((2, 3, 5, 5)))
    net(x)
    flat, fmt = _flatten([x], "inputs")
    graph = trace_block(net, flat, fmt).graph
    names = [v.name for v in graph.inputs]
    assert names[0] == "data"
    assert names[1:] == list(net.collect_params().keys())


def test_batchnorm_stats_written_back_like_imperative(rng):
    x = nd.array(rng.standard_normal((4, 3, 5, 5)))
    nets = [_net(), _net()]
    for net in nets:
        net(x)
    for source, target in zip(
        nets[0].collect_params().values(), nets[1].collect_params().values(), strict=False
    ):
        target.set_data(source.data())
    nets[1].hybridize(static_alloc=True)
    outputs = []
    for net in nets:
        for _ in range(2):
            with autograd.record():
                out = net(x)
        outputs.append(out.asnumpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    stats = [net[1].running_var.data().asnumpy() for net in nets]
    assert not np.allclose(stats[0], 1.0)
    np.testing.assert_allclose(stats[0], stats[1], rtol=1e-5)


def test_wrong_input_names_the_layer(rng):
    net = _net()
    net(nd.ones((1, 3, 5, 5)))
    net.hybridize()
    with pytest.raises(LayerError, match=r"net_conv0 \(Conv2D\(3 -> 4.*weight"):
        net(nd.ones((1, 2, 5, 5)))
    with pytest.raises(HybrixError, match="NDArray"):
        net([1, 2])


def test_deferred_init_under_hybridize(rng):
    net = nn.HybridSequential()
    net.add(nn.Dense(6, activation="relu"), nn.Dense(2))
    net.initialize()
    net.hybridize()
    out = net(nd.ones((3, 4)))
    assert out.shape == (3, 2)
    assert net[0].weight.shape == (6, 4)


def test_dropout_draws_fresh_masks_when_hybridized():
    net = nn.HybridSequential()
    net.add(nn.Dropout(0.5))
    net.hybridize()
    x = nd.ones((50, 40))
    with autograd.record():
        first, second = net(x).asnumpy(), net(x).asnumpy()
    assert not np.array_equal(first, second)
    assert (net(x).asnumpy() == 1).all()


class _Twice(HybridBlock):
    """Several inputs and nested outputs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense = nn.Dense(2, in_units=3)

    def hybrid_forward(self, F, x, y):
        return [self.dense(x), (F.relu(y), y * 2)]


def test_nested_inputs_and_outputs(rng):
    block = _Twice()
    block.initialize()
    x, y = nd.array(rng.standard_normal((2, 3))), nd.array(rng.standard_normal((4,)))
    eager = block(x, y)
    block.hybridize()
    hybrid = block(x, y)
    assert isinstance(hybrid, list)
    assert isinstance(hybrid[1], list)
    np.testing.assert_allclose(hybrid[0].asnumpy(), eager[0].asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(hybrid[1][1].asnumpy(), eager[1][1].asnumpy(), rtol=1e-6)


def _loss_grads(net, x, hybridize):
    net.hybridize(hybridize)
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    return {
        k: p.grad().asnumpy().copy()
        for k, p in net.collect_params().items()
        if p.grad_req != "null"
    }


def test_gradients_hybridized_imperative_and_finite_differences(rng):
    net = nn.HybridSequential()
    net.add(
        nn.Dense(5, activation="tanh", in_units=4),
        nn.LayerNorm(in_channels=5),
        nn.Dense(2, in_units=5),
    )
    net.initialize(init.Normal(0.5))
    net.cast("float64")
    x = nd.array(rng.standard_normal((3, 4)), dtype="float64")
    eager = _loss_grads(net, x, False)
    hybrid = _loss_grads(net, x, True)
    for name, grad in eager.items():
        np.testing.assert_allclose(hybrid[name], grad, rtol=1e-9, atol=1e-12)
    weight = net[0].weight
    direction = rng.standard_normal(weight.shape)
    base = weight.data().asnumpy()

    def loss_at(step):
        weight.set_data(nd.array(base + step * direction, dtype="float64"))
        return float((net(x) ** 2).sum().asscalar())

    numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6
    np.testing.assert_allclose((eager[weight.name] * direction).sum(), numeric, rtol=1e-6)


def test_export_writes_mxnet_files(tmp_path, rng):
    net = _net()
    with pytest.raises(HybrixError, match="hybridize"):
        net.export(str(tmp_path / "none"))
    net.hybridize()
    net(nd.array(rng.standard_normal((1, 3, 5, 5))))
    symbol_path, params_path = net.export(str(tmp_path / "net"), epoch=3)
    assert str(params_path).endswith("net-0003.params")
    symbol = json.loads(Path(symbol_path).read_text())
    names = [node["name"] for node in symbol["nodes"] if node["op"] == "null"]
    assert names[0] == "data"
    saved = nd.load(str(params_path))
    assert "arg:net_conv0_weight" in saved
    assert "aux:net_batchnorm0_running_mean" in saved
