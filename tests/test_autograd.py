"""autograd's API as MXNet 1.9: grad_req, head gradients, several heads, autograd.grad,
mark_variables, detach/BlockGrad, pause, modes, errors, record_op and Function."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import _jitted_vjp, autograd, nd
from hybrix.autograd import AutogradError
from hybrix.ir import HybrixError


def variable(values, grad_req="write"):
    array = nd.array(values, dtype=np.float64)
    array.attach_grad(grad_req)
    return array


def test_attach_grad_gives_zeros_and_grad_is_none_without():
    x = nd.array([1.0, 2.0])
    assert x.grad is None
    x.attach_grad()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])


def test_grad_req_write_add_null():
    x, y, z = variable([1.0, 2.0]), variable([1.0, 2.0], "add"), variable([3.0], "null")
    for _ in range(2):
        with autograd.record():
            loss = (x * x).sum() + (y * 3).sum() + z.sum()
        loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2, 4])
    np.testing.assert_array_equal(y.grad.asnumpy(), [6, 6])
    np.testing.assert_array_equal(z.grad.asnumpy(), [0])


def test_write_zeroes_a_variable_whose_path_is_blocked():
    x = variable([1.0, 2.0])
    x.grad[:] = 5
    with autograd.record():
        loss = nd.BlockGrad(x * 2).sum() + nd.stop_gradient(x).sum()
        other = variable([1.0])
        loss = loss + other.sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])
    np.testing.assert_array_equal(other.grad.asnumpy(), [1])


def test_detach_cuts_the_graph():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = x * x
        loss = (y.detach() * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 4])


def test_head_gradient_and_several_heads():
    x = variable([1.0, 2.0, 3.0])
    with autograd.record():
        y = x * x
        z = x * 3
    y.backward(nd.array([1.0, 0.0, 2.0], dtype=np.float64))
    np.testing.assert_array_equal(x.grad.asnumpy(), [2, 0, 12])
    with autograd.record():
        y = x * x
        z = x * 3
    autograd.backward([y, z], [nd.ones((3,), dtype=np.float64), nd.array([1.0, 2.0, 3.0])])
    np.testing.assert_array_equal(x.grad.asnumpy(), [2 + 3, 4 + 6, 6 + 9])


def test_head_shared_by_two_heads_sums():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = x * 2
    autograd.backward([y, y])
    np.testing.assert_array_equal(x.grad.asnumpy(), [4, 4])


def test_head_that_is_a_variable():
    x = variable([1.0, 2.0])
    x.backward(nd.array([3.0, 4.0], dtype=np.float64))
    np.testing.assert_array_equal(x.grad.asnumpy(), [3, 4])


def test_autograd_grad_returns_new_arrays_and_leaves_grad():
    x, y = variable([1.0, 2.0]), variable([3.0])
    with autograd.record():
        z = nd.elemwise_add(nd.exp(x), x)
    dx, dy = autograd.grad(z, [x, y])
    np.testing.assert_allclose(dx.asnumpy(), np.exp([1.0, 2.0]) + 1)
    np.testing.assert_array_equal(dy.asnumpy(), [0])
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])


def test_autograd_grad_needs_marked_variables():
    x = variable([1.0])
    plain = nd.array([1.0], dtype=np.float64)
    with autograd.record():
        z = x * plain
    with pytest.raises(AutogradError, match="does not require gradient"):
        autograd.grad(z, [plain])


def test_create_graph_second_order():
    x = variable([0.5, 2.0])
    with autograd.record():
        y = (x**3).sum()
        (dx,) = autograd.grad(y, [x], create_graph=True)
        second = (dx * nd.sin(x)).sum()
    np.testing.assert_allclose(dx.asnumpy(), 3 * x.asnumpy() ** 2)
    second.backward()
    values = x.asnumpy()
    np.testing.assert_allclose(
        x.grad.asnumpy(), 6 * values * np.sin(values) + 3 * values**2 * np.cos(values)
    )


def test_create_graph_gradient_depends_on_the_other_variables():
    """d/dw of (d/dx sum(x * w))^2 = 2w: the recorded gradient reads w (MXNet)."""
    x, w = variable([1.0, 2.0]), variable([3.0, -4.0])
    with autograd.record():
        (dx,) = autograd.grad((x * w).sum(), [x], create_graph=True)
        z = (dx * dx).sum()
    z.backward()
    np.testing.assert_array_equal(dx.asnumpy(), [3, -4])
    np.testing.assert_array_equal(w.grad.asnumpy(), [6, -8])
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0])


def test_mark_variables_with_own_buffers_and_cut_history():
    a = nd.array([1.0, 2.0], dtype=np.float64)
    a_grad = nd.zeros((2,), dtype=np.float64)
    autograd.mark_variables(a, a_grad, "add")
    with autograd.record():
        b = a * 2
        b_grad = nd.zeros((2,), dtype=np.float64)
        autograd.mark_variables([b], [b_grad])
        loss = (b * b).sum()
    loss.backward()
    np.testing.assert_array_equal(b_grad.asnumpy(), [4, 8])
    np.testing.assert_array_equal(a_grad.asnumpy(), [0, 0])  # b's history was cut
    with pytest.raises(AutogradError, match="grad_req"):
        autograd.mark_variables(a, a_grad, "sometimes")


def test_pause_inside_record():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = x * 2
        with autograd.pause():
            assert not autograd.is_recording()
            constant = x * 10
        loss = (y * constant).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [20, 40])


def test_training_flag_inside_record():
    with autograd.record(train_mode=False):
        assert autograd.is_recording()
        assert not autograd.is_training()
    with autograd.record():
        assert autograd.is_training()


def test_backward_without_record_raises():
    x = variable([1.0])
    y = x * 2
    with pytest.raises(HybrixError, match=r"not in a computational graph.*autograd.record"):
        y.backward()


def test_second_backward_needs_retain_graph():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2, 4])
    with pytest.raises(HybrixError, match=r"freed.*retain_graph=True"):
        y.backward()


def test_no_variable_in_graph_raises():
    x = nd.array([1.0], dtype=np.float64)
    y = variable([1.0], "null")
    with autograd.record():
        z = x * y
    with pytest.raises(AutogradError, match="no inputs"):
        z.backward()


def test_bad_head_gradient_shape():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = x * 2
    with pytest.raises(AutogradError, match=r"head gradient 0 has shape \(3,\)"):
        y.backward(nd.ones((3,)))


def test_inplace_on_a_recorded_array_raises_and_gradients_stay_right():
    x = variable([1.0, 2.0])
    with autograd.record():
        y = x * x
        with pytest.raises(AutogradError, match="in a computational graph"):
            y += 1
        with pytest.raises(AutogradError, match="in a computational graph"):
            x[:] = 0
        with pytest.raises(AutogradError, match="in a computational graph"):
            nd.relu(y, out=y)
        plain = nd.zeros((2,), dtype=np.float64)
        plain += y  # a fresh array may take a recorded result
        loss = (plain * 3).sum()
    x[:] = 100  # outside record: allowed; the recorded inputs are kept as they were
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6, 12])


def test_record_op_with_a_jitted_multi_input_function():
    import jax
    import jax.numpy as jnp

    @jax.jit
    def block(x, w, steps):
        h = jnp.tanh(x @ w)
        return h.sum(axis=1), h * 2, steps + 1  # integer last output: hidden, no gradient

    x, w = variable(np.ones((2, 3)) * 0.1), variable(np.arange(12.0).reshape(3, 4) / 10)
    steps = nd.array([1], dtype=np.int64)
    for _ in range(2):
        with autograd.record():
            results = block(x._data, w._data, steps._data)
            outputs = [nd.NDArray(r) for r in results[:2]]
            autograd.record_op(block, [x, w, steps], outputs)
            loss = outputs[0].sum() + (outputs[1] * outputs[1]).sum()
        loss.backward()

    def reference(x, w):
        h = jnp.tanh(x @ w)
        return h.sum() + ((h * 2) ** 2).sum()

    want = jax.grad(reference, argnums=(0, 1))(x.asnumpy(), w.asnumpy())
    np.testing.assert_allclose(x.grad.asnumpy(), want[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.asnumpy(), want[1], rtol=1e-12)


def test_vjp_is_cached_per_op_and_signature():
    x = variable(np.ones((3, 3)))
    for _ in range(3):
        with autograd.record():
            loss = nd.sigmoid(x * 2.5).sum()
        loss.backward()
        if _ == 0:
            cached = len(_jitted_vjp._VJPS)
    assert len(_jitted_vjp._VJPS) == cached


class Sigmoid(autograd.Function):
    def forward(self, x):
        assert not autograd.is_recording()
        y = 1 / (1 + nd.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, dy):
        (y,) = self.saved_tensors
        return dy * y * (1 - y)


def test_custom_function():
    x = variable([0.0, 1.0])
    with autograd.record():
        y = Sigmoid()(x)
        loss = (y * 2).sum()
    loss.backward()
    s = 1 / (1 + np.exp(-np.array([0.0, 1.0])))
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * s * (1 - s))
    function = Sigmoid()
    function(x)
    with pytest.raises(AutogradError, match="only be called once"):
        function(x)


def test_attach_grad_rejects_sparse():
    with pytest.raises(HybrixError, match="stype"):
        nd.array([1.0]).attach_grad(stype="row_sparse")


def _block(x, w, steps, scale):
    import jax.numpy as jnp

    h = jnp.tanh(x @ w) * scale
    return h.sum(axis=1), h * 2, steps + 1, h.mean()  # int output, then a hidden one


def _reference(x, w, used=(True, True)):
    import jax
    import jax.numpy as jnp

    def loss(x, w):
        first, second, _, _ = _block(x, w, jnp.zeros(1, jnp.int64), 0.5)
        return used[0] * (first**2).sum() + used[1] * (second * second).sum()

    return jax.grad(loss, argnums=(0, 1))(x, w)


def _call_block(x, w, steps):
    import jax.numpy as jnp

    scale = jnp.asarray(0.5, jnp.float64)  # a constant: no gradient
    return autograd.call_recorded(_block, [x, w, steps], [scale], 3, key="test-block")


def test_call_recorded_keeps_residuals_and_matches_jax():
    x, w = variable(np.ones((2, 3)) * 0.1), variable(np.arange(12.0).reshape(3, 4) / 10)
    steps = nd.array([1], dtype=np.int64)
    (first, second, count), (mean,) = _call_block(x, w, steps)  # not recording: no graph
    assert first._ag is None
    np.testing.assert_array_equal(count.asnumpy(), [2])
    np.testing.assert_allclose(float(mean), second.asnumpy().mean() / 2)
    want = _reference(x.asnumpy(), w.asnumpy())
    for _ in range(2):
        with autograd.record():
            (first, second, count), _ = _call_block(x, w, steps)
            loss = (first * first).sum() + (second * second).sum()
        node = first._ag[0]
        assert node.residuals is not None
        assert node.diff_in == (True, True, False, False)
        assert node.diff_out == (True, True, False)
        loss.backward()
        assert node.residuals is None  # freed with the graph
        assert node.primals is None
        assert not any(key[0] == "test-block" for key in _jitted_vjp._VJPS)  # no forward rerun
        np.testing.assert_allclose(x.grad.asnumpy(), want[0], rtol=1e-12)
        np.testing.assert_allclose(w.grad.asnumpy(), want[1], rtol=1e-12)


def test_call_recorded_unused_output_retain_graph_and_one_variable():
    x = variable(np.ones((2, 3)) * 0.1, "add")
    w = variable(np.arange(12.0).reshape(3, 4) / 10)
    steps = nd.array([1], dtype=np.int64)
    want = _reference(x.asnumpy(), w.asnumpy(), used=(False, True))
    with autograd.record():
        (_, second, _), _ = _call_block(x, w, steps)  # first output unused: zero cotangent
        loss = (second * second).sum()
    (grad_w,) = autograd.grad(loss, [w], retain_graph=True)
    np.testing.assert_allclose(grad_w.asnumpy(), want[1], rtol=1e-12)
    assert x.grad.asnumpy().sum() == 0
    loss.backward(retain_graph=True)
    loss.backward()  # grad_req 'add': twice
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * want[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.asnumpy(), want[1], rtol=1e-12)


def test_call_recorded_uses_the_recorded_values():
    x, w = variable(np.ones((2, 3)) * 0.1), variable(np.arange(12.0).reshape(3, 4) / 10)
    want = _reference(x.asnumpy(), w.asnumpy())
    with autograd.record():
        (first, second, _), _ = _call_block(x, w, nd.array([1], dtype=np.int64))
        loss = (first * first).sum() + (second * second).sum()
    x[:] = 5.0  # outside record: allowed; MXNet differentiates the recorded values
    w[:] = -1.0
    loss.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), want[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.asnumpy(), want[1], rtol=1e-12)


def test_call_recorded_create_graph_differentiates_the_gradient():
    import jax
    import jax.numpy as jnp

    x, w = variable(np.ones((2, 3)) * 0.1), variable(np.arange(12.0).reshape(3, 4) / 10)
    with autograd.record():
        (first, _, _), _ = _call_block(x, w, nd.array([1], dtype=np.int64))
        (dx,) = autograd.grad((first * first).sum(), [x], create_graph=True)
        z = (dx * dx).sum()
    z.backward()

    def norm(x, w):
        dx = jax.grad(lambda x: ((jnp.tanh(x @ w) * 0.5).sum(axis=1) ** 2).sum())(x)
        return (dx * dx).sum()

    want = jax.grad(norm, argnums=(0, 1))(x.asnumpy(), w.asnumpy())
    np.testing.assert_allclose(x.grad.asnumpy(), want[0], rtol=1e-10)
    np.testing.assert_allclose(w.grad.asnumpy(), want[1], rtol=1e-10)


def test_call_recorded_without_gradients_keeps_no_residuals():
    x = nd.array(np.ones((2, 3)), dtype=np.float64)
    w = variable(np.ones((3, 4)), "null")
    with autograd.record():
        (first, _, _), _ = _call_block(x, w, nd.array([1], dtype=np.int64))
    assert first._ag[0].residuals is not None  # w is marked, even if 'null'
    steps = nd.array([1], dtype=np.int64)
    steps.attach_grad()  # in the graph, but integers get no gradient
    with autograd.record():
        (first, _, _), _ = _call_block(x, nd.array(np.ones((3, 4))), steps)
    assert first._ag[0].diff_in == (False, False, False, False)
    assert first._ag[0].residuals is None
    with autograd.record():
        (first, _, _), _ = _call_block(x, nd.array(np.ones((3, 4))), nd.array([1]))
    assert first._ag is None  # no input in a graph: nothing recorded
