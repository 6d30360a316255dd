"""Gradients of recorded nd op chains: against central differences (float64) and against
jax.grad of the same math written by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import autograd, nd


def variables(rng, *shapes):
    arrays = []
    for shape in shapes:
        array = nd.array(rng.standard_normal(shape), dtype=np.float64)
        array.attach_grad()
        arrays.append(array)
    return arrays


def autograd_grads(fn, arrays):
    with autograd.record():
        loss = fn(*arrays)
    loss.backward()
    return [a.grad.asnumpy() for a in arrays]


def check_finite_differences(fn, arrays, grads, rng, eps=1e-6, rtol=1e-6):
    """The directional derivative along a random direction matches sum(grad * direction)."""
    values = [a.asnumpy() for a in arrays]
    directions = [rng.standard_normal(v.shape) for v in values]

    def at(step):
        shifted = [
            nd.array(v + step * d, dtype=np.float64)
            for v, d in zip(values, directions, strict=True)
        ]
        return float(fn(*shifted).asnumpy().sum())

    numeric = (at(eps) - at(-eps)) / (2 * eps)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, directions, strict=True))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=1e-7)


def check_against_jax(jax_fn, arrays, grads):
    import jax

    values = [np.asarray(a.asnumpy()) for a in arrays]
    expected = jax.grad(jax_fn, argnums=tuple(range(len(values))))(*values)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-10, atol=1e-12)


def test_broadcast_and_reduce_chain(rng):
    import jax.numpy as jnp

    arrays = variables(rng, (3, 1, 4), (5, 1), (4,))

    def fn(a, b, c):
        h = nd.broadcast_mul(nd.tanh(a), b) + c
        return nd.sum(nd.exp(h) * h, axis=(0, 2)).mean() + nd.max(h, axis=1).sum()

    def jax_fn(a, b, c):
        h = jnp.tanh(a) * b + c
        return jnp.sum(jnp.exp(h) * h, axis=(0, 2)).mean() + jnp.max(h, axis=1).sum()

    grads = autograd_grads(fn, arrays)
    check_finite_differences(fn, arrays, grads, rng)
    check_against_jax(jax_fn, arrays, grads)


def test_split_reshape_and_operators(rng):
    import jax.numpy as jnp

    arrays = variables(rng, (2, 6, 3))

    def fn(x):
        first, second, third = nd.split(x, num_outputs=3, axis=1)
        merged = (first * 2 - third / 3) ** 2 + second.reshape((0, -1)).reshape((2, 2, 3))
        return (1.0 - merged).sum()

    def jax_fn(x):
        first, second, third = jnp.split(x, 3, axis=1)
        return (1.0 - ((first * 2 - third / 3) ** 2 + second)).sum()

    grads = autograd_grads(fn, arrays)
    check_finite_differences(fn, arrays, grads, rng)
    check_against_jax(jax_fn, arrays, grads)


def test_only_some_split_outputs_used(rng):
    (x,) = variables(rng, (4, 2))
    with autograd.record():
        parts = nd.split(x, num_outputs=2, axis=0)
        loss = (parts[1] * 3).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[0, 0], [0, 0], [3, 3], [3, 3]])


def test_fully_connected_and_convolution(rng):
    import jax
    import jax.numpy as jnp

    arrays = variables(rng, (2, 3, 6, 6), (4, 3, 3, 3), (4,), (5, 64), (5,))

    def fn(x, w, b, fc_w, fc_b):
        h = nd.Convolution(x, w, b, kernel=(3, 3), num_filter=4)
        h = nd.Activation(h, act_type="tanh")
        out = nd.FullyConnected(h, fc_w, fc_b, num_hidden=5)
        return nd.log_softmax(out, axis=-1).sum()

    def jax_fn(x, w, b, fc_w, fc_b):
        h = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID") + b[None, :, None, None]
        h = jnp.tanh(h).reshape(2, -1)
        return jax.nn.log_softmax(h @ fc_w.T + fc_b, axis=-1).sum()

    grads = autograd_grads(fn, arrays)
    check_finite_differences(fn, arrays, grads, rng)
    check_against_jax(jax_fn, arrays, grads)


def test_batchnorm_train_mode_updates_moving_stats(rng):
    import jax.numpy as jnp

    x, gamma, beta = variables(rng, (4, 3, 2, 2), (3,), (3,))
    moving_mean = nd.zeros((3,), dtype=np.float64)
    moving_var = nd.ones((3,), dtype=np.float64)
    head = rng.standard_normal((4, 3, 2, 2))

    def fn(x, gamma, beta):
        out = nd.BatchNorm(x, gamma, beta, moving_mean, moving_var, fix_gamma=False, eps=1e-5)
        return out * nd.array(head, dtype=np.float64)

    def jax_fn(x, gamma, beta):
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        norm = (x - mean) / jnp.sqrt(var + 1e-5)
        return (norm * gamma[None, :, None, None] + beta[None, :, None, None]) * head

    arrays = [x, gamma, beta]
    grads = autograd_grads(lambda *a: fn(*a).sum(), arrays)
    np.testing.assert_allclose(
        moving_mean.asnumpy(), 0.1 * x.asnumpy().mean(axis=(0, 2, 3)), rtol=1e-12
    )
    with autograd.train_mode():
        check_finite_differences(lambda *a: fn(*a).sum(), arrays, grads, rng)
    check_against_jax(lambda *a: jax_fn(*a).sum(), arrays, grads)


def test_dropout_train_mode_uses_its_mask(rng):
    x = nd.array(rng.uniform(1, 2, (50, 40)), dtype=np.float64)
    x.attach_grad()
    with autograd.record():
        out = nd.Dropout(x, p=0.3)
    head = rng.standard_normal((50, 40))
    out.backward(nd.array(head, dtype=np.float64))
    kept = out.asnumpy() != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(x.grad.asnumpy(), np.where(kept, head / 0.7, 0.0), rtol=1e-12)


def test_dropout_predict_mode_is_identity(rng):
    (x,) = variables(rng, (3, 4))
    with autograd.record(train_mode=False):
        out = nd.Dropout(x, p=0.5)
    out.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.ones((3, 4)))


def test_rnn_lstm(rng):
    hidden, size_in = 3, 2
    params = 4 * hidden * (size_in + hidden) + 8 * hidden
    arrays = variables(rng, (4, 2, size_in), (params,), (1, 2, hidden), (1, 2, hidden))
    for array in arrays:
        array[:] = array * 0.5

    def fn(data, parameters, state, cell):
        out, h, c = nd.RNN(
            data,
            parameters,
            state,
            cell,
            state_size=hidden,
            num_layers=1,
            mode="lstm",
            state_outputs=True,
        )
        return (out * out).sum() + h.sum() + (c * 2).sum()

    grads = autograd_grads(fn, arrays)
    check_finite_differences(fn, arrays, grads, rng)


def test_integer_inputs_and_index_outputs_get_no_gradient(rng):
    (table,) = variables(rng, (5, 3))
    indices = nd.array([0, 2, 2], dtype=np.int64)
    with autograd.record():
        picked = nd.take(table, indices)
        position = nd.argmax(picked, axis=1)
        loss = picked.sum() + position.astype(np.float64).sum()
    loss.backward()
    np.testing.assert_array_equal(table.grad.asnumpy().sum(axis=1), [3, 0, 6, 0, 0])


def test_indexing_records(rng):
    (x,) = variables(rng, (3, 4))
    with autograd.record():
        loss = x[1].sum() + (x[:, 1:3] * 2).sum() + x[[0, 0], 3].sum()
    loss.backward()
    expected = np.zeros((3, 4))
    expected[1] += 1
    expected[:, 1:3] += 2
    expected[0, 3] += 2
    np.testing.assert_array_equal(x.grad.asnumpy(), expected)


def test_setitem_of_a_recorded_value(rng):
    (v,) = variables(rng, (2,))
    with autograd.record():
        target = nd.zeros((3, 2), dtype=np.float64)
        target[1] = v * 3
        loss = (target * target).sum()
    loss.backward()
    np.testing.assert_allclose(v.grad.asnumpy(), 18 * v.asnumpy())


def test_copy_astype_and_as_in_context_pass_gradients(rng):
    (x,) = variables(rng, (2, 2))
    with autograd.record():
        y = x.copy().astype(np.float32).as_in_context(x.context)
        loss = (y * 2).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.full((2, 2), 2.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_gradients(dtype):
    x = nd.array([1.0, 2.0], dtype=dtype)
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.asnumpy(), [2.0, 4.0])


def test_copy_survives_donation_of_the_original():
    """A snapshot made with copy() must outlive a donated update of the original buffer."""
    import jax

    from hybrix import nd

    weight = nd.array(np.arange(4.0, dtype=np.float32))
    snapshot = weight.copy()
    weight._data = jax.jit(lambda w: w * 2, donate_argnums=0)(weight._data)
    np.testing.assert_array_equal(snapshot.asnumpy(), np.arange(4.0, dtype=np.float32))
