"""The in-memory IR: Value, Node, Graph and Model. Passes work on these objects.

Ownership: a Value is produced by exactly one Node, or is a graph input, or is a graph
constant (it then holds its array). A Node belongs to one Graph. Use-lists are kept
right by mutating only through Graph methods.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import GraphError, ShapeError
from hybrix.ir.types import TensorType

__all__ = ["Graph", "Model", "Node", "Value"]


class Value:
    """A tensor-valued SSA name. Compared by identity."""

    __slots__ = ("const", "index", "name", "producer", "type", "uses")

    def __init__(self, name: str, type: TensorType, const: np.ndarray | None = None) -> None:
        self.name = name
        self.type = type
        self.producer: Node | None = None
        self.index = 0  # which output of the producer
        self.uses: list[tuple[Node, int]] = []  # (consumer, input position)
        self.const = const

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def shape(self) -> tuple[int | str, ...]:
        return self.type.shape

    @property
    def is_constant(self) -> bool:
        return self.const is not None

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """One operator application. `attrs` holds every attribute of the op, defaults filled."""

    __slots__ = ("attrs", "graph", "inputs", "name", "op", "outputs")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value],
        outputs: Sequence[Value],
        attrs: Mapping[str, Any],
        name: str = "",
    ) -> None:
        self.op = op
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.attrs = dict(attrs)
        self.graph: Graph | None = None

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        ins = ", ".join(f"%{v.name}" for v in self.inputs)
        return f"<Node {self.name or '?'}: {outs} = {self.op}({ins})>"


class Graph:
    """An ordered list of nodes over SSA values, with inputs, constants and outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.constants: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        self._names: set[str] = set()
        self._counter = itertools.count()

    # -- building -------------------------------------------------------------------
    def fresh_name(self, base: str = "v") -> str:
        """A value name not used in this graph yet: `base` itself when free, else `base_K`."""
        name = base
        while name in self._names:
            name = f"{base}_{next(self._counter)}"
        return name

    def add_input(self, name: str, type: TensorType) -> Value:
        value = Value(self._claim(name), type)
        self.inputs.append(value)
        return value

    def add_constant(self, name: str, array: Any) -> Value:
        array = np.asarray(array)
        type = TensorType(DType.from_any(array.dtype), tuple(array.shape))
        value = Value(self._claim(name), type, const=array)
        self.constants.append(value)
        return value

    def add_node(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        name: str | None = None,
        output_names: Sequence[str] | None = None,
    ) -> Node:
        """Append a node; attrs are checked against the op's schema and types inferred."""
        from hybrix.ir.ops import get_op  # NOTE: ops import graph for Graph attrs

        opdef = get_op(op)
        node_name = name or self._node_name(opdef.name)
        full_attrs = opdef.check_attrs(attrs or {}, node_name)
        types = opdef.infer_types([v.type for v in inputs], full_attrs, node_name)
        names = output_names or [
            node_name if i == 0 else f"{node_name}_{i}" for i in range(len(types))
        ]
        if len(names) != len(types):
            raise GraphError(
                f"node {node_name}: {len(names)} output names for {len(types)} outputs"
            )
        outputs = []
        for base, type in zip(names, types, strict=True):
            outputs.append(Value(self._claim(self.fresh_name(base)), type))
        node = Node(opdef.name, inputs, outputs, full_attrs, node_name)
        self.append(node)
        return node

    def append(self, node: Node) -> None:
        self.insert_before(None, node)

    def insert_before(self, anchor: Node | None, node: Node) -> None:
        """Insert `node` before `anchor` (at the end when None) and link its values."""
        position = len(self.nodes) if anchor is None else self.nodes.index(anchor)
        self.nodes.insert(position, node)
        node.graph = self
        for i, value in enumerate(node.inputs):
            value.uses.append((node, i))
        for i, value in enumerate(node.outputs):
            value.producer, value.index = node, i
            self._names.add(value.name)

    def remove(self, node: Node) -> None:
        """Remove a node whose outputs are unused."""
        for value in node.outputs:
            if value.uses or value in self.outputs:
                raise GraphError(f"cannot remove node {node.name}: output %{value.name} is used")
        for value in node.inputs:
            value.uses = [(n, i) for n, i in value.uses if n is not node]
        self.nodes.remove(node)
        node.graph = None

    def set_input(self, node: Node, position: int, value: Value) -> None:
        old = node.inputs[position]
        old.uses = [(n, i) for n, i in old.uses if not (n is node and i == position)]
        node.inputs[position] = value
        value.uses.append((node, position))

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every consumer of `old` (graph outputs included) read `new`."""
        if old.type.dtype != new.type.dtype or len(old.shape) != len(new.shape):
            raise ShapeError(f"cannot replace %{old.name}: {old.type} with %{new.name}: {new.type}")
        for node, i in list(old.uses):
            node.inputs[i] = new
            new.uses.append((node, i))
        old.uses = []
        self.outputs = [new if v is old else v for v in self.outputs]

    # -- queries --------------------------------------------------------------------
    def values(self) -> Iterable[Value]:
        yield from self.inputs
        yield from self.constants
        for node in self.nodes:
            yield from node.outputs

    def find_value(self, name: str) -> Value:
        for value in self.values():
            if value.name == name:
                return value
        raise GraphError(f"graph {self.name} has no value %{name}")

    def __str__(self) -> str:
        from hybrix.ir.text import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"

    # -- helpers --------------------------------------------------------------------
    def _claim(self, name: str) -> str:
        if name in self._names:
            raise GraphError(f"graph {self.name} already has a value named %{name}")
        self._names.add(name)
        return name

    def _node_name(self, op: str) -> str:
        base = op.lower().lstrip("_") or "node"
        taken = {n.name for n in self.nodes}
        index = len(self.nodes)
        while f"{base}{index}" in taken:
            index += 1
        return f"{base}{index}"


class Model:
    """A graph with the facts a file needs: format version, producer, opset, metadata."""

    FORMAT_VERSION = 1

    def __init__(
        self,
        graph: Graph,
        producer: str = "hybrix",
        opset: int = 1,
        metadata: Mapping[str, str] | None = None,
        format_version: int = FORMAT_VERSION,
    ) -> None:
        self.graph = graph
        self.producer = producer
        self.opset = opset
        self.metadata = dict(metadata or {})
        self.format_version = format_version

    def __repr__(self) -> str:
        return f"<Model {self.graph.name} opset={self.opset} producer={self.producer!r}>"
