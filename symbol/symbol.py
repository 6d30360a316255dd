"""Symbol: MXNet's declarative graph API, a view of a graph that becomes an ir.Graph on use.

A Symbol is a list of output entries (node, output index) of a small DAG of `SymNode`s,
which are MXNet JSON nodes: variables (op "null") and op calls with typed attributes.
Shapes are not needed to build one; `infer_shape`, `bind` and `to_graph` materialize an
ir.Graph through hybrix's MXNet importer (which infers parameter shapes from their
consumers, as MXNet does), and `tojson` writes MXNet 1.x JSON that the importer and
MXNet 1.9.1 read.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from hybrix.importers.mxnet._attrs import format_attr
from hybrix.importers.mxnet._json import CURRENT_VERSION
from hybrix.ir import DType, Graph, HybrixError, ShapeError, get_op

__all__ = ["Group", "SymNode", "Symbol", "Variable", "load", "load_json", "var"]


class SymbolError(HybrixError):
    """A Symbol used in a way MXNet rejects (bad index, unknown output name, ...)."""


class SymNode:
    """One node of a symbol DAG. A variable has op "null" and hidden attrs (`__shape__`);
    an op node has typed attrs (checked by the op schema) and input entries."""

    __slots__ = ("attrs", "hidden", "inputs", "loss_scale", "name", "op")

    def __init__(
        self,
        op: str,
        name: str,
        attrs: dict[str, Any] | None = None,
        inputs: Sequence[tuple[SymNode, int]] = (),
        hidden: dict[str, str] | None = None,
    ) -> None:
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.inputs = list(inputs)
        self.hidden = dict(hidden or {})
        self.loss_scale: float | None = None  # set by make_loss: the head gradient it uses

    @property
    def is_variable(self) -> bool:
        return self.op == "null"

    def output_names(self) -> list[str]:
        if self.is_variable:
            return [self.name]
        opdef = get_op(self.op)
        attrs = opdef.check_attrs(self.attrs, self.name)
        names = opdef.output_names(attrs)[: opdef.num_visible_outputs(attrs)]
        if len(names) == 1:
            return [f"{self.name}_output"]
        return [f"{self.name}_{n}" for n in names]


class _Names:
    """MXNet's NameManager: `fullyconnected0`, `fullyconnected1`, ... per op hint."""

    counters: ClassVar[dict[str, int]] = {}

    @classmethod
    def get(cls, name: str | None, hint: str) -> str:
        if name:
            return name
        hint = hint.lower().lstrip("_") or "op"
        count = cls.counters.get(hint, 0)
        cls.counters[hint] = count + 1
        return f"{hint}{count}"


