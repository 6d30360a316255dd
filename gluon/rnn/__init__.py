"""gluon.rnn: fused recurrent layers (RNN, LSTM, GRU) and recurrent cells."""

from .rnn_cell import (
    GRUCell,
    HybridRecurrentCell,
    HybridSequentialRNNCell,
    LSTMCell,
    RecurrentCell,
    RNNCell,
    SequentialRNNCell,
)
from .rnn_layer import GRU, LSTM, RNN
from . import rnn_cell, rnn_layer

__all__ = rnn_cell.__all__ + rnn_layer.__all__
