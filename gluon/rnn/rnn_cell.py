"""Recurrent cells (one time step) as in MXNet 1.9.1's gluon/rnn/rnn_cell.py:
RNNCell, LSTMCell, GRUCell, SequentialRNNCell, HybridSequentialRNNCell, with `unroll`.

A cell is called as `output, new_states = cell(x_t, states)`; `unroll(length, inputs,
begin_state, layout, merge_outputs)` steps it over a sequence (an NDArray in `layout`,
or a list of (batch, features) steps).
"""

from __future__ import annotations

from typing import Any

from hybrix import ndarray as nd
from hybrix.gluon.block import Block, HybridBlock
from hybrix.gluon.utils import _indent
from hybrix.ir import HybrixError

__all__ = [
    "GRUCell",
    "HybridRecurrentCell",
    "HybridSequentialRNNCell",
    "LSTMCell",
    "RNNCell",
    "RecurrentCell",
    "SequentialRNNCell",
]


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _format_sequence(length: int | None, inputs: Any, layout: str, merge: bool | None) -> tuple:
    """(inputs as a list of steps or one merged array, time axis, batch size)."""
    axis = layout.find("T")
    batch_axis = layout.find("N")
    if isinstance(inputs, nd.NDArray):
        batch_size = inputs.shape[batch_axis]
        if length is not None and length != inputs.shape[axis]:
            raise HybrixError(
                f"unroll: length is {length} but the inputs have {inputs.shape[axis]} steps "
                f"along axis {axis} ({layout})"
            )
        if merge is False:
            steps = inputs.shape[axis]
            inputs = _as_list(nd.split(inputs, axis=axis, num_outputs=steps, squeeze_axis=1))
        return inputs, axis, batch_size
    inputs = list(inputs)
    if length is not None and len(inputs) != length:
        raise HybrixError(f"unroll: length is {length} but {len(inputs)} step inputs were given")
    batch_size = inputs[0].shape[0]
    if merge is True:
        inputs = nd.stack(*inputs, axis=axis)
    return inputs, axis, batch_size


def _get_begin_state(cell: RecurrentCell, begin_state: Any, inputs: Any, batch_size: int) -> list:
    if begin_state is not None:
        return list(begin_state)
    first = inputs if isinstance(inputs, nd.NDArray) else inputs[0]
    return cell.begin_state(batch_size=batch_size, ctx=first.context, dtype=first.dtype)


