"""gluon.Trainer: updates against numpy, multipliers, several contexts, stale gradients,
save/load_states."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hybrix import autograd, nd, optimizer
from hybrix.gluon.parameter import Parameter
from hybrix.gluon.trainer import StaleGradientError, Trainer, TrainerError


def _param(name, value, **kwargs):
    param = Parameter(name, shape=value.shape, **kwargs)
    param.initialize()
    param.set_data(nd.array(value))
    return param


def _backward(params, inputs):
    """loss = sum_i sum(p_i * x_i**2) so grad p_i = x_i**2."""
    with autograd.record():
        total = None
        for param, x in zip(params, inputs, strict=True):
            term = (param.data() * nd.array(x) ** 2).sum()
            total = term if total is None else total + term
    total.backward()


def test_sgd_step_matches_numpy(rng):
    values = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    params = [_param("w", values[0]), _param("b", values[1], lr_mult=0.5, wd_mult=0.0)]
    trainer = Trainer(params, "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})
    moms = [np.zeros_like(v) for v in values]
    for _ in range(3):
        inputs = [rng.normal(size=v.shape) for v in values]
        _backward(params, inputs)
        trainer.step(batch_size=4)
        for i, (lr_mult, wd_mult) in enumerate([(1.0, 1.0), (0.5, 0.0)]):
            grad = inputs[i] ** 2 / 4
            lr, wd = 0.1 * lr_mult, 0.01 * wd_mult
            moms[i] = 0.9 * moms[i] - lr * wd * values[i] - lr * grad
            values[i] = values[i] + moms[i]
    for param, value in zip(params, values, strict=True):
        np.testing.assert_allclose(param.data().asnumpy(), value, rtol=1e-5, atol=1e-6)
    assert trainer.optimizer.num_update == 3


def test_learning_rate_property_and_setter(rng):
    trainer = Trainer([_param("w", rng.normal(size=(2,)))], "adam", {"learning_rate": 0.3})
    assert trainer.learning_rate == 0.3
    trainer.set_learning_rate(0.05)
    assert trainer.optimizer.lr == 0.05


def test_optimizer_instance_and_params_dict(rng):
    sgd = optimizer.SGD(learning_rate=1.0)
    params = {"b": _param("b", np.ones(2)), "a": _param("a", np.ones(2))}
    trainer = Trainer(params, sgd)
    assert trainer.optimizer is sgd
    assert set(sgd.param_dict) == {0, 1}
    with pytest.raises(TrainerError, match="optimizer_params must be None"):
        Trainer(list(params.values()), sgd, {"learning_rate": 0.1})


def test_stale_gradient_raises_and_can_be_ignored(rng):
    used, unused = _param("used", np.ones(3)), _param("unused", np.ones(3))
    trainer = Trainer([used, unused], "sgd", {"learning_rate": 1.0})
    _backward([used], [np.ones(3)])
    with pytest.raises(StaleGradientError, match=r"`unused`.*ignore_stale_grad=True"):
        trainer.step(1)
    _backward([used], [np.ones(3)])
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_allclose(used.data().asnumpy(), np.zeros(3))
    np.testing.assert_allclose(unused.data().asnumpy(), np.ones(3))
    with pytest.raises(StaleGradientError, match="`used`"):
        trainer.step(1)  # no backward since the last step


def test_grad_req_null_is_skipped(rng):
    frozen = _param("frozen", np.ones(2), grad_req="null")
    live = _param("live", np.ones(2))
    trainer = Trainer([frozen, live], "sgd", {"learning_rate": 1.0})
    _backward([live], [np.ones(2)])
    trainer.step(1)
    np.testing.assert_allclose(frozen.data().asnumpy(), np.ones(2))


def test_save_and_load_states_round_trip(rng, tmp_path):
    value = rng.normal(size=(5,))
    first = _param("w", value)
    trainer = Trainer([first], "adam", {"learning_rate": 0.1})
    for _ in range(2):
        _backward([first], [rng.normal(size=5)])
        trainer.step(1)
    path = str(tmp_path / "trainer.states")
    trainer.save_states(path)
    second = _param("w2", first.data().asnumpy())
    restored = Trainer([second], "adam", {"learning_rate": 0.5})
    restored.load_states(path)
    assert restored.learning_rate == 0.1
    assert restored.optimizer.param_dict[0] is second
    x = rng.normal(size=5)
    for param, tr in ((first, trainer), (second, restored)):
        _backward([param], [x])
        tr.step(1)
    np.testing.assert_allclose(first.data().asnumpy(), second.data().asnumpy(), rtol=1e-6)


def test_bad_arguments(tmp_path, rng):
    with pytest.raises(TrainerError, match="list or dict of Parameters"):
        Trainer([np.ones(2)], "sgd")
    with pytest.raises(optimizer.OptimizerError, match="known optimizers"):
        Trainer([_param("w", np.ones(2))], "sgdd")
    with pytest.raises(TrainerError, match="compression"):
        Trainer([_param("w", np.ones(2))], "sgd", compression_params={"type": "2bit"})
    trainer = Trainer([_param("w", np.ones(2))], "sgd")
    with pytest.raises(TrainerError, match="cannot read trainer states"):
        trainer.load_states(str(tmp_path / "missing.states"))


def test_two_contexts_equal_one_context_with_summed_gradient():
    script = textwrap.dedent(
        """
        import numpy as np
        from hybrix import autograd, cpu, nd
        from hybrix.gluon.parameter import Parameter
        from hybrix.gluon.trainer import Trainer

        rng = np.random.default_rng(1)
        value = rng.normal(size=(3, 2))
        xs = [rng.normal(size=(3, 2)) for _ in range(2)]

        def run(contexts, grads_per_context):
            param = Parameter("w", shape=value.shape)
            param.initialize(ctx=contexts)
            param.set_data(nd.array(value))
            trainer = Trainer([param], "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.1})
            for _ in range(2):
                for ctx, g in zip(contexts, grads_per_context):
                    with autograd.record():
                        loss = (param.data(ctx) * nd.array(g, ctx=ctx)).sum()
                    loss.backward()
                trainer.step(4)
            assert trainer.optimizer.num_update == 2
            return [a.asnumpy() for a in param.list_data()]

        two = run([cpu(0), cpu(1)], xs)
        one = run([cpu(0)], [xs[0] + xs[1]])
        np.testing.assert_allclose(two[0], two[1], rtol=0)
        np.testing.assert_allclose(two[0], one[0], rtol=1e-6)
        assert not np.allclose(two[0], value)
        print("OK")
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_arrays_shared_with_parameters_survive_donation():
    source = nd.array([1.0, 2.0, 3.0])
    param = _param("w", np.zeros(3))
    param.set_data(source)  # may share source's buffer; the donated update must not free it
    trainer = Trainer([param], "sgd", {"learning_rate": 1.0, "momentum": 0.9})
    for _ in range(2):
        _backward([param], [np.ones(3)])
        trainer.step(1)
    np.testing.assert_allclose(source.asnumpy(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(param.data().asnumpy(), [1.0 - 2.9, 2.0 - 2.9, 3.0 - 2.9], rtol=1e-6)


def test_hybridized_loop_sees_parameters_replaced_between_steps(rng):
    """A hybridized block keeps its last call's Parameter arrays; new values (set_data)
    and new arrays (initialize(force_reinit=True), cast) must still feed the next call."""
    import hybrix as mx
    from hybrix.gluon import nn

    def make():
        net = nn.HybridSequential()
        net.add(nn.Dense(6, activation="relu", in_units=4), nn.Dense(3, in_units=6))
        return net

    hybrid, plain = make(), make()
    hybrid.initialize(mx.init.Xavier())
    hybrid.hybridize(static_alloc=True)
    plain.initialize()
    trainers = [
        Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}) for net in (hybrid, plain)
    ]
    data = nd.array(rng.normal(size=(5, 4)))

    def sync_and_compare(step=True):
        for a, b in zip(
            hybrid.collect_params().values(), plain.collect_params().values(), strict=True
        ):
            b.set_data(a.data().asnumpy())
        if step:
            for net, trainer in zip((hybrid, plain), trainers, strict=True):
                with autograd.record():
                    loss = net(data).sum()
                loss.backward()
                trainer.step(5)
        np.testing.assert_allclose(hybrid(data).asnumpy(), plain(data).asnumpy(), rtol=1e-5)

    sync_and_compare()
    first = next(iter(hybrid.collect_params().values()))
    first.set_data(nd.array(rng.normal(size=(6, 4))))
    sync_and_compare()
    hybrid.initialize(mx.init.Uniform(1.0), force_reinit=True)
    sync_and_compare()
    for net in (hybrid, plain):  # new arrays again, and the Trainer skips them from now on
        next(iter(net.collect_params().values())).grad_req = "null"
    frozen = first.data().asnumpy()
    sync_and_compare()
    np.testing.assert_array_equal(first.data().asnumpy(), frozen)
    hybrid.cast("float64")
    plain.cast("float64")
    data = data.astype("float64")
    sync_and_compare(step=False)
