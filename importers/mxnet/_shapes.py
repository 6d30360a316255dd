"""Shapes MXNet leaves open in a symbol file, deduced from the consumer, as its FInferShape does.

A parameter variable's `__shape__` may hold 0 ("unknown", e.g. a convolution weight's input
channels) and creation ops may too (`_zeros` of shape (1, 0, 32) as an RNN's begin state:
the 0 is the batch). The consumer op fixes them: `expected_shape` gives, for input
`position` of a node, each dimension with the input axis it comes from, when known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hybrix.ir import TensorType
from hybrix.ir.types import Dim, dim_prod

__all__ = ["Expected", "expected_shape"]

# a dimension, and (input position, axis) when it is read off another input of the node
Expected = list[tuple[Dim, tuple[int, int] | None]]
_Rule = Callable[[Mapping[str, Any], Sequence[TensorType | None], int], Expected | None]


def expected_shape(
    op: str, attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int
) -> Expected | None:
    """The shape input `position` of an `op` node must have, or None when not deducible."""
    rule = _RULES.get(op)
    if rule is None:
        return None
    try:
        return rule(attrs, types, position)
    except (IndexError, TypeError, ZeroDivisionError):
        return None


def _fixed(*dims: Dim) -> Expected:
    return [(d, None) for d in dims]


def _channel_axis(layout: str | None, rank: int) -> int:
    return 1 if layout is None or layout.startswith("NC") else rank - 1


def _convolution(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    data = types[0]
    if position == 2:
        return _fixed(attrs["num_filter"])
    if position != 1 or data is None:
        return None
    axis = _channel_axis(attrs["layout"], data.rank)
    channels, kernel = data.shape[axis], tuple(attrs["kernel"])
    if not isinstance(channels, int):
        return None
    groups = attrs["num_group"]
    if axis != 1:
        return _fixed(attrs["num_filter"], *kernel, channels // groups)
    return _fixed(attrs["num_filter"], channels // groups, *kernel)


def _deconvolution(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    data = types[0]
    if position == 2:
        return _fixed(attrs["num_filter"])
    if position != 1 or data is None:
        return None
    channels = data.shape[_channel_axis(attrs["layout"], data.rank)]
    return _fixed(channels, attrs["num_filter"] // attrs["num_group"], *attrs["kernel"])


def _fully_connected(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    data = types[0]
    if position == 2:
        return _fixed(attrs["num_hidden"])
    if position != 1 or data is None:
        return None
    features = dim_prod(data.shape[1:]) if attrs["flatten"] else data.shape[-1]
    return _fixed(attrs["num_hidden"], features)


def _per_channel(axis_attr: str | None, default_axis: int = 1) -> _Rule:
    def rule(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
        data = types[0]
        if position == 0 or data is None:
            return None
        axis = attrs[axis_attr] if axis_attr else default_axis
        return [(data.shape[axis], (0, axis % data.rank))]

    return rule


def _rnn(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    data = types[0]
    if position not in (2, 3) or data is None:
        return None
    layers = attrs["num_layers"] * (2 if attrs["bidirectional"] else 1)
    size = attrs["state_size"]
    if position == 2 and attrs["projection_size"] is not None:
        size = attrs["projection_size"]
    return [(layers, None), (data.shape[1], (0, 1)), (size, None)]


def _same_as_other(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    other = types[1 - position] if position in (0, 1) else None
    if other is None:
        return None
    return [(d, (1 - position, axis)) for axis, d in enumerate(other.shape)]


def _embedding(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    return _fixed(attrs["input_dim"], attrs["output_dim"]) if position == 1 else None


def _leaky_relu(attrs: Mapping[str, Any], types: Sequence[TensorType | None], position: int):
    data = types[0]
    if position != 1 or data is None or data.rank < 2:
        return None
    return [(data.shape[1], (0, 1))]


_RULES: dict[str, _Rule] = {
    "Convolution": _convolution,
    "Deconvolution": _deconvolution,
    "FullyConnected": _fully_connected,
    "BatchNorm": _per_channel("axis"),
    "LayerNorm": _per_channel("axis"),
    "InstanceNorm": _per_channel(None),
    "LeakyReLU": _leaky_relu,
    "Embedding": _embedding,
    "RNN": _rnn,
}
for _name in ("elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div"):
    _RULES[_name] = _same_as_other
