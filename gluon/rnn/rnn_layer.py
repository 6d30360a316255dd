"""Fused recurrent layers RNN, LSTM, GRU as in MXNet 1.9.1's gluon/rnn/rnn_layer.py.

Parameters per layer l and direction d (l, r): `{d}{l}_i2h_weight` (gates*H, in),
`{d}{l}_h2h_weight` (gates*H, H), `{d}{l}_i2h_bias`, `{d}{l}_h2h_bias` (gates*H,). The
forward flattens them in MXNet's order (all weights, then all biases; per layer, per
direction, i2h before h2h) into one vector with `_rnn_param_concat` and runs the fused
`RNN` op, swapping axes for layout 'NTC'. Without states the layer starts from zeros
and returns only the output; with states it returns (output, new states).
"""

from __future__ import annotations

from typing import Any

from hybrix import ndarray as nd
from hybrix.gluon.block import HybridBlock
from hybrix.ir import HybrixError

__all__ = ["GRU", "LSTM", "RNN"]

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


class _RNNLayer(HybridBlock):
    """The fused multi-layer RNN shared by RNN, LSTM and GRU."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int,
        layout: str,
        dropout: float,
        bidirectional: bool,
        input_size: int,
        i2h_weight_initializer: Any,
        h2h_weight_initializer: Any,
        i2h_bias_initializer: Any,
        h2h_bias_initializer: Any,
        mode: str,
        dtype: Any = "float32",
        projection_size: int | None = None,
        lstm_state_clip_min: float | None = None,
        lstm_state_clip_max: float | None = None,
        lstm_state_clip_nan: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise HybrixError(f"Invalid layout {layout}; must be one of ['TNC' or 'NTC']")
        if projection_size is not None:
            raise HybrixError("projection_size (LSTMP) is not supported; it is cuDNN-only in MXNet")
        self._hidden_size = hidden_size
        self._num_layers = num_layers
        self._mode = mode
        self._layout = layout
        self._dropout = dropout
        self._dir = 2 if bidirectional else 1
        self._input_size = input_size
        self._dtype = dtype
        self._gates = _GATES[mode]
        self._clip = {
            "lstm_state_clip_min": lstm_state_clip_min,
            "lstm_state_clip_max": lstm_state_clip_max,
            "lstm_state_clip_nan": lstm_state_clip_nan,
        }
        inits = (i2h_weight_initializer, h2h_weight_initializer)
        bias_inits = (i2h_bias_initializer, h2h_bias_initializer)
        gates, hidden, width = self._gates, hidden_size, input_size
        for layer in range(num_layers):
            for direction in ["l", "r"][: self._dir]:
                name = f"{direction}{layer}"
                self._register_param(f"{name}_i2h_weight", (gates * hidden, width), inits[0])
                self._register_param(f"{name}_h2h_weight", (gates * hidden, hidden), inits[1])
                self._register_param(f"{name}_i2h_bias", (gates * hidden,), bias_inits[0])
                self._register_param(f"{name}_h2h_bias", (gates * hidden,), bias_inits[1])
            width = hidden * self._dir

    def _register_param(self, name: str, shape: tuple, init: Any) -> Any:
        param = self.params.get(
            name, shape=shape, init=init, allow_deferred_init=True, dtype=self._dtype
        )
        setattr(self, name, param)
        return param

    def __repr__(self) -> str:
        text = f"{self.__class__.__name__}({{mapping}}, {self._layout}"
        if self._num_layers != 1:
            text += f", num_layers={self._num_layers}"
        if self._dropout != 0:
            text += f", dropout={self._dropout}"
        if self._dir == 2:
            text += ", bidirectional"
        text += ")"
        shape = self.l0_i2h_weight.shape
        mapping = f"{shape[1] if shape[1] else None} -> {shape[0] // self._gates}"
        return text.format(mapping=mapping)

    def state_info(self, batch_size: int = 0) -> list[dict]:
        raise NotImplementedError

    def begin_state(self, batch_size: int = 0, func: Any = None, **kwargs: Any) -> list:
        """Initial states (zeros by default) of shape (layers*directions, batch, hidden)."""
        func = nd.zeros if func is None else func
        states = []
        for index, info in enumerate(self.state_info(batch_size)):
            info = {**info, **kwargs}
            info.pop("__layout__", None)
            states.append(func(name=f"{self.prefix}h0_{index}", **info))
        return states

    def infer_shape(self, inputs: Any, *args: Any) -> None:
        if inputs.ndim != 3:
            raise HybrixError(
                f"{self.name} ({type(self).__name__}): input data should be a rank-3 tensor "
                f"({self._layout}), got shape {inputs.shape}"
            )
        width = inputs.shape[2]
        for layer in range(self._num_layers):
            for direction in ["l", "r"][: self._dir]:
                param = getattr(self, f"{direction}{layer}_i2h_weight")
                param.shape = (self._gates * self._hidden_size, width)
            width = self._hidden_size * self._dir

    def __call__(self, inputs: Any, states: Any = None, **kwargs: Any) -> Any:
        skip_states = states is None
        if skip_states:
            batch_size = inputs.shape[self._layout.find("N")]
            states = self.begin_state(batch_size, ctx=inputs.context, dtype=inputs.dtype)
        if isinstance(states, nd.NDArray):
            states = [states]
        out = super().__call__(inputs, list(states))
        return out[0] if skip_states else out

    def hybrid_forward(self, F: Any, inputs: Any, states: list, **params: Any) -> Any:
        batch_size = inputs.shape[self._layout.find("N")]
        for state, info in zip(states, self.state_info(batch_size), strict=False):
            if tuple(state.shape) != info["shape"]:
                raise HybrixError(
                    f"{self.name}: invalid recurrent state shape. Expecting {info['shape']}, "
                    f"got {tuple(state.shape)}."
                )
        if len(states) != len(self.state_info(batch_size)):
            raise HybrixError(
                f"{self.name}: expected {len(self.state_info())} state arrays, got {len(states)}"
            )
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, dim1=0, dim2=1)
        outputs, states = self._forward_kernel(F, inputs, states, params)
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, dim1=0, dim2=1)
        return outputs, states

    def _flat_params(self, F: Any, params: dict, layers: range) -> Any:
        order = [
            params[f"{direction}{layer}_{group}_{kind}"].reshape(-1)
            for kind in ("weight", "bias")
            for layer in layers
            for direction in ["l", "r"][: self._dir]
            for group in ("i2h", "h2h")
        ]
        return F._internal._rnn_param_concat(*order, dim=0)

    def _run(self, F: Any, inputs: Any, states: list, flat: Any, num_layers: int) -> list:
        result = F.RNN(
            inputs,
            flat,
            *states,
            state_size=self._hidden_size,
            num_layers=num_layers,
            bidirectional=self._dir == 2,
            p=self._dropout if num_layers > 1 else 0.0,
            state_outputs=True,
            mode=self._mode,
            **self._clip,
        )
        return list(result)

    def _forward_kernel(self, F: Any, inputs: Any, states: list, params: dict) -> tuple:
        from hybrix import autograd

        if self._dropout > 0 and self._num_layers > 1 and autograd.is_training():
            return self._forward_with_dropout(F, inputs, states, params)
        flat = self._flat_params(F, params, range(self._num_layers))
        result = self._run(F, inputs, states, flat, self._num_layers)
        return result[0], result[1:]

    def _forward_with_dropout(self, F: Any, inputs: Any, states: list, params: dict) -> tuple:
        # NOTE: the fused RNN op has no PRNG input, so in training with dropout each layer
        # runs as its own RNN call with Dropout on its output (except the last), which is
        # what MXNet's fused kernel computes.
        per_layer: list[list] = [[] for _ in states]
        for layer in range(self._num_layers):
            rows = slice(layer * self._dir, (layer + 1) * self._dir)
            layer_states = [
                F.slice_axis(s, axis=0, begin=rows.start, end=rows.stop) for s in states
            ]
            flat = self._flat_params(F, params, range(layer, layer + 1))
            result = self._run(F, inputs, layer_states, flat, 1)
            inputs = result[0]
            if layer < self._num_layers - 1:
                inputs = F.Dropout(inputs, p=self._dropout)
            for collected, state in zip(per_layer, result[1:], strict=True):
                collected.append(state)
        return inputs, [F.concat(*collected, dim=0) for collected in per_layer]


class RNN(_RNNLayer):
    """Elman RNN with tanh or relu: h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        activation: str = "relu",
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "rnn_" + activation,
            dtype,
            **kwargs,
        )

    def state_info(self, batch_size: int = 0) -> list[dict]:
        shape = (self._num_layers * self._dir, batch_size, self._hidden_size)
        return [{"shape": shape, "__layout__": "LNC", "dtype": self._dtype}]


