"""autograd's API as MXNet 1.9: grad_req, head gradients, several heads, autograd.grad,
mark_variables, detach/BlockGrad, pause, modes, errors, record_op and Function."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import autograd, nd
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
            cached = len(autograd._VJPS)
    assert len(autograd._VJPS) == cached


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
