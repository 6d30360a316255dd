"""Optimizers against numpy re-implementations of MXNet 1.9's update formulas, over
several steps with wd, rescale_grad, clip_gradient, lr/wd multipliers and momentum."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from hybrix import nd, optimizer
from hybrix.optimizer import OptimizerError

STEPS = 4
SHAPE = (3, 5)


def _clip(g, c):
    return g if not c or c < 0 else np.clip(g, -c, c)


def _clip_py(g, c):
    return g if c is None else np.clip(g, -c, c)


# numpy references: (weight, grad, state, lr, wd, t, kw) -> (weight, state)
def ref_sgd(w, g, s, lr, wd, t, kw):
    g = _clip(kw["rescale_grad"] * g, kw.get("clip_gradient"))
    if kw.get("momentum", 0) == 0:
        return (1 - lr * wd) * w - lr * g, s
    s = kw["momentum"] * s - lr * wd * w - lr * g
    return w + s, s


def ref_nag(w, g, s, lr, wd, t, kw):
    g = _clip(kw["rescale_grad"] * g, kw.get("clip_gradient"))
    m = kw["momentum"]
    mom = m * s
    step = lr * (g + wd * w)
    return w - mom + (m + 1) * (mom - step), mom - step


def ref_signum(w, g, s, lr, wd, t, kw):
    m = kw["momentum"]
    g = _clip(kw["rescale_grad"] * g, kw.get("clip_gradient"))
    s = m * s - (1 - m) * wd * w - (1 - m) * g
    return (1 - lr * kw.get("wd_lh", 0.0)) * w + lr * np.sign(s), s


def ref_adam(w, g, s, lr, wd, t, kw):
    b1, b2, eps = 0.9, 0.999, 1e-8
    lr = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    g = _clip(kw["rescale_grad"] * g + wd * w, kw.get("clip_gradient"))
    mean = b1 * s[0] + (1 - b1) * g
    var = b2 * s[1] + (1 - b2) * g * g
    return w - lr * mean / (np.sqrt(var) + eps), (mean, var)


def ref_adagrad(w, g, s, lr, wd, t, kw):
    g = _clip_py(kw["rescale_grad"] * g, kw.get("clip_gradient"))
    hist = s + g * g
    return w - lr * (g / np.sqrt(hist + 1e-7) + wd * w), hist


def ref_rmsprop(w, g, s, lr, wd, t, kw):
    g1, g2, eps = 0.9, 0.9, 1e-8
    g = _clip(kw["rescale_grad"] * g + wd * w, kw.get("clip_gradient"))
    n = (1 - g1) * g * g + g1 * s[0]
    if not kw.get("centered"):
        return w - lr * g / np.sqrt(n + eps), (n,)
    gm = (1 - g1) * g + g1 * s[1]
    delta = g2 * s[2] - lr * g / np.sqrt(n - gm * gm + eps)
    return w + delta, (n, gm, delta)


def ref_adadelta(w, g, s, lr, wd, t, kw):
    rho, eps = 0.9, 1e-5
    g = _clip_py(kw["rescale_grad"] * g, kw.get("clip_gradient"))
    acc_g = rho * s[0] + (1 - rho) * g * g
    delta = np.sqrt(s[1] + eps) / np.sqrt(acc_g + eps) * g
    acc_d = rho * s[1] + (1 - rho) * delta * delta
    return w - (delta + wd * w), (acc_g, acc_d)


def ref_adamax(w, g, s, lr, wd, t, kw):
    b1, b2 = 0.9, 0.999
    lr = lr / (1 - b1**t)
    g = _clip_py(kw["rescale_grad"] * g + wd * w, kw.get("clip_gradient"))
    m = b1 * s[0] + (1 - b1) * g
    u = np.maximum(b2 * s[1], np.abs(g))
    return w - lr * m / u, (m, u)


def ref_ftml(w, g, s, lr, wd, t, kw):
    b1, b2, eps = 0.6, 0.999, 1e-8
    g = _clip(kw["rescale_grad"] * g + wd * w, kw.get("clip_gradient"))
    d, v, z = s
    v = b2 * v + (1 - b2) * g * g
    d_t = (1 - b1**t) / lr * (np.sqrt(v / (1 - b2**t)) + eps)
    z = b1 * z + (1 - b1) * g - (d_t - b1 * d) * w
    return -z / d_t, (d_t, v, z)


def _zeros(n):
    return tuple(np.zeros(SHAPE) for _ in range(n))


CASES = [
    ("sgd", {}, ref_sgd, None),
    ("sgd", {"momentum": 0.9}, ref_sgd, np.zeros(SHAPE)),
    ("nag", {"momentum": 0.8}, ref_nag, np.zeros(SHAPE)),
    ("signum", {"momentum": 0.9, "wd_lh": 0.01}, ref_signum, np.zeros(SHAPE)),
    ("adam", {}, ref_adam, _zeros(2)),
    ("adagrad", {}, ref_adagrad, np.zeros(SHAPE)),
    ("rmsprop", {}, ref_rmsprop, _zeros(1)),
    ("rmsprop", {"centered": True}, ref_rmsprop, _zeros(3)),
    ("adadelta", {}, ref_adadelta, _zeros(2)),
    ("adamax", {}, ref_adamax, _zeros(2)),
    ("ftml", {}, ref_ftml, _zeros(3)),
]


def _to_nd(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_to_nd(s) for s in state)
    return nd.array(state, dtype="float64")


@pytest.mark.parametrize(("name", "extra", "reference", "state0"), CASES)
def test_update_matches_numpy(name, extra, reference, state0, rng):
    common = {"learning_rate": 0.05, "wd": 0.02, "rescale_grad": 0.5, "clip_gradient": 0.8}
    kw = {**common, **extra}
    opt = optimizer.create(name, **kw)
    opt.set_lr_mult({1: 0.5})
    opt.set_wd_mult({1: 3.0})
    for index in (0, 1):
        weight_np = rng.normal(size=SHAPE)
        weight = nd.array(weight_np, dtype="float64")
        state = opt.create_state(index, weight)
        state = _to_nd(state0) if state is not None else None
        ref_state = state0
        lr = 0.05 * (0.5 if index == 1 else 1.0)
        wd = 0.02 * (3.0 if index == 1 else 1.0)
        for t in range(1, STEPS + 1):
            grad_np = rng.normal(size=SHAPE) * 2
            opt.update(index, weight, nd.array(grad_np, dtype="float64"), state)
            weight_np, ref_state = reference(weight_np, grad_np, ref_state, lr, wd, t, kw)
            np.testing.assert_allclose(weight.asnumpy(), weight_np, rtol=1e-10, atol=1e-12)


def test_float32_weights_stay_float32(rng):
    opt = optimizer.Adam(learning_rate=0.01)
    weight = nd.array(rng.normal(size=SHAPE))
    state = opt.create_state(0, weight)
    opt.update(0, weight, nd.array(rng.normal(size=SHAPE)), state)
    assert weight.dtype == np.float32
    assert state[0].dtype == np.float32


def test_nadam_matches_numpy(rng):
    b1, b2, eps, decay, lr = 0.9, 0.999, 1e-8, 0.004, 0.01
    opt = optimizer.Nadam(learning_rate=lr, wd=0.01)
    weight_np = rng.normal(size=SHAPE)
    weight = nd.array(weight_np, dtype="float64")
    state = opt.create_state(0, weight)
    state = (nd.zeros(SHAPE, dtype="float64"), nd.zeros(SHAPE, dtype="float64"))
    m, v, schedule = np.zeros(SHAPE), np.zeros(SHAPE), 1.0
    for t in range(1, STEPS + 1):
        grad_np = rng.normal(size=SHAPE)
        opt.update(0, weight, nd.array(grad_np, dtype="float64"), state)
        g = grad_np + 0.01 * weight_np
        mom_t = b1 * (1 - 0.5 * 0.96 ** (t * decay))
        mom_t1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
        schedule *= mom_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_bar = (1 - mom_t) * g / (1 - schedule) + mom_t1 * m / (1 - schedule * mom_t1)
        weight_np = weight_np - lr * m_bar / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(weight.asnumpy(), weight_np, rtol=1e-10)


def test_param_dict_multipliers_take_precedence():
    class Param:
        lr_mult, wd_mult = 0.1, 0.0

    opt = optimizer.SGD(learning_rate=1.0, wd=0.5, param_dict={0: Param()})
    opt.set_lr_mult({0: 10.0})
    assert opt._get_lr(0) == pytest.approx(0.1)
    assert opt._get_wd(0) == 0.0


def test_idx2name_wd_mult_zero_for_bias():
    opt = optimizer.SGD(wd=0.1, param_idx2name={0: "fc_weight", 1: "fc_bias"})
    assert opt._get_wd(0) == pytest.approx(0.1)
    assert opt._get_wd(1) == 0.0


def test_lr_scheduler_drives_learning_rate():
    from hybrix.lr_scheduler import FactorScheduler

    opt = optimizer.SGD(learning_rate=1.0, lr_scheduler=FactorScheduler(step=2, factor=0.5))
    weight = nd.zeros((2,))
    lrs = []
    for _ in range(5):
        opt.update(0, weight, nd.ones((2,)), None)
        lrs.append(opt.learning_rate)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert weight.asnumpy()[0] == pytest.approx(-(1.0 + 1.0 + 0.5 + 0.5 + 0.25))
    with pytest.raises(UserWarning):
        opt.set_learning_rate(0.1)


def test_fused_update_donates_and_matches_per_parameter(rng):
    weights = [rng.normal(size=s) for s in [(4, 3), (3,), (2, 2)]]
    grads = [rng.normal(size=w.shape) for w in weights]
    single = optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01)
    fused = optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01)
    arrays = [nd.array(w) for w in weights]
    states = [single.create_state(i, a) for i, a in enumerate(arrays)]
    for i in range(3):
        single.update(i, arrays[i], nd.array(grads[i]), states[i])
    fused_w = [nd.array(w) for w in weights]
    fused_s = [fused.create_state(i, a) for i, a in enumerate(fused_w)]
    fused.update_multi_precision([0, 1, 2], fused_w, [nd.array(g) for g in grads], fused_s)
    for a, b in zip(arrays, fused_w, strict=True):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)


def test_multi_precision_keeps_float32_master(rng):
    opt = optimizer.SGD(learning_rate=0.1, multi_precision=True)
    weight = nd.array(rng.normal(size=SHAPE), dtype="float16")
    state = opt.create_state_multi_precision(0, weight)
    master = state[0].asnumpy().copy()
    grad = rng.normal(size=SHAPE)
    opt.update_multi_precision(0, weight, nd.array(grad, dtype="float16"), state)
    expected = master - 0.1 * grad.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(state[0].asnumpy(), expected, rtol=1e-6)
    assert weight.dtype == np.float16


def test_unknown_optimizer_lists_known_names():
    with pytest.raises(OptimizerError, match=r"known optimizers: .*adam.*sgd"):
        optimizer.create("sgdd")


def test_unknown_argument_is_named():
    with pytest.raises(OptimizerError, match="momentam"):
        optimizer.create("sgd", momentam=0.9)


def test_register_custom_optimizer():
    @optimizer.register
    class HalfStep(optimizer.Optimizer):
        def _rule(self, jnp, weight, grad, state, scalars, rescale):
            return weight - 0.5 * grad, state

    opt = optimizer.create("halfstep")
    weight = nd.ones((2,))
    opt.update(0, weight, nd.ones((2,)), None)
    np.testing.assert_allclose(weight.asnumpy(), [0.5, 0.5])


def test_updater_states_round_trip(rng):
    opt = optimizer.Adam(learning_rate=0.1)
    updater = optimizer.get_updater(opt)
    weight = nd.array(rng.normal(size=SHAPE))
    grad = nd.array(rng.normal(size=SHAPE))
    updater(0, grad, weight)
    blob = updater.get_states(dump_optimizer=True)
    other = optimizer.get_updater(optimizer.Adam())
    other.set_states(blob)
    assert other.optimizer.lr == 0.1
    assert other.optimizer._index_update_count == {0: 1}
    np.testing.assert_allclose(other.states[0][0].asnumpy(), updater.states[0][0].asnumpy())
    copy = nd.array(weight.asnumpy())
    updater(0, grad, weight)
    other(0, grad, copy)
    np.testing.assert_allclose(weight.asnumpy(), copy.asnumpy(), rtol=1e-6)
    assert pickle.loads(blob)[1].param_dict == {}


def test_bad_states_blob_is_an_optimizer_error():
    with pytest.raises(OptimizerError, match="cannot read optimizer states"):
        optimizer.get_updater(optimizer.SGD()).set_states(b"not a pickle")


class _Mults:
    """A stand-in Parameter: its lr_mult/wd_mult take precedence (param_dict)."""

    def __init__(self, lr_mult=1.0, wd_mult=1.0):
        self.lr_mult, self.wd_mult = lr_mult, wd_mult


@pytest.mark.parametrize("name", ["sgd", "adam", "nadam"])
def test_scalar_array_equals_per_index_scalars_as_things_change(name):
    """`_scalar_array` (one pass, reused while unchanged) gives the rows and the update
    counts of MXNet's per-index `_scalars`, through every kind of change."""
    from hybrix.lr_scheduler import FactorScheduler

    def make(scheduler):
        params = {0: _Mults(), 1: _Mults(0.5, 0.0), 2: _Mults()}
        return optimizer.create(
            name,
            learning_rate=0.1,
            wd=0.01,
            param_dict=params,
            param_idx2name={3: "fc_bias"},
            lr_scheduler=FactorScheduler(step=2, factor=0.5) if scheduler else None,
        )

    changes = [
        lambda opt: None,
        lambda opt: None,
        lambda opt: opt._scalar_rows([2]) if opt.lr_scheduler else opt.set_learning_rate(0.3),
        lambda opt: setattr(opt.param_dict[0], "lr_mult", 2.0),
        lambda opt: setattr(opt, "wd", 0.5),
        lambda opt: setattr(opt.param_dict[2], "wd_mult", 0.25),
        lambda opt: opt.set_lr_mult({3: 4.0}),
        lambda opt: None,
    ]
    for scheduler in (False, True):
        fast, slow = make(scheduler), make(scheduler)
        indices = [0, 1, 2, 3]
        for change in changes:
            change(fast)
            if change is changes[2] and scheduler:  # the same extra count, the per-index way
                slow._scalars(2)
            else:
                change(slow)
            expected = np.array([slow._scalars(i) for i in indices], dtype=np.float64)
            np.testing.assert_array_equal(np.asarray(fast._scalar_array(indices)), expected)
            assert fast._all_index_update_counts == slow._all_index_update_counts
            assert fast.num_update == slow.num_update


