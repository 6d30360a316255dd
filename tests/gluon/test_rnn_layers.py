"""gluon.rnn: fused RNN/LSTM/GRU layers (MXNet's names, shapes, states) checked against
the step-by-step cells, and the cells' unroll."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import autograd, init, nd
from hybrix.gluon import rnn
from hybrix.gluon.block import NameManager
from hybrix.ir import HybrixError


def test_parameter_names_and_shapes():
    with NameManager():
        layer = rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=3)
    shapes = {k: v.shape for k, v in layer.collect_params().items()}
    expected = {}
    for layer_index, width in ((0, 3), (1, 16)):
        for direction in "lr":
            name = f"lstm0_{direction}{layer_index}"
            expected[f"{name}_i2h_weight"] = (32, width)
            expected[f"{name}_h2h_weight"] = (32, 8)
            expected[f"{name}_i2h_bias"] = (32,)
            expected[f"{name}_h2h_bias"] = (32,)
    assert shapes == expected
    assert list(shapes)[:4] == [
        "lstm0_l0_i2h_weight",
        "lstm0_l0_h2h_weight",
        "lstm0_l0_i2h_bias",
        "lstm0_l0_h2h_bias",
    ]
    with NameManager():
        assert rnn.GRU(5).l0_i2h_weight.name == "gru0_l0_i2h_weight"
        assert rnn.GRU(5).l0_h2h_weight.shape == (15, 5)
        assert rnn.RNN(4, activation="tanh").l0_i2h_weight.shape == (4, 0)
    assert repr(layer) == "LSTM(3 -> 8, TNC, num_layers=2, bidirectional)"


def _cell_for(mode, hidden, prefix):
    if mode == "lstm":
        return rnn.LSTMCell(hidden, prefix=prefix)
    if mode == "gru":
        return rnn.GRUCell(hidden, prefix=prefix)
    return rnn.RNNCell(hidden, activation=mode, prefix=prefix)


@pytest.mark.parametrize("mode", ["lstm", "gru", "tanh", "relu"])
def test_fused_layer_equals_unrolled_cells(mode, rng):
    layers = {"lstm": rnn.LSTM, "gru": rnn.GRU}
    if mode in layers:
        layer = layers[mode](5, num_layers=2, layout="NTC", prefix="net_")
    else:
        layer = rnn.RNN(5, num_layers=2, activation=mode, layout="NTC", prefix="net_")
    layer.initialize(init.Uniform(0.5))
    x = nd.array(rng.standard_normal((3, 4, 2)))
    out = layer(x).asnumpy()
    # NOTE: as MXNet's _unfuse: cells created in a stack sharing the layer's parameters
    stack = rnn.SequentialRNNCell(prefix="net_", params=layer.collect_params())
    with stack.name_scope():
        for index in range(2):
            stack.add(_cell_for(mode, 5, f"l{index}_"))
    outputs, states = stack.unroll(4, x, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(outputs.asnumpy(), out, rtol=1e-5, atol=1e-6)
    assert outputs.shape == (3, 4, 5)
    assert states[0].shape == (3, 5)


def test_states_in_and_out_and_layouts(rng):
    layer = rnn.LSTM(6, num_layers=2, input_size=3)
    layer.initialize()
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    begin = layer.begin_state(batch_size=2)
    assert [s.shape for s in begin] == [(2, 2, 6), (2, 2, 6)]
    out, (h, c) = layer(nd.array(x), begin)
    assert out.shape == (4, 2, 6)
    assert h.shape == c.shape == (2, 2, 6)
    np.testing.assert_allclose(h.asnumpy()[1], out.asnumpy()[-1], rtol=1e-6)
    ntc = rnn.LSTM(
        6, num_layers=2, layout="NTC", params=layer.collect_params(), prefix=layer.prefix
    )
    swapped = ntc(nd.array(x.transpose(1, 0, 2))).asnumpy()
    np.testing.assert_allclose(swapped.transpose(1, 0, 2), out.asnumpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(HybrixError, match="Expecting"):
        layer(nd.array(x), [nd.zeros((1, 2, 6)), nd.zeros((1, 2, 6))])


def test_hybridized_layer_equals_imperative(rng):
    layer = rnn.GRU(4, bidirectional=True, layout="NTC")
    layer.initialize()
    x = nd.array(rng.standard_normal((2, 5, 3)))
    eager = layer(x).asnumpy()
    assert layer.l0_i2h_weight.shape == (12, 3)  # deferred input_size
    layer.hybridize()
    np.testing.assert_allclose(layer(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    state = layer.begin_state(2)
    out, new_state = layer(x, state)
    assert out.shape == (2, 5, 8)
    assert new_state[0].shape == (2, 2, 4)


def test_dropout_between_layers_in_training(rng):
    layer = rnn.LSTM(8, num_layers=2, dropout=0.5, input_size=3)
    layer.initialize()
    x = nd.array(rng.standard_normal((5, 2, 3)))
    predicted = layer(x).asnumpy()
    with autograd.record():
        first = layer(x).asnumpy()
        second = layer(x).asnumpy()
    assert not np.allclose(first, second)
    assert not np.allclose(first, predicted)
    assert repr(layer) == "LSTM(3 -> 8, TNC, num_layers=2, dropout=0.5)"


def test_cell_unroll_lists_and_repr(rng):
    cell = rnn.LSTMCell(4, input_size=3)
    cell.initialize()
    steps = [nd.array(rng.standard_normal((2, 3))) for _ in range(3)]
    outputs, _states = cell.unroll(3, steps, merge_outputs=False)
    assert isinstance(outputs, list)
    assert len(outputs) == 3
    assert outputs[0].shape == (2, 4)
    merged, _ = cell.unroll(3, steps, merge_outputs=True)
    np.testing.assert_allclose(merged.asnumpy()[:, 2], outputs[2].asnumpy(), rtol=1e-6)
    assert repr(cell) == "LSTMCell(3 -> 16, tanh)"
    with pytest.raises(HybrixError, match="length"):
        cell.unroll(4, steps)