class RecurrentCell(Block):
    """Base of recurrent cells: state_info, begin_state, unroll, the step counter."""

    def __init__(self, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)
        self._modified = False
        self.reset()

    def reset(self) -> None:
        """Reset the step counters before a new sequence."""
        self._init_counter = -1
        self._counter = -1
        for cell in self._children.values():
            if isinstance(cell, RecurrentCell):
                cell.reset()

    def state_info(self, batch_size: int = 0) -> list[dict]:
        raise NotImplementedError

    def begin_state(self, batch_size: int = 0, func: Any = None, **kwargs: Any) -> list:
        """Initial states (zeros by default) for a batch of `batch_size`."""
        func = nd.zeros if func is None else func
        states = []
        for info in self.state_info(batch_size):
            self._init_counter += 1
            info = {**info, **kwargs}
            info.pop("__layout__", None)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}", **info))
        return states

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list]:
        """Run `length` steps; returns (outputs, final states)."""
        if valid_length is not None:
            raise HybrixError("unroll(valid_length=...) is not supported yet")
        self.reset()
        steps, _axis, batch_size = _format_sequence(length, inputs, layout, False)
        states = _get_begin_state(self, begin_state, steps, batch_size)
        outputs = []
        for step in range(length):
            output, states = self(steps[step], states)
            outputs.append(output)
        outputs, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def __call__(self, inputs: Any, states: Any) -> Any:
        self._counter += 1
        return super().__call__(inputs, states)

    def _get_activation(self, F: Any, inputs: Any, activation: Any, **kwargs: Any) -> Any:
        if isinstance(activation, str):
            return F.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A recurrent cell whose step is a hybrid_forward."""

    def __init__(self, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)

    def forward(self, x: Any, *args: Any) -> Any:
        return HybridBlock.forward(self, x, *args)


def _cell_repr(cell: Any) -> str:
    text = f"{cell.__class__.__name__}({{mapping}}"
    if hasattr(cell, "_activation"):
        text += f", {cell._activation}"
    text += ")"
    shape = cell.i2h_weight.shape
    return text.format(mapping=f"{shape[1] if shape[1] else None} -> {shape[0]}")


class _GatedCell(HybridRecurrentCell):
    """The parameters shared by RNNCell, LSTMCell, GRUCell: (gates*H, in), (gates*H, H)."""

    _gates = 1

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any,
        h2h_weight_initializer: Any,
        i2h_bias_initializer: Any,
        h2h_bias_initializer: Any,
        input_size: int,
        prefix: str | None,
        params: Any,
    ) -> None:
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        rows = self._gates * hidden_size
        get = self.params.get
        self.i2h_weight = get(
            "i2h_weight",
            shape=(rows, input_size),
            init=i2h_weight_initializer,
            allow_deferred_init=True,
        )
        self.h2h_weight = get(
            "h2h_weight",
            shape=(rows, hidden_size),
            init=h2h_weight_initializer,
            allow_deferred_init=True,
        )
        self.i2h_bias = get(
            "i2h_bias", shape=(rows,), init=i2h_bias_initializer, allow_deferred_init=True
        )
        self.h2h_bias = get(
            "h2h_bias", shape=(rows,), init=h2h_bias_initializer, allow_deferred_init=True
        )

    def infer_shape(self, inputs: Any, *args: Any) -> None:
        self.i2h_weight.shape = (self._gates * self._hidden_size, inputs.shape[-1])

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def __repr__(self) -> str:
        return _cell_repr(self)

    def _projections(self, F: Any, inputs: Any, state: Any, weights: tuple) -> tuple:
        prefix = f"t{self._counter}_"
        i2h_weight, h2h_weight, i2h_bias, h2h_bias = weights
        hidden = self._hidden_size * self._gates
        i2h = F.FullyConnected(
            data=inputs, weight=i2h_weight, bias=i2h_bias, num_hidden=hidden, name=prefix + "i2h"
        )
        h2h = F.FullyConnected(
            data=state, weight=h2h_weight, bias=h2h_bias, num_hidden=hidden, name=prefix + "h2h"
        )
        return i2h, h2h


class RNNCell(_GatedCell):
    """Elman cell: h' = activation(W_ih x + b_ih + W_hh h + b_hh)."""

    def __init__(
        self,
        hidden_size: int,
        activation: Any = "tanh",
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
    ) -> None:
        self._activation = activation
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )

    def _alias(self) -> str:
        return "rnn"

    def hybrid_forward(self, F: Any, inputs: Any, states: list, *weights: Any, **named: Any) -> Any:
        i2h, h2h = self._projections(F, inputs, states[0], _weights(weights, named))
        output = self._get_activation(F, F.elemwise_add(i2h, h2h), self._activation)
        return output, [output]


class LSTMCell(_GatedCell):
    """LSTM cell; gates i, f, c, o in that order along the 4*H rows; states [h, c]."""

    _gates = 4

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
    ) -> None:
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def _alias(self) -> str:
        return "lstm"

    def state_info(self, batch_size: int = 0) -> list[dict]:
        info = {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}
        return [dict(info), dict(info)]

    def hybrid_forward(self, F: Any, inputs: Any, states: list, *weights: Any, **named: Any) -> Any:
        i2h, h2h = self._projections(F, inputs, states[0], _weights(weights, named))
        gates = F.SliceChannel(F.elemwise_add(i2h, h2h), num_outputs=4)
        recurrent = self._recurrent_activation
        in_gate = self._get_activation(F, gates[0], recurrent)
        forget_gate = self._get_activation(F, gates[1], recurrent)
        in_transform = self._get_activation(F, gates[2], self._activation)
        out_gate = self._get_activation(F, gates[3], recurrent)
        next_c = F.elemwise_add(
            F.elemwise_mul(forget_gate, states[1]), F.elemwise_mul(in_gate, in_transform)
        )
        next_h = F.elemwise_mul(out_gate, self._get_activation(F, next_c, self._activation))
        return next_h, [next_h, next_c]