class LSTM(_RNNLayer):
    """Long short-term memory; states [h, c] of shape (layers*directions, batch, hidden)."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        input_size: int = 0,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        projection_size: int | None = None,
        h2r_weight_initializer: Any = None,
        state_clip_min: float | None = None,
        state_clip_max: float | None = None,
        state_clip_nan: bool = False,
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "lstm",
            dtype,
            projection_size,
            state_clip_min,
            state_clip_max,
            state_clip_nan,
            **kwargs,
        )

    def state_info(self, batch_size: int = 0) -> list[dict]:
        shape = (self._num_layers * self._dir, batch_size, self._hidden_size)
        info = {"shape": shape, "__layout__": "LNC", "dtype": self._dtype}
        return [dict(info), dict(info)]


class GRU(_RNNLayer):
    """Gated recurrent unit (MXNet's/cuDNN's formulation, reset gate after h2h)."""

    def __init__(
        self,
        hidden_size: int,
        num_layers: int = 1,
        layout: str = "TNC",
        dropout: float = 0,
        bidirectional: bool = False,
        input_size: int = 0,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "gru",
            dtype,
            **kwargs,
        )

    def state_info(self, batch_size: int = 0) -> list[dict]:
        shape = (self._num_layers * self._dir, batch_size, self._hidden_size)
        return [{"shape": shape, "__layout__": "LNC", "dtype": self._dtype}]
