"""Samples for the fused RNN op and _rnn_param_concat (ir/ops/rnn.py); sizes are tiny so the
float64 finite-difference gradient check stays quick."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _param_size(mode, layers, bidirectional, input_size, hidden):
    """MXNet's GetRnnParamSize without projection."""
    directions = 2 if bidirectional else 1
    rows = _GATES[mode] * hidden * directions
    first = (input_size + hidden + 2) * rows
    rest = (directions * hidden + hidden + 2) * rows
    return first + (layers - 1) * rest


def _rnn(
    mode,
    steps=3,
    batch=2,
    input_size=3,
    hidden=3,
    layers=1,
    bidirectional=False,
    lengths=None,
    name="",
    dtypes=("float32", "float64"),
    **attrs,
):
    """One RNN sample: data, parameters, state (and state_cell, sequence_length)."""
    directions = 2 if bidirectional else 1
    size = _param_size(mode, layers, bidirectional, input_size, hidden)
    args = [
        _rng.standard_normal((steps, batch, input_size)),
        _rng.uniform(-0.6, 0.6, size),
        _rng.standard_normal((layers * directions, batch, hidden)) * 0.5,
    ]
    if mode == "lstm":
        args.append(_rng.standard_normal((layers * directions, batch, hidden)) * 0.5)
    if lengths is not None:
        args.append(np.asarray(lengths))
        attrs["use_sequence_length"] = True
    attrs = {
        "state_size": hidden,
        "num_layers": layers,
        "mode": mode,
        "bidirectional": bidirectional,
        **attrs,
    }
    return Sample("RNN", args, attrs, name=name, dtypes=dtypes)


_SEQ = np.float32  # MXNet passes sequence_length as float32, like other index inputs


def _with_nan_cell(sample):
    """A NaN in the initial cell state: lstm_state_clip_nan clips it instead of propagating."""
    sample.args[3][0, 0, 1] = np.nan
    sample.grad = False
    return sample


SAMPLES = [
    # each mode, one layer, with and without the final states
    _rnn("rnn_tanh", name="rnn_tanh"),
    _rnn("rnn_tanh", state_outputs=True, name="rnn_tanh_states"),
    _rnn("rnn_relu", state_outputs=True, name="rnn_relu_states"),
    _rnn("lstm", name="rnn_lstm"),
    _rnn(
        "lstm", state_outputs=True, name="rnn_lstm_states", dtypes=("float16", "float32", "float64")
    ),
    _rnn("gru", name="rnn_gru"),
    _rnn("gru", state_outputs=True, name="rnn_gru_states"),
    # two layers, bidirectional
    _rnn("rnn_relu", layers=2, name="rnn_relu_2layer"),
    _rnn("lstm", layers=2, state_outputs=True, name="rnn_lstm_2layer"),
    _rnn("gru", layers=2, bidirectional=True, state_outputs=True, name="rnn_gru_2layer_bidir"),
    _rnn("lstm", bidirectional=True, state_outputs=True, name="rnn_lstm_bidir"),
    _rnn(
        "lstm",
        layers=2,
        bidirectional=True,
        state_outputs=True,
        hidden=2,
        name="rnn_lstm_2layer_bidir",
    ),
    _rnn("rnn_tanh", bidirectional=True, name="rnn_tanh_bidir"),
    # batch of 1, one step, layer input size differing from the hidden size
    _rnn("gru", batch=1, state_outputs=True, name="rnn_gru_batch1"),
    _rnn(
        "lstm", steps=1, batch=1, input_size=2, hidden=3, state_outputs=True, name="rnn_lstm_step1"
    ),
    _rnn("rnn_tanh", steps=4, input_size=1, hidden=2, layers=2, name="rnn_tanh_input1"),
    # sequence_length masking: float32 and int lengths, full, partial and zero length
    _rnn(
        "lstm",
        steps=4,
        bidirectional=True,
        state_outputs=True,
        lengths=np.array([4, 2], _SEQ),
        name="rnn_lstm_seqlen_bidir",
    ),
    _rnn(
        "gru",
        steps=4,
        layers=2,
        state_outputs=True,
        lengths=np.array([1, 3], np.int32),
        name="rnn_gru_seqlen_2layer",
    ),
    _rnn(
        "rnn_tanh",
        steps=3,
        bidirectional=True,
        state_outputs=True,
        lengths=np.array([0, 3], np.int64),
        name="rnn_tanh_seqlen_zero",
    ),
    _rnn(
        "rnn_relu", steps=3, batch=1, lengths=np.array([2], np.int32), name="rnn_relu_seqlen_batch1"
    ),
    # LSTM state clipping, NaN clipping, inference-mode dropout (identity)
    _rnn(
        "lstm",
        steps=4,
        state_outputs=True,
        lstm_state_clip_min=-0.3,
        lstm_state_clip_max=0.4,
        name="rnn_lstm_clip",
    ),
    _rnn(
        "lstm",
        state_outputs=True,
        lstm_state_clip_min=-0.3,
        lstm_state_clip_max=0.4,
        lstm_state_clip_nan=True,
        name="rnn_lstm_clip_nan",
    ),
    _with_nan_cell(
        _rnn(
            "lstm",
            state_outputs=True,
            lstm_state_clip_min=-0.3,
            lstm_state_clip_max=0.4,
            lstm_state_clip_nan=True,
            name="rnn_lstm_clip_nan_in_state",
        )
    ),
    _rnn("gru", layers=2, p=0.5, name="rnn_gru_dropout_inference"),
    # empty sequence: the output is empty and the final states are the initial ones
    _rnn("lstm", steps=0, state_outputs=True, name="rnn_lstm_empty"),
    # _rnn_param_concat as Gluon exports it: flattened weights and biases along dim 0
    Sample(
        "_rnn_param_concat",
        [_rng.standard_normal(n) for n in (12, 16, 4, 4)],
        {"dim": 0, "num_args": 4},
        name="rnn_param_concat",
    ),
    Sample(
        "_rnn_param_concat",
        [_rng.standard_normal((2, n)) for n in (1, 3)],
        {"dim": -1},
        name="rnn_param_concat_dim_neg",
    ),
    Sample(
        "_rnn_param_concat",
        [_rng.standard_normal((2, 3)), _rng.standard_normal((0, 3))],
        {"dim": 0, "num_args": 2},
        name="rnn_param_concat_empty",
    ),
    Sample("_rnn_param_concat", [_rng.standard_normal(5)], {"dim": 0}, name="rnn_param_concat_one"),
]
