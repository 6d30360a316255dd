"""Structural comparison of graphs: equality and a hash that ignore value, node and graph names.

Two graphs are structurally equal when their inputs have the same types, their constants
the same types and data, their nodes (in order) the same ops, attributes, input wiring
and output types, and their outputs are wired the same way. Both functions reduce a graph
to one canonical signature (nested tuples of plain values), so they always agree.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.graph import Graph, Value
from hybrix.ir.types import TensorType

__all__ = ["same_attr_value", "structural_hash", "structurally_equal"]


def structurally_equal(a: Graph, b: Graph) -> bool:
    """Whether two graphs compute the same thing the same way, names aside."""
    if a is b:
        return True
    return _signature(a, True, ()) == _signature(b, True, ())


def structural_hash(graph: Graph, include_constant_data: bool = False) -> str:
    """A hex digest equal for structurally equal graphs.

    By default constant data is left out (only its type counts): a compile cache keyed on
    this hash receives constants as arguments, so their values do not change the program.
    """
    signature = _signature(graph, include_constant_data, ())
    return hashlib.sha256(repr(signature).encode()).hexdigest()


def same_attr_value(a: Any, b: Any) -> bool:
    """Whether two attribute values are equal in kind and value (NaN equals NaN, 1 != 1.0)."""
    return _attr_key(a, True, ()) == _attr_key(b, True, ())


# A value's position: ("in", i), ("const", i), ("node", j, k), or ("outer", depth, ...) for
# a value a nested graph reads from an enclosing graph.
_Env = tuple[dict[int, tuple[Any, ...]], ...]


def _signature(graph: Graph, with_data: bool, outer: _Env) -> tuple[Any, ...]:
    positions: dict[int, tuple[Any, ...]] = {}
    env: _Env = (positions, *outer)
    inputs = []
    for i, value in enumerate(graph.inputs):
        positions[id(value)] = ("in", i)
        inputs.append(_type_key(value.type))
    constants = []
    for i, value in enumerate(graph.constants):
        positions[id(value)] = ("const", i)
        constants.append(_constant_key(value, with_data))
    nodes = []
    for j, node in enumerate(graph.nodes):
        wiring = tuple(_position(value, env) for value in node.inputs)
        attrs = tuple(
            (name, _attr_key(node.attrs[name], with_data, env)) for name in sorted(node.attrs)
        )
        outputs = tuple(_type_key(value.type) for value in node.outputs)
        nodes.append((node.op, attrs, wiring, outputs))
        for k, value in enumerate(node.outputs):
            positions[id(value)] = ("node", j, k)
    outputs = tuple(_position(value, env) for value in graph.outputs)
    return (tuple(inputs), tuple(constants), tuple(nodes), outputs)


def _position(value: Value, env: _Env) -> tuple[Any, ...]:
    for depth, positions in enumerate(env):
        found = positions.get(id(value))
        if found is not None:
            return found if depth == 0 else ("outer", depth, *found)
    # NOTE: an undefined value (a broken graph) still compares by its type, never by name.
    return ("undefined", _type_key(value.type))


def _type_key(type: TensorType) -> tuple[Any, ...]:
    return (type.dtype.name, tuple(type.shape))


def _constant_key(value: Value, with_data: bool) -> tuple[Any, ...]:
    key: tuple[Any, ...] = _type_key(value.type)
    if with_data and value.const is not None:
        array = np.asarray(value.const, order="C")
        key = (*key, hashlib.sha256(array.tobytes()).hexdigest())
    return key


def _attr_key(value: Any, with_data: bool, env: _Env) -> Any:
    """A canonical, hashable, repr-stable form of an attribute value."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return ("bool", bool(value))
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return ("float", float(value).hex())
    if isinstance(value, DType):
        return ("dtype", value.name)
    if isinstance(value, Graph):
        return ("graph", _signature(value, with_data, env))
    if isinstance(value, list | tuple):
        return tuple(_attr_key(item, with_data, env) for item in value)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes().hex())
    return ("other", type(value).__name__, repr(value))
