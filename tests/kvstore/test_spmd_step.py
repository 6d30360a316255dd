"""gluon.compile_step over 4 simulated CPU devices (one SPMD program, batch sharded):
k steps equal k compiled steps on one device with the whole batch, and k steps of the
ordinary Trainer loop with kvstore='device' over the same 4 contexts.

The 4 devices need XLA_FLAGS set before jax starts, so the training runs in a subprocess:
this file, run as a script, writes its results to an .npz the tests read.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

DEVICES, BATCH, STEPS = 4, 8, 3
SGD = ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3})
ADAM = ("adam", {"learning_rate": 0.01, "wd": 1e-3})


# -- the worker (runs with 4 CPU devices) ---------------------------------------------------------
def _lenet(seed: int, contexts: list, batchnorm: bool = False):
    import hybrix as mx
    from hybrix.gluon import nn

    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=1, activation="relu"))
    if batchnorm:
        net.add(nn.BatchNorm(in_channels=4))
    net.add(
        nn.MaxPool2D(2),
        nn.Conv2D(8, 3, in_channels=4, activation="relu"),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(16, in_units=8 * 2 * 2, activation="relu"),
        nn.Dense(10, in_units=16),
    )
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.hybridize()
    return net


def _batches() -> list:
    rng = np.random.default_rng(0)
    return [
        (
            rng.normal(size=(BATCH, 1, 14, 14)).astype(np.float32),
            rng.integers(0, 10, size=BATCH).astype(np.float32),
        )
        for _ in range(STEPS)
    ]


def _compiled(contexts: list, optimizer: tuple, batchnorm: bool) -> tuple:
    from hybrix import gluon, nd

    net = _lenet(0, contexts, batchnorm)
    trainer = gluon.Trainer(net.collect_params(), optimizer[0], dict(optimizer[1]))
    step = gluon.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer)
    for data, label in _batches():
        loss = step(nd.array(data), nd.array(label))
    return net, loss.asnumpy(), step.allreduce_bytes


def _ordinary(contexts: list, optimizer: tuple, batchnorm: bool, compiled: int = 0) -> tuple:
    """The Trainer loop; with `compiled`, that many compiled steps first."""
    from hybrix import autograd, gluon, nd

    net = _lenet(0, contexts, batchnorm)
    trainer = gluon.Trainer(
        net.collect_params(), optimizer[0], dict(optimizer[1]), kvstore="device"
    )
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    step = gluon.compile_step(net, loss_fn, trainer)
    for data, label in _batches()[:compiled]:
        step(nd.array(data), nd.array(label))
    for data, label in _batches()[compiled:]:
        datas = gluon.utils.split_and_load(data, contexts)
        labels = gluon.utils.split_and_load(label, contexts)
        with autograd.record():
            losses = [loss_fn(net(x), y) for x, y in zip(datas, labels, strict=True)]
        autograd.backward(losses)
        trainer.step(BATCH)
    return net, np.concatenate([loss.asnumpy() for loss in losses]), trainer


def _snapshot(result: dict, prefix: str, net) -> None:
    for i, param in enumerate(net.collect_params().values()):
        for c, array in enumerate(param.list_data()):
            result[f"{prefix}/{i}/{c}"] = array.asnumpy()


def _errors(contexts: list) -> list[str]:
    """The messages of what the multi-context compiled step refuses."""
    from hybrix import gluon, nd
    from hybrix.gluon.trainer import TrainerError

    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    data, label = nd.ones((BATCH, 1, 14, 14)), nd.zeros((BATCH,))
    attempts = [
        ({"kvstore": None}, data, label),
        ({"update_on_kvstore": True}, data, label),
        ({}, nd.ones((6, 1, 14, 14)), nd.zeros((6,))),
    ]
    messages = []
    for options, x, y in attempts:
        net = _lenet(0, contexts)
        trainer = gluon.Trainer(net.collect_params(), "adam", **options)
        try:
            gluon.compile_step(net, loss_fn, trainer)(x, y)
            messages.append("no error")
        except TrainerError as e:
            messages.append(str(e))
    return messages


def worker(out: str) -> None:
    import hybrix as mx

    contexts = [mx.cpu(i) for i in range(DEVICES)]
    result: dict = {}
    for name, optimizer in (("sgd", SGD), ("adam", ADAM)):
        net, loss, size = _compiled(contexts, optimizer, False)
        _snapshot(result, f"spmd_{name}", net)
        result[f"spmd_{name}_loss"], result["allreduce_bytes"] = loss, size
        net, loss, _ = _compiled([mx.cpu(0)], optimizer, False)
        _snapshot(result, f"one_{name}", net)
        result[f"one_{name}_loss"] = loss
        net, loss, trainer = _ordinary(contexts, optimizer, False)
        _snapshot(result, f"loop_{name}", net)
        result[f"loop_{name}_loss"] = loss
        result[f"loop_{name}_count"] = trainer.optimizer.num_update
    net, _, trainer = _ordinary(contexts, ADAM, False, compiled=2)
    _snapshot(result, "mixed_adam", net)
    result["mixed_adam_count"] = trainer.optimizer.num_update
    net, _, _ = _compiled(contexts, SGD, True)
    _snapshot(result, "spmd_bn", net)
    net, _, _ = _ordinary(contexts, SGD, True)
    _snapshot(result, "loop_bn", net)
    result["errors"] = np.array(_errors(contexts))
    np.savez(out, **{k: np.asarray(v) for k, v in result.items()})


# -- the tests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("spmd") / "spmd.npz"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}"}
    env.pop("HYBRIX_COORDINATOR", None)
    done = subprocess.run(
        [sys.executable, __file__, str(out)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(np.load(out))


def _params(results: dict, prefix: str, context: int = 0) -> list[np.ndarray]:
    count = len({k.split("/")[1] for k in results if k.startswith(prefix + "/")})
    return [results[f"{prefix}/{i}/{context}"] for i in range(count)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_four_devices_equal_one_device_with_the_whole_batch(results, optimizer):
    one = _params(results, f"one_{optimizer}")
    assert len(one) == 8
    for context in range(DEVICES):  # every context's replica
        for a, b in zip(one, _params(results, f"spmd_{optimizer}", context), strict=True):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        results[f"spmd_{optimizer}_loss"], results[f"one_{optimizer}_loss"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_four_devices_equal_the_trainer_loop_with_device_kvstore(results, optimizer):
    for context in range(DEVICES):
        loop = _params(results, f"loop_{optimizer}", context)
        spmd = _params(results, f"spmd_{optimizer}", context)
        for a, b in zip(loop, spmd, strict=True):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        results[f"spmd_{optimizer}_loss"], results[f"loop_{optimizer}_loss"], rtol=1e-5, atol=1e-6
    )


def test_steps_changed_the_weights_and_all_reduced_every_gradient(results):
    spmd, one = _params(results, "spmd_sgd"), _params(results, "one_adam")
    assert max(float(np.abs(a - b).max()) for a, b in zip(spmd, one, strict=True)) > 1e-3
    gradient_bytes = 4 * (4 * 9 + 4 + 8 * 4 * 9 + 8 + 16 * 32 + 16 + 10 * 16 + 10)
    assert int(results["allreduce_bytes"]) == gradient_bytes


def test_trainer_loop_continues_from_compiled_steps(results):
    assert int(results["mixed_adam_count"]) == int(results["loop_adam_count"]) == STEPS
    for context in range(DEVICES):
        loop = _params(results, "loop_adam", context)
        for a, b in zip(loop, _params(results, "mixed_adam", context), strict=True):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


def test_batchnorm_statistics_stay_per_device_as_in_the_trainer_loop(results):
    loop, spmd = _params(results, "loop_bn", 1), _params(results, "spmd_bn", 1)
    for a, b in zip(loop, spmd, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # running means: each device saw its own slice, so the contexts' copies differ
    means = [results[f"spmd_bn/4/{c}"] for c in range(DEVICES)]
    assert np.abs(means[0] - means[1]).max() > 1e-4
    np.testing.assert_allclose(means[3], results["loop_bn/4/3"], rtol=1e-5, atol=1e-6)


def test_what_the_parallel_step_refuses(results):
    none, on_store, uneven = (str(m) for m in results["errors"])
    assert "kvstore=None" in none
    assert "update_on_kvstore=False" in on_store
    assert "cannot be split evenly into 4 slices" in uneven


if __name__ == "__main__":
    worker(sys.argv[1])