class Symbol:
    """Outputs of a symbol graph. Arithmetic builds new nodes as MXNet's Symbol does."""

    __slots__ = ("_outputs",)
    __array_priority__ = 1000.0

    def __init__(self, outputs: Sequence[tuple[SymNode, int]]) -> None:
        self._outputs = list(outputs)

    # -- structure ---------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._outputs[0][0].name if len(self._outputs) == 1 else None

    def __repr__(self) -> str:
        if len(self._outputs) == 1:
            return f"<Symbol {self.name}>"
        return f"<Symbol group [{', '.join(self.list_outputs())}]>"

    def __len__(self) -> int:
        return len(self._outputs)

    def __iter__(self) -> Iterator[Symbol]:
        return (Symbol([entry]) for entry in self._outputs)

    def __getitem__(self, index: int | str) -> Symbol:
        if isinstance(index, str):
            names = self.list_outputs()
            if index not in names:
                raise SymbolError(f"Symbol has no output {index!r}; its outputs are {names}")
            return Symbol([self._outputs[names.index(index)]])
        if not -len(self._outputs) <= index < len(self._outputs):
            raise SymbolError(f"index {index} out of range for {len(self._outputs)} outputs")
        return Symbol([self._outputs[index]])

    def get_internals(self) -> Symbol:
        """Every output of every node (variables included), in topological order."""
        entries = []
        for node in self._topo_nodes():
            count = 1 if node.is_variable else len(node.output_names())
            entries.extend((node, i) for i in range(count))
        return Symbol(entries)

    def get_children(self) -> Symbol | None:
        inputs = [entry for node, _ in self._outputs for entry in node.inputs]
        return Symbol(inputs) if inputs else None

    def _topo_nodes(self) -> list[SymNode]:
        """Nodes in MXNet's DFS post-order from the outputs (inputs visited in order)."""
        order: list[SymNode] = []
        seen: set[int] = set()
        for head, _ in self._outputs:
            stack: list[tuple[SymNode, int]] = [(head, 0)]
            while stack:
                node, position = stack.pop()
                if id(node) in seen:
                    continue
                if position < len(node.inputs):
                    stack.append((node, position + 1))
                    child = node.inputs[position][0]
                    if id(child) not in seen:
                        stack.append((child, 0))
                    continue
                seen.add(id(node))
                order.append(node)
        return order

    def _aux_nodes(self) -> set[int]:
        """ids of variables read as aux states (BatchNorm's moving_mean/var)."""
        aux = set()
        for node in self._topo_nodes():
            if node.is_variable:
                continue
            opdef = get_op(node.op)
            aux_inputs = set(opdef.aux_updates.values())
            names = opdef.input_names
            for position, (child, _) in enumerate(node.inputs):
                if child.is_variable and names[min(position, len(names) - 1)] in aux_inputs:
                    aux.add(id(child))
        return aux

    def list_arguments(self) -> list[str]:
        aux = self._aux_nodes()
        return [n.name for n in self._topo_nodes() if n.is_variable and id(n) not in aux]

    def list_auxiliary_states(self) -> list[str]:
        aux = self._aux_nodes()
        return [n.name for n in self._topo_nodes() if n.is_variable and id(n) in aux]

    def list_inputs(self) -> list[str]:
        return [n.name for n in self._topo_nodes() if n.is_variable]

    def list_outputs(self) -> list[str]:
        return [node.output_names()[index] for node, index in self._outputs]

    def list_attr(self) -> dict[str, str]:
        node = self._outputs[0][0]
        attrs = {k: format_attr(v, node.name) for k, v in node.attrs.items() if v is not None}
        return {**attrs, **node.hidden}

    def attr(self, key: str) -> str | None:
        return self.list_attr().get(key)

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The MXNet 1.x JSON object (nodes, arg_nodes, node_row_ptr, heads, attrs)."""
        nodes = self._topo_nodes()
        index = {id(n): i for i, n in enumerate(nodes)}
        items, row_ptr = [], [0]
        for node in nodes:
            items.append(_node_json(node, index))
            row_ptr.append(row_ptr[-1] + (1 if node.is_variable else _num_outputs(node)))
        return {
            "nodes": items,
            "arg_nodes": [i for i, n in enumerate(nodes) if n.is_variable],
            "node_row_ptr": row_ptr,
            "heads": [[index[id(node)], out, 0] for node, out in self._outputs],
            "attrs": {"mxnet_version": ["int", CURRENT_VERSION]},
        }

    def tojson(self, remove_amp_cast: bool = True) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, fname: str | os.PathLike, remove_amp_cast: bool = True) -> None:
        with open(fname, "w") as handle:
            handle.write(self.tojson())

    # -- materializing -----------------------------------------------------------------
    def to_graph(
        self,
        shapes: Mapping[str, Sequence[Any]] | None = None,
        dtypes: Mapping[str, Any] | None = None,
        training: bool = False,
    ) -> Graph:
        """The ir.Graph of this symbol; every variable is a graph input (in list_inputs
        order), shapes of parameters are inferred from their consumers."""
        from hybrix.importers.mxnet import load as load_mxnet

        names = set(self.list_inputs())
        for given in (shapes or {}, dtypes or {}):
            unknown = sorted(set(given) - names)
            if unknown:
                raise SymbolError(
                    f"{unknown} are not inputs of the symbol; its inputs are {sorted(names)}"
                )
        shapes = {k: tuple(v) for k, v in (shapes or {}).items() if v is not None}
        model = load_mxnet(self.to_dict(), input_shapes=shapes, input_dtypes=dict(dtypes or {}))
        graph = model.graph
        graph.name = _graph_name(self)
        for node in graph.nodes:
            if "training" in node.attrs:
                node.attrs["training"] = training
        return graph

    def infer_shape(self, *args: Any, **kwargs: Any) -> tuple:
        """(arg_shapes, out_shapes, aux_shapes); (None, None, None) when shapes stay open."""
        shapes = _positional(self.list_arguments(), args, kwargs, "infer_shape")
        try:
            graph = self.to_graph(shapes)
        except ShapeError as e:
            if "is unknown" in str(e):
                return None, None, None
            raise
        by_name = {v.name: v for v in graph.inputs}
        arg_shapes = [tuple(by_name[n].shape) for n in self.list_arguments()]
        aux_shapes = [tuple(by_name[n].shape) for n in self.list_auxiliary_states()]
        return arg_shapes, [tuple(v.shape) for v in graph.outputs], aux_shapes

    def infer_shape_partial(self, *args: Any, **kwargs: Any) -> tuple:
        return self.infer_shape(*args, **kwargs)

    def infer_type(self, *args: Any, **kwargs: Any) -> tuple:
        """(arg_types, out_types, aux_types) as numpy types; unlisted float inputs take the
        first given dtype (MXNet's same-type rule for layer parameters)."""
        dtypes = _positional(self.list_arguments(), args, kwargs, "infer_type")
        default = DType.from_any(next(iter(dtypes.values()), "float32")).numpy.type
        arg_types = [
            DType.from_any(dtypes[n]).numpy.type if n in dtypes else default
            for n in self.list_arguments()
        ]
        aux_types = [default for _ in self.list_auxiliary_states()]
        shapes = {n: _declared_shape(node) for n, node in self._variables().items()}
        try:
            graph = self.to_graph({k: v for k, v in shapes.items() if v}, dtypes)
            out_types = [v.dtype.numpy.type for v in graph.outputs]
        except ShapeError:
            out_types = [default for _ in self._outputs]
        return arg_types, out_types, aux_types

    def _variables(self) -> dict[str, SymNode]:
        return {n.name: n for n in self._topo_nodes() if n.is_variable}

    # -- execution ---------------------------------------------------------------------
    def bind(
        self,
        ctx: Any,
        args: Any,
        args_grad: Any = None,
        grad_req: Any = "write",
        aux_states: Any = None,
        group2ctx: Any = None,
        shared_exec: Any = None,
    ) -> Any:
        from hybrix.executor import Executor

        return Executor(self, ctx, args, args_grad, grad_req, aux_states)

    def simple_bind(
        self,
        ctx: Any,
        grad_req: Any = "write",
        type_dict: Mapping[str, Any] | None = None,
        stype_dict: Any = None,
        group2ctx: Any = None,
        shared_arg_names: Any = None,
        shared_exec: Any = None,
        shared_buffer: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Bind with zero-filled arguments, gradients and aux states of inferred shapes."""
        from hybrix.executor import simple_bind

        return simple_bind(self, ctx, grad_req, dict(type_dict or {}), kwargs)

    def eval(self, ctx: Any = None, **kwargs: Any) -> list:
        return self.bind(ctx, kwargs, grad_req="null").forward()

    # -- arithmetic (MXNet's symbol.py: elemwise for Symbol pairs, *_scalar otherwise) --
    def _binary(self, other: Any, tensor_op: str | None, scalar_op: str) -> Symbol:
        if isinstance(other, Symbol):
            if tensor_op is None:
                return NotImplemented
            return _apply(tensor_op, [self, other], {})
        if isinstance(other, numbers.Number | np.generic):
            return _apply(scalar_op, [self], {"scalar": float(other)})
        return NotImplemented

    def __add__(self, other: Any) -> Symbol:
        return self._binary(other, "elemwise_add", "_plus_scalar")

    __radd__ = __add__

    def __sub__(self, other: Any) -> Symbol:
        return self._binary(other, "elemwise_sub", "_minus_scalar")

    def __rsub__(self, other: Any) -> Symbol:
        return self._binary(other, None, "_rminus_scalar")

    def __mul__(self, other: Any) -> Symbol:
        return self._binary(other, "elemwise_mul", "_mul_scalar")

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Symbol:
        return self._binary(other, "elemwise_div", "_div_scalar")

    def __rtruediv__(self, other: Any) -> Symbol:
        return self._binary(other, None, "_rdiv_scalar")

    def __mod__(self, other: Any) -> Symbol:
        return self._binary(other, "_mod", "_mod_scalar")

    def __rmod__(self, other: Any) -> Symbol:
        return self._binary(other, None, "_rmod_scalar")

    def __pow__(self, other: Any) -> Symbol:
        return self._binary(other, "_power", "_power_scalar")

    def __rpow__(self, other: Any) -> Symbol:
        return self._binary(other, None, "_rpower_scalar")

    def __neg__(self) -> Symbol:
        return _apply("_mul_scalar", [self], {"scalar": -1.0})

    def __eq__(self, other: Any) -> Symbol:  # type: ignore[override]
        return self._binary(other, "_equal", "_equal_scalar")

    def __ne__(self, other: Any) -> Symbol:  # type: ignore[override]
        return self._binary(other, "_not_equal", "_not_equal_scalar")

    def __gt__(self, other: Any) -> Symbol:
        return self._binary(other, "_greater", "_greater_scalar")

    def __ge__(self, other: Any) -> Symbol:
        return self._binary(other, "_greater_equal", "_greater_equal_scalar")

    def __lt__(self, other: Any) -> Symbol:
        return self._binary(other, "_lesser", "_lesser_scalar")

    def __le__(self, other: Any) -> Symbol:
        return self._binary(other, "_lesser_equal", "_lesser_equal_scalar")

    def __hash__(self) -> int:
        return id(self) // 16

    def __bool__(self) -> bool:
        raise SymbolError("a Symbol has no truth value; it is a node of a graph, not data")

    def __getattr__(self, name: str) -> Any:
        """Fluent methods: `x.reshape(...)`, `x.sum(axis=1)` == sym.<op>(x, ...)."""
        if name.startswith("_"):
            raise AttributeError(name)
        from hybrix.symbol._ops import make_op_function

        try:
            function = make_op_function(name)
        except HybrixError:
            raise AttributeError(f"Symbol has no attribute or op {name!r}") from None
        return lambda *args, **kwargs: function(self, *args, **kwargs)


def _num_outputs(node: SymNode) -> int:
    from hybrix.importers.mxnet.export import _MXNET_NUM_OUTPUTS

    opdef = get_op(node.op)
    attrs = opdef.check_attrs(node.attrs, node.name)
    return _MXNET_NUM_OUTPUTS.get(opdef.name, opdef.num_visible_outputs(attrs))


def _node_json(node: SymNode, index: dict[int, int]) -> dict[str, Any]:
    item: dict[str, Any] = {"op": node.op, "name": node.name}
    if node.is_variable:
        if node.hidden:
            item["attrs"] = dict(node.hidden)
        item["inputs"] = []
        return item
    attrs = {
        key: "None" if value is None else format_attr(value, f"node {node.name}")
        for key, value in node.attrs.items()
        if key != "training"
    }
    attrs.update(node.hidden)
    if attrs:
        item["attrs"] = attrs
    item["inputs"] = [[index[id(child)], out, 0] for child, out in node.inputs]
    return item


def _graph_name(symbol: Symbol) -> str:
    name = symbol.name or "main"
    return name if name.isidentifier() else "main"


def _declared_shape(node: SymNode) -> tuple | None:
    text = node.hidden.get("__shape__")
    if not text:
        return None
    shape = tuple(int(d) for d in text.strip("()[] ").split(",") if d.strip())
    return shape if 0 not in shape else None


def _positional(names: list[str], args: tuple, kwargs: dict, what: str) -> dict[str, Any]:
    if args and kwargs:
        raise SymbolError(f"{what}: give arguments by position or by name, not both")
    if len(args) > len(names):
        raise SymbolError(f"{what}: {len(args)} positional values for {len(names)} arguments")
    given = dict(zip(names, args, strict=False)) if args else dict(kwargs)
    return {k: v for k, v in given.items() if v is not None}


def _apply(op_name: str, inputs: Sequence[Symbol], attrs: dict[str, Any]) -> Symbol:
    from hybrix.symbol._ops import make_op_function

    return make_op_function(op_name)(*inputs, **attrs)


def var(
    name: str,
    attr: Mapping[str, str] | None = None,
    shape: Sequence[int] | None = None,
    lr_mult: float | None = None,
    wd_mult: float | None = None,
    dtype: Any = None,
    init: Any = None,
    stype: str | None = None,
    **kwargs: Any,
) -> Symbol:
    """A variable (graph input or parameter), MXNet's `sym.var`."""
    if not isinstance(name, str) or not name:
        raise SymbolError(f"sym.var needs a non-empty name string, got {name!r}")
    hidden = {k: str(v) for k, v in (attr or {}).items()}
    if shape is not None:
        hidden["__shape__"] = str(tuple(int(d) for d in shape))
    if dtype is not None:
        hidden["__dtype__"] = str(DType.from_any(dtype).mxnet_flag)
    if lr_mult is not None:
        hidden["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        hidden["__wd_mult__"] = str(wd_mult)
    if init is not None:
        hidden["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype not in (None, "default"):
        raise SymbolError(f"sym.var {name}: stype {stype!r} is not supported (dense only)")
    for key, value in kwargs.items():
        if not (key.startswith("__") and key.endswith("__")):
            raise SymbolError(f"sym.var {name}: unknown argument {key!r}")
        hidden[key] = str(value)
    return Symbol([(SymNode("null", name, hidden=hidden), 0)])


Variable = var


def Group(symbols: Sequence[Symbol]) -> Symbol:
    """One Symbol with the outputs of all `symbols`, in order."""
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise SymbolError("sym.Group expects a non-empty list of Symbols")
    return Symbol([entry for s in symbols for entry in s._outputs])


def load_json(json_str: str) -> Symbol:
    """A Symbol from MXNet JSON text (any 1.x version; upgraded by the importer)."""
    from hybrix.importers.mxnet._json import read_symbol

    return _from_raw(read_symbol(json_str))


def load(fname: str | os.PathLike) -> Symbol:
    from hybrix.importers.mxnet._json import read_symbol

    return _from_raw(read_symbol(os.fspath(fname)))


def _from_raw(raw: Any) -> Symbol:
    from hybrix.importers.mxnet._attrs import BACKEND_KEYS, is_dropped_key, parse_attr

    built: list[SymNode] = []
    for node in raw.nodes:
        if node.is_variable:
            built.append(
                SymNode("null", node.name, hidden={k: str(v) for k, v in node.attrs.items()})
            )
            continue
        opdef = get_op(node.op)
        attrs, hidden = {}, {}
        for key, text in node.attrs.items():
            if key in opdef.attrs:
                attrs[key] = parse_attr(opdef, key, text, f"node {node.name}")
            elif is_dropped_key(key):
                hidden[key] = str(text)
            elif key not in BACKEND_KEYS and key != "num_args":
                raise SymbolError(f"node {node.name} ({node.op}): unknown attribute {key}")
        inputs = [(built[i], out) for i, out, _ in node.inputs]
        built.append(SymNode(opdef.name, node.name, attrs, inputs, hidden))
    return Symbol([(built[i], out) for i, out, _ in raw.heads])