def test_scalar_array_is_reused_until_a_row_changes():
    opt = optimizer.SGD(learning_rate=0.1, param_dict={0: _Mults(), 1: _Mults()})
    first = opt._scalar_array([0, 1])
    assert opt._scalar_array([0, 1]) is first
    assert opt._index_update_count == {0: 2, 1: 2}
    opt.set_learning_rate(0.2)
    second = opt._scalar_array([0, 1])
    assert second is not first
    np.testing.assert_allclose(np.asarray(second), [[0.2, 0.0], [0.2, 0.0]])
    opt.param_dict[1].lr_mult = 0.5
    np.testing.assert_allclose(np.asarray(opt._scalar_array([0, 1])), [[0.2, 0.0], [0.1, 0.0]])


def test_changed_hyperparameter_recompiles_the_update():
    """`_static_key` is cached; assigning a field it reads must drop the cache."""
    opt = optimizer.SGD(learning_rate=1.0, momentum=0.5)
    weight, state = nd.zeros((2,)), opt.create_state(0, nd.zeros((2,)))
    key = opt._static_key()
    opt.update(0, weight, nd.ones((2,)), state)  # mom = -1
    opt.rescale_grad = 0.5  # passed as data: the compiled update stays
    opt.rescale_grad = 1.0
    assert opt._static_key() is key
    opt.momentum = 0.0
    assert opt._static_key() != key
    opt.update(0, weight, nd.ones((2,)), state)  # mom = 0 * mom - 1
    np.testing.assert_allclose(state.asnumpy(), [-1.0, -1.0])
    np.testing.assert_allclose(weight.asnumpy(), [-2.0, -2.0])
    copy = pickle.loads(pickle.dumps(opt))
    assert copy._static_key() == opt._static_key()
    copy.clip_gradient = 0.1
    assert copy._static_key() != opt._static_key()
