"""verify(graph): check the IR's invariants; every pass keeps a graph valid.

A graph is valid when its value names are unique (SSA), every node reads only values
defined before it, use-lists match the actual uses, every node belongs to the graph, is
a known op with attributes of the declared kinds and the right number of inputs, its
stored output types equal the re-inferred ones, the graph outputs are defined, and
nested graphs (graph attributes) are valid too. A nested graph may read values of the
graphs around it that are defined before the node holding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hybrix.ir.compare import same_attr_value
from hybrix.ir.dtypes import DType
from hybrix.ir.errors import GraphError, HybrixError
from hybrix.ir.graph import Graph, Node, Value
from hybrix.ir.ops import OpDef, get_op
from hybrix.ir.types import TensorType

__all__ = ["verify"]


def verify(graph: Graph) -> None:
    """Raise GraphError naming the graph, node and value of the first broken invariant."""
    state = _State()
    _check_graph(graph, (), state)
    _check_use_lists(state)


@dataclass
class _State:
    """What the walk has seen: every value (with its graph's name) and its actual uses."""

    values: list[tuple[Value, str]] = field(default_factory=list)
    uses: dict[int, list[tuple[Node, int]]] = field(default_factory=dict)


_Scopes = tuple[set[int], ...]


def _check_graph(graph: Graph, outer: _Scopes, state: _State) -> None:
    where = f"graph {graph.name}"
    defined: set[int] = set()
    names: set[str] = set()
    outer_reads: list[Value] = []
    scopes = (defined, *outer)
    for value in [*graph.inputs, *graph.constants]:
        _define(value, where, names, defined, state)
        if value.producer is not None:
            raise GraphError(f"{where}: input or constant %{value.name} has a producer node")
    for value in graph.constants:
        _check_constant(value, where)
    for node in graph.nodes:
        node_where = f"{where}: node {node.name} ({node.op})"
        if node.graph is not graph:
            raise GraphError(f"{node_where}: node.graph is not this graph")
        for position, value in enumerate(node.inputs):
            outer_reads += _check_defined(value, scopes, f"{node_where}: input {position}")
            state.uses.setdefault(id(value), []).append((node, position))
        _check_node(node, node_where, scopes, state)
        for index, value in enumerate(node.outputs):
            _define(value, where, names, defined, state)
            if value.producer is not node or value.index != index:
                message = f"output {index} %{value.name} does not name this node as its producer"
                raise GraphError(f"{node_where}: {message}")
    for value in graph.outputs:
        outer_reads += _check_defined(value, scopes, f"{where}: graph output")
    _check_no_shadowing(outer_reads, names, where)


def _define(value: Value, where: str, names: set[str], defined: set[int], state: _State) -> None:
    if value.name in names:
        raise GraphError(f"{where}: value %{value.name} is defined twice (values must be SSA)")
    names.add(value.name)
    defined.add(id(value))
    state.values.append((value, where))


def _check_constant(value: Value, where: str) -> None:
    if value.const is None:
        raise GraphError(f"{where}: constant %{value.name} holds no data")
    try:
        found = TensorType(DType.from_any(value.const.dtype), tuple(value.const.shape))
    except HybrixError as e:
        raise GraphError(f"{where}: constant %{value.name}: {e}") from None
    if found != value.type:
        raise GraphError(f"{where}: constant %{value.name} has type {value.type}, data {found}")


def _check_defined(value: Value, scopes: _Scopes, where: str) -> list[Value]:
    """[] for a value of this graph, [value] for one of an enclosing graph; else GraphError."""
    if id(value) in scopes[0]:
        return []
    if any(id(value) in scope for scope in scopes[1:]):
        return [value]
    raise GraphError(f"{where} %{value.name} is not defined before its use")


def _check_no_shadowing(outer_reads: list[Value], names: set[str], where: str) -> None:
    # NOTE: text and files refer to values by name, so reading an enclosing graph's %x
    # while defining another %x here could not be written down unambiguously.
    for value in outer_reads:
        if value.name in names:
            raise GraphError(
                f"{where}: reads %{value.name} of an enclosing graph but defines its own "
                f"%{value.name}; rename one of them"
            )


def _check_node(node: Node, where: str, scopes: _Scopes, state: _State) -> None:
    try:
        opdef = get_op(node.op)
    except HybrixError as e:
        raise GraphError(f"{where}: {e}") from None
    try:
        opdef.check_arity(len(node.inputs), node.name)
    except HybrixError as e:
        raise GraphError(f"{where}: {e}") from None
    _check_attrs(node, opdef, where)
    for value in node.attrs.values():
        if isinstance(value, Graph):
            _check_graph(value, scopes, state)
    _check_types(node, opdef, where)


def _check_attrs(node: Node, opdef: OpDef, where: str) -> None:
    try:
        expected = opdef.check_attrs(node.attrs, node.name)
    except HybrixError as e:
        raise GraphError(f"{where}: {e}") from None
    for name, value in expected.items():
        if name not in node.attrs:
            raise GraphError(f"{where}: attribute {name} is missing (defaults must be filled in)")
        if not same_attr_value(node.attrs[name], value):
            kind = opdef.attrs[name].kind
            raise GraphError(
                f"{where}: attribute {name} is {node.attrs[name]!r}, expected the {kind} {value!r}"
            )


def _check_types(node: Node, opdef: OpDef, where: str) -> None:
    try:
        inferred = opdef.infer_types([v.type for v in node.inputs], node.attrs, node.name)
    except HybrixError as e:
        raise GraphError(f"{where}: type inference fails: {e}") from None
    if len(inferred) != len(node.outputs):
        raise GraphError(f"{where}: {len(node.outputs)} outputs, the op gives {len(inferred)}")
    for value, type in zip(node.outputs, inferred, strict=True):
        if value.type != type:
            raise GraphError(f"{where}: output %{value.name} is {value.type}, inferred {type}")


def _check_use_lists(state: _State) -> None:
    for value, where in state.values:
        actual = state.uses.get(id(value), [])
        if sorted(_use_keys(value.uses)) != sorted(_use_keys(actual)):
            raise GraphError(
                f"{where}: use-list of %{value.name} is {_show(value.uses)}, "
                f"its actual uses are {_show(actual)}"
            )


def _use_keys(uses: list[tuple[Node, int]]) -> list[tuple[int, int]]:
    return [(id(node), position) for node, position in uses]


def _show(uses: list[tuple[Node, int]]) -> str:
    shown = ", ".join(f"{node.name}[{position}]" for node, position in uses)
    return f"[{shown}]"
