"""gluon.compile_step: k compiled whole steps give the parameters (and optimizer states)
of k steps of the ordinary record / backward / trainer.step loop."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix as mx
from hybrix import autograd, nd
from hybrix.gluon import nn
from hybrix.gluon.loss import L2Loss, SoftmaxCrossEntropyLoss
from hybrix.gluon.train_step import compile_step
from hybrix.gluon.trainer import Trainer, TrainerError

STEPS = 2


def _mlp():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, activation="relu", in_units=12), nn.Dense(5, in_units=16))
    return net


def _convnet():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(
            nn.Conv2D(4, kernel_size=3, in_channels=1, activation="relu"),
            nn.BatchNorm(in_channels=4),
            nn.MaxPool2D(pool_size=2),
            nn.Flatten(),
            nn.Dense(5, in_units=4 * 3 * 3),
        )
    return net


def _twins(make):
    """Two nets with equal initial parameters."""
    first, second = make(), make()
    first.initialize(mx.init.Xavier())
    second.initialize()
    for a, b in zip(first.collect_params().values(), second.collect_params().values(), strict=True):
        b.set_data(a.data().asnumpy())
    return first, second


def _params(net):
    return [p.data().asnumpy() for p in net.collect_params().values()]


@pytest.mark.parametrize(
    ("make", "shape", "opt", "opt_params", "hybridize"),
    [
        (_mlp, (8, 12), "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}, False),
        (_mlp, (8, 12), "adam", {"learning_rate": 0.01, "clip_gradient": 0.5}, True),
        (_convnet, (6, 1, 8, 8), "nag", {"learning_rate": 0.05, "momentum": 0.8}, True),
    ],
)
def test_compiled_steps_equal_ordinary_loop(make, shape, opt, opt_params, hybridize, rng):
    ordinary, compiled = _twins(make)
    if hybridize:
        ordinary.hybridize()
    loss_fn = SoftmaxCrossEntropyLoss()
    batches = [
        (nd.array(rng.normal(size=shape)), nd.array(rng.integers(0, 5, shape[0])))
        for _ in range(STEPS)
    ]
    trainer = Trainer(ordinary.collect_params(), opt, dict(opt_params))
    for data, label in batches:
        with autograd.record():
            loss = loss_fn(ordinary(data), label)
        loss.backward()
        trainer.step(shape[0])
    compiled_trainer = Trainer(compiled.collect_params(), opt, dict(opt_params))
    step = compile_step(compiled, loss_fn, compiled_trainer)
    for data, label in batches:
        compiled_loss = step(data, label)
    np.testing.assert_allclose(compiled_loss.asnumpy(), loss.asnumpy(), rtol=1e-5, atol=1e-6)
    initial = _twins(make)[0]  # a fresh net differs, so the steps did change the weights
    assert not all(
        np.allclose(a, b) for a, b in zip(_params(initial), _params(compiled), strict=True)
    )
    for a, b in zip(_params(ordinary), _params(compiled), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    assert compiled_trainer.optimizer.num_update == trainer.optimizer.num_update


def test_ordinary_loop_continues_from_compiled_steps(rng):
    ordinary, mixed = _twins(_mlp)
    loss_fn = L2Loss()
    opt_params = {"learning_rate": 0.05, "momentum": 0.9}
    batches = [(nd.array(rng.normal(size=(4, 12))), nd.array(rng.normal(size=(4, 5))))] * 4
    trainer = Trainer(ordinary.collect_params(), "sgd", dict(opt_params))
    mixed_trainer = Trainer(mixed.collect_params(), "sgd", dict(opt_params))
    step = compile_step(mixed, loss_fn, mixed_trainer)
    for i, (data, label) in enumerate(batches):
        with autograd.record():
            loss = loss_fn(ordinary(data), label)
        loss.backward()
        trainer.step(4)
        if i < 2:
            step(data, label)
        else:  # momentum states live in the Trainer, so the ordinary loop picks them up
            with autograd.record():
                mixed_loss = loss_fn(mixed(data), label)
            mixed_loss.backward()
            mixed_trainer.step(4)
    for a, b in zip(_params(ordinary), _params(mixed), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_batchnorm_running_statistics_are_written_back(rng):
    ordinary, compiled = _twins(_convnet)
    loss_fn = SoftmaxCrossEntropyLoss()
    data, label = nd.array(rng.normal(size=(6, 1, 8, 8))), nd.array(rng.integers(0, 5, 6))
    trainer = Trainer(ordinary.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = loss_fn(ordinary(data), label)
    loss.backward()
    trainer.step(6)
    step = compile_step(
        compiled, loss_fn, Trainer(compiled.collect_params(), "sgd", {"learning_rate": 0.1})
    )
    step(data, label)
    names = [n for n in ordinary.collect_params() if "running" in n]
    assert names
    for a, b in zip(
        ordinary.collect_params().values(), compiled.collect_params().values(), strict=True
    ):
        np.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-5, atol=1e-6)


def test_errors(rng):
    net = _mlp()
    net.initialize()
    with pytest.raises(TrainerError, match=r"needs a gluon\.Trainer"):
        compile_step(net, L2Loss(), "sgd")
    other = _mlp()
    other.initialize()
    step = compile_step(net, L2Loss(), Trainer(other.collect_params(), "sgd"))
    with pytest.raises(TrainerError, match="does not depend on any trained Parameter"):
        step(nd.ones((2, 12)), nd.ones((2, 5)))
