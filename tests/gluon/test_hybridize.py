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


# -- the recorded hybridized call keeps its VJP residuals (no forward rerun in backward) --
def _recorded_net(rng, dropout=0.5):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=2), nn.BatchNorm(in_channels=4), nn.Activation("tanh"))
    net.add(nn.Dropout(dropout), nn.Flatten(), nn.Dense(3, in_units=36))
    net.initialize(init.Normal(0.5))
    net.cast("float64")
    x = nd.array(rng.standard_normal((2, 2, 5, 5)), dtype="float64")
    return net, x


def _grads(net):
    return {k: p.grad().asnumpy().copy() for k, p in net.collect_params().items() if p._grad}


def _drop_residuals(head):
    """Make the graph behind `head` take the recompute path (as create_graph does)."""
    nodes, _ = autograd._collect([head._ag])
    for node in nodes:
        node.residuals = None


def test_residual_backward_equals_recompute_backward(rng):
    net, x = _recorded_net(rng)
    net.hybridize(static_alloc=True)
    x.attach_grad()
    with autograd.record():
        out = net(x)
        loss = (out * out).sum()
    assert out._ag[0].residuals is not None
    loss.backward(retain_graph=True)  # residuals, kept for the next backward
    first, first_x = _grads(net), x.grad.asnumpy().copy()
    loss.backward(retain_graph=True)  # the same residuals again
    second = _grads(net)
    _drop_residuals(loss)
    loss.backward()  # the recompute path: same rng keys, so the same dropout mask
    third, third_x = _grads(net), x.grad.asnumpy()
    for name, grad in first.items():
        assert np.abs(grad).sum() > 0, name
        np.testing.assert_array_equal(second[name], grad)
        np.testing.assert_allclose(third[name], grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(third_x, first_x, rtol=1e-10, atol=1e-12)
    assert out._ag[0].residuals is None  # freed with the graph


def test_residual_backward_matches_imperative_with_batchnorm_and_add(rng):
    net, x = _recorded_net(rng, dropout=0.0)
    params = net.collect_params()
    start = {name: param.data().copy() for name, param in params.items()}
    for param in params.values():
        if param.grad_req != "null":
            param.grad_req = "add"
    results = []
    for hybridize in (False, True):
        for name, param in params.items():
            param.set_data(start[name])
        net.zero_grad()
        net.hybridize(hybridize, static_alloc=True)
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward(retain_graph=True)
        loss.backward()  # 'add': twice the gradient
        results.append((_grads(net), net[1].running_mean.data().asnumpy()))
    (eager, eager_mean), (hybrid, hybrid_mean) = results
    for name, grad in eager.items():
        assert np.abs(grad).sum() > 0, name
        np.testing.assert_allclose(hybrid[name], grad, rtol=1e-9, atol=1e-12)
    assert not np.allclose(hybrid_mean, start[net[1].running_mean.name].asnumpy())
    np.testing.assert_allclose(hybrid_mean, eager_mean, rtol=1e-12)


def test_residuals_are_the_recorded_values(rng):
    """MXNet uses the values recorded, not arrays written into after recording."""
    net, x = _recorded_net(rng, dropout=0.0)
    weight = net[5].weight
    want = _loss_grads(net, x, hybridize=False)[weight.name]
    net.hybridize()
    with autograd.record():
        loss = (net(x) ** 2).sum()
    x[:] = 7.0  # outside record: allowed
    weight.set_data(weight.data() * 3)
    loss.backward()
    np.testing.assert_allclose(weight.grad().asnumpy(), want, rtol=1e-9, atol=1e-12)


def test_second_order_gradient_through_a_hybridized_block():
    """create_graph records the backward; the weight's gradient of a gradient w.r.t. x
    is the true one (MXNet's gradient graph reads the weight)."""
    import jax
    import jax.numpy as jnp

    weight = np.linspace(-1, 1, 12).reshape(3, 4)
    x_value = np.random.default_rng(2).standard_normal((2, 4))

    def gradient_norm(x, w):
        dx = jax.grad(lambda x: (jnp.tanh(x @ w.T) ** 2).sum())(x)
        return (dx * dx).sum()

    want = jax.grad(gradient_norm, argnums=(0, 1))(x_value, weight)
    for hybridize in (False, True):
        net = nn.Dense(3, activation="tanh", in_units=4, use_bias=False)
        net.initialize()
        net.cast("float64")
        net.weight.set_data(nd.array(weight, dtype="float64"))
        net.hybridize(hybridize)
        x = nd.array(x_value, dtype="float64")
        x.attach_grad()
        with autograd.record():
            y = (net(x) ** 2).sum()
            (dx,) = autograd.grad(y, [x], create_graph=True)
            z = (dx * dx).sum()
        z.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), want[0], rtol=1e-9)
        np.testing.assert_allclose(net.weight.grad().asnumpy(), want[1], rtol=1e-9)


def test_no_residuals_without_gradients(rng):
    net, x = _recorded_net(rng)
    net.hybridize()
    with autograd.record():
        out = net(x)  # parameters attached, x not: residuals for the parameters
    assert out._ag[0].residuals is not None
    for param in net.collect_params().values():
        param.grad_req = "null"
    with autograd.record():
        out = net(x)
    assert out._ag is None  # nothing needs a gradient: nothing recorded


def test_only_some_outputs_used_and_gradient_for_one_variable(rng):
    block = _Twice()
    block.initialize()
    block.cast("float64")
    x = nd.array(rng.standard_normal((2, 3)), dtype="float64")
    y = nd.array(rng.standard_normal((4,)), dtype="float64")
    x.attach_grad()
    y.attach_grad()
    results = []
    for hybridize in (False, True):
        block.hybridize(hybridize)
        with autograd.record():
            dense, (_, doubled) = block(x, y)
            loss = (dense * dense).sum() + doubled.sum()  # relu(y) unused: zero cotangent
            (grad_x,) = autograd.grad(loss, [x], retain_graph=True)
        loss.backward()
        results.append((grad_x.asnumpy(), y.grad.asnumpy(), block.dense.weight.grad().asnumpy()))
    for eager, hybrid in zip(results[0], results[1], strict=True):
        np.testing.assert_allclose(hybrid, eager, rtol=1e-10)
    np.testing.assert_array_equal(results[1][1], np.full(4, 2.0))