class GRUCell(_GatedCell):
    """GRU cell (reset gate applied after the h2h projection, as MXNet and cuDNN)."""

    _gates = 3

    def __init__(
        self,
        hidden_size: int,
        i2h_weight_initializer: Any = None,
        h2h_weight_initializer: Any = None,
        i2h_bias_initializer: Any = "zeros",
        h2h_bias_initializer: Any = "zeros",
        input_size: int = 0,
        prefix: str | None = None,
        params: Any = None,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
    ) -> None:
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def _alias(self) -> str:
        return "gru"

    def hybrid_forward(self, F: Any, inputs: Any, states: list, *weights: Any, **named: Any) -> Any:
        previous = states[0]
        i2h, h2h = self._projections(F, inputs, previous, _weights(weights, named))
        i2h_r, i2h_z, i2h = F.SliceChannel(i2h, num_outputs=3)
        h2h_r, h2h_z, h2h = F.SliceChannel(h2h, num_outputs=3)
        recurrent = self._recurrent_activation
        reset_gate = self._get_activation(F, F.elemwise_add(i2h_r, h2h_r), recurrent)
        update_gate = self._get_activation(F, F.elemwise_add(i2h_z, h2h_z), recurrent)
        candidate = self._get_activation(
            F, F.elemwise_add(i2h, F.elemwise_mul(reset_gate, h2h)), self._activation
        )
        ones = F.ones_like(update_gate)
        next_h = F.elemwise_add(
            F.elemwise_mul(ones - update_gate, candidate), F.elemwise_mul(update_gate, previous)
        )
        return next_h, [next_h]


def _weights(positional: tuple, named: dict) -> tuple:
    if positional:
        return positional
    return tuple(named[k] for k in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"))


class SequentialRNNCell(RecurrentCell):
    """Stacks cells: each step feeds the previous cell's output to the next."""

    def add(self, cell: RecurrentCell) -> None:
        self.register_child(cell)

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [info for c in self._children.values() for info in c.state_info(batch_size)]

    def begin_state(self, batch_size: int = 0, func: Any = None, **kwargs: Any) -> list:
        return [
            state
            for cell in self._children.values()
            for state in cell.begin_state(batch_size, func, **kwargs)
        ]

    def __call__(self, inputs: Any, states: Any) -> Any:
        self._counter += 1
        next_states: list = []
        position = 0
        for cell in self._children.values():
            count = len(cell.state_info())
            inputs, state = cell(inputs, states[position : position + count])
            position += count
            next_states.extend(state)
        return inputs, next_states

    def unroll(
        self,
        length: int,
        inputs: Any,
        begin_state: Any = None,
        layout: str = "NTC",
        merge_outputs: bool | None = None,
        valid_length: Any = None,
    ) -> tuple[Any, list]:
        self.reset()
        inputs, _, batch_size = _format_sequence(length, inputs, layout, None)
        begin_state = _get_begin_state(self, begin_state, inputs, batch_size)
        cells = list(self._children.values())
        position = 0
        next_states: list = []
        for index, cell in enumerate(cells):
            count = len(cell.state_info())
            states = begin_state[position : position + count]
            position += count
            merge = None if index < len(cells) - 1 else merge_outputs
            inputs, states = cell.unroll(
                length,
                inputs,
                begin_state=states,
                layout=layout,
                merge_outputs=merge,
                valid_length=valid_length,
            )
            next_states.extend(states)
        return inputs, next_states

    def __getitem__(self, index: int) -> RecurrentCell:
        return self._children[str(index)]

    def __len__(self) -> int:
        return len(self._children)

    def __repr__(self) -> str:
        lines = [f"({i}): {_indent(repr(c), 2)}" for i, c in self._children.items()]
        return "{}(\n{}\n)".format(self.__class__.__name__, "\n".join(lines))


class HybridSequentialRNNCell(SequentialRNNCell, HybridRecurrentCell):
    """SequentialRNNCell whose cells are all hybrid."""

    def register_child(self, block: Block, name: str | None = None) -> None:
        HybridBlock.register_child(self, block, name)

    def hybrid_forward(self, F: Any, inputs: Any, states: Any) -> Any:
        return SequentialRNNCell.__call__(self, inputs, states)
