"""hybridize(static_alloc=True) in predict mode: Parameters frozen as constants while unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import autograd, gluon, init, nd
from hybrix.gluon import nn
from hybrix.gluon._cached_graph import _Frozen

RTOL, ATOL = 1e-5, 1e-5


def _net(static_alloc=True):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(8, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=8))
        net.add(nn.Activation("relu"), nn.MaxPool2D(3, 2, 1), nn.Flatten(), nn.Dense(4))
    net.initialize(init.Xavier())
    net.hybridize(static_alloc=static_alloc)
    return net


def _imperative(net, x):
    """The net's output with every block run op by op (no hybridized program)."""
    net.hybridize(active=False)
    try:
        return net(x).asnumpy()
    finally:
        net.hybridize(static_alloc=True)


@pytest.fixture
def builds(monkeypatch):
    count = []
    real = _Frozen._build

    def counted(self, arrays):
        count.append(1)
        return real(self, arrays)

    monkeypatch.setattr(_Frozen, "_build", counted)
    return count


def _train_step(net, trainer, x, label):
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), label)
    loss.backward()
    trainer.step(x.shape[0])


def _entry(net):
    """The program of predict-mode calls (keys start with the training flag)."""
    (entry,) = [entry for key, entry in net._cached.items() if not key[0]]
    return entry


def test_unchanged_parameters_run_a_frozen_program_equal_to_imperative(rng, builds):
    net = _net()
    x = nd.array(rng.standard_normal((2, 3, 9, 9)))
    outputs = [net(x).asnumpy() for _ in range(4)]
    assert len(builds) == 1, "built once, on the second call with the same parameters"
    assert _entry(net).frozen.compiled is not None
    expected = _imperative(net, x)
    for out in outputs:
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_a_trainer_step_or_set_data_is_seen_at_once(rng, builds):
    net = _net()
    x = nd.array(rng.standard_normal((2, 3, 9, 9)))
    label = nd.array(rng.integers(0, 4, 2))
    for _ in range(3):
        net(x)
    _train_step(net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5}), x, label)
    after_step = net(x).asnumpy()
    assert _entry(net).frozen.compiled is None, "the old frozen program was dropped"
    dense = net[-1]
    dense.bias.set_data(dense.bias.data() + 1.0)
    changed = [net(x).asnumpy(), net(x).asnumpy(), net(x).asnumpy()]
    assert len(builds) == 2  # before the step, and once the new values were seen twice
    expected = _imperative(net, x)
    np.testing.assert_allclose(after_step, expected - 1.0, rtol=RTOL, atol=ATOL)
    for out in changed:
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_alternating_training_and_prediction_never_builds(rng, builds):
    net = _net()
    x = nd.array(rng.standard_normal((2, 3, 9, 9)))
    label = nd.array(rng.integers(0, 4, 2))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(4):
        _train_step(net, trainer, x, label)
        net(x)
    assert not builds


def test_recording_in_predict_mode_still_has_gradients(rng):
    net = _net()
    x = nd.array(rng.standard_normal((2, 3, 9, 9)))
    for _ in range(3):
        net(x)
    x.attach_grad()
    with autograd.record(train_mode=False):
        out = net(x)
    out.backward()
    assert np.abs(x.grad.asnumpy()).sum() > 0


def test_plain_hybridize_keeps_the_ordinary_program(rng):
    net = _net(static_alloc=False)
    x = nd.array(rng.standard_normal((2, 3, 9, 9)))
    first = net(x).asnumpy()
    np.testing.assert_array_equal(net(x).asnumpy(), first)
    assert _entry(net).frozen is None
