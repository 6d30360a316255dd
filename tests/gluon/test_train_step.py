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


def _ordinary_step(net, loss_fn, trainer, data, label):
    with autograd.record():
        loss = loss_fn(net(data), label)
    loss.backward()
    trainer.step(data.shape[0])
    return loss


def _assert_same_params(expected, actual):
    for a, b in zip(_params(expected), _params(actual), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _assert_same_counts(expected, actual):
    assert actual.optimizer._all_index_update_counts == expected.optimizer._all_index_update_counts
    assert actual.optimizer.num_update == expected.optimizer.num_update


def test_lr_wd_and_multiplier_changes_apply_at_the_next_step(rng):
    """The compiled step reuses its per-parameter scalars while nothing changed; each
    change below must still reach the very next step, as in the ordinary loop."""
    ordinary, compiled = _twins(_mlp)
    loss_fn = SoftmaxCrossEntropyLoss()
    opt_params = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}
    trainer = Trainer(ordinary.collect_params(), "sgd", dict(opt_params))
    compiled_trainer = Trainer(compiled.collect_params(), "sgd", dict(opt_params))
    step = compile_step(compiled, loss_fn, compiled_trainer)
    changes = [
        lambda net, tr: None,
        lambda net, tr: tr.set_learning_rate(0.02),
        lambda net, tr: setattr(next(iter(net.collect_params().values())), "lr_mult", 0.5),
        lambda net, tr: setattr(tr.optimizer, "wd", 0.1),
        lambda net, tr: setattr(list(net.collect_params().values())[-1], "wd_mult", 3.0),
        lambda net, tr: None,
    ]
    for change in changes:
        data, label = nd.array(rng.normal(size=(8, 12))), nd.array(rng.integers(0, 5, 8))
        change(ordinary, trainer)
        change(compiled, compiled_trainer)
        _ordinary_step(ordinary, loss_fn, trainer, data, label)
        step(data, label)
        _assert_same_params(ordinary, compiled)
    _assert_same_counts(trainer, compiled_trainer)


@pytest.mark.parametrize(
    ("opt", "opt_params"),
    [("sgd", {"learning_rate": 0.2, "momentum": 0.5}), ("adam", {"learning_rate": 0.05})],
)
def test_lr_scheduler_and_update_counts_follow_the_ordinary_loop(opt, opt_params, rng):
    from hybrix.lr_scheduler import FactorScheduler

    ordinary, compiled = _twins(_mlp)
    loss_fn = L2Loss()
    trainers = [
        Trainer(
            net.collect_params(),
            opt,
            {**opt_params, "lr_scheduler": FactorScheduler(step=1, factor=0.5)},
        )
        for net in (ordinary, compiled)
    ]
    step = compile_step(compiled, loss_fn, trainers[1])
    for _ in range(4):
        data, label = nd.array(rng.normal(size=(4, 12))), nd.array(rng.normal(size=(4, 5)))
        _ordinary_step(ordinary, loss_fn, trainers[0], data, label)
        step(data, label)
        _assert_same_params(ordinary, compiled)
        assert trainers[1].learning_rate == trainers[0].learning_rate
    assert trainers[1].learning_rate == pytest.approx(opt_params["learning_rate"] / 2**3)
    _assert_same_counts(trainers[0], trainers[1])
    assert trainers[1].optimizer._index_update_count == dict.fromkeys(range(4), 4)


def test_new_parameter_values_between_steps_are_used(rng, tmp_path):
    """set_data, load_parameters and a re-initialization between compiled steps feed the
    next step; the Parameters, the net's forward and the Trainer's states see each step's
    results."""
    ordinary, compiled = _twins(_mlp)
    loss_fn = SoftmaxCrossEntropyLoss()
    opt_params = {"learning_rate": 0.1, "momentum": 0.9}
    trainer = Trainer(ordinary.collect_params(), "sgd", dict(opt_params))
    compiled_trainer = Trainer(compiled.collect_params(), "sgd", dict(opt_params))
    step = compile_step(compiled, loss_fn, compiled_trainer)
    data, label = nd.array(rng.normal(size=(8, 12))), nd.array(rng.integers(0, 5, 8))

    def both_step():
        _ordinary_step(ordinary, loss_fn, trainer, data, label)
        step(data, label)
        _assert_same_params(ordinary, compiled)
        np.testing.assert_allclose(
            compiled(data).asnumpy(), ordinary(data).asnumpy(), rtol=1e-5, atol=1e-6
        )
        for index, state in trainer._updaters[0].states.items():
            compiled_state = compiled_trainer._updaters[0].states[index]
            np.testing.assert_allclose(
                compiled_state.asnumpy(), state.asnumpy(), rtol=1e-5, atol=1e-6
            )

    both_step()
    first = rng.normal(size=(16, 12))
    for net in (ordinary, compiled):
        next(iter(net.collect_params().values())).set_data(nd.array(first))
    both_step()
    np.testing.assert_raises(
        AssertionError,
        np.testing.assert_allclose,
        next(iter(compiled.collect_params().values())).data().asnumpy(),
        first,
    )
    source = _mlp()
    source.initialize(mx.init.Uniform(0.5))
    path = str(tmp_path / "mlp.params")
    source.save_parameters(path)
    for net in (ordinary, compiled):
        net.load_parameters(path)
    _assert_same_params(source, compiled)
    both_step()
    for net in (ordinary, compiled):  # new NDArrays for every Parameter
        net.initialize(mx.init.Uniform(0.3), force_reinit=True)
        params = zip(net.collect_params().values(), source.collect_params().values(), strict=True)
        for a, b in params:
            a.set_data(b.data())
    both_step()
    _assert_same_counts(trainer, compiled_trainer)
