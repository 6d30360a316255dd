"""Write an ir.Graph as MXNet 1.9.1 files: prefix-symbol.json and prefix-%04d.params.

Nodes are written in the graph's order (topological), each variable just before its first
use, as MXNet's DFS writes them. Constants and the graph inputs named in `params` become
variables whose arrays go to the .params file as `arg:<name>`, or `aux:<name>` when an op
reads them as an aux state (BatchNorm's moving_mean/var, entered with version 1).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hybrix.importers.mxnet import params as params_codec
from hybrix.importers.mxnet._attrs import format_attr
from hybrix.importers.mxnet._json import CURRENT_VERSION
from hybrix.ir import DType, Graph, HybrixError, Model, Node, OpDef, Value, get_op

__all__ = ["save", "to_json"]

# NOTE: hybrix-only attributes (the frontend's train/predict switch); MXNet reads the mode
# from autograd, not from the node.
_HYBRIX_ONLY_ATTRS = frozenset({"training"})
# Attributes MXNet requires although hybrix has a default (checked against MXNet 1.9.1's
# operator registry): written even when None or default.
_ALWAYS_WRITTEN = {"slice_axis": ("end",), "Pad": ("mode",)}
_NO_MXNET_FORM = {
    "_fused": "it is a hybrix fusion of several ops; export the graph before optimizing it",
    "_linspace": "MXNet's _linspace takes start/stop/step, hybrix's takes num/endpoint",
}
# MXNet's output count where it has outputs hybrix does not expose (node_row_ptr only).
_MXNET_NUM_OUTPUTS = {"BatchNorm": 3, "Dropout": 2, "LayerNorm": 3, "GroupNorm": 3}


def to_json(graph: Graph | Model, params: Mapping[str, Any] | None = None) -> str:
    """The -symbol.json text of a graph; inputs named in `params` are written as parameters."""
    writer = _Writer(_graph_of(graph), set(params or ()), _metadata(graph))
    return json.dumps(writer.symbol(), indent=2)


def save(
    graph: Graph | Model,
    prefix: str | os.PathLike,
    epoch: int = 0,
    params: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write prefix-symbol.json and prefix-%04d.params; returns their paths.

    params: arrays for graph inputs that are parameters ({name: array}, as HybridBlock.export
    passes them); the graph's constants are written as parameters too.
    """
    graph_obj = _graph_of(graph)
    params = dict(params or {})
    writer = _Writer(graph_obj, set(params), _metadata(graph))
    symbol = writer.symbol()
    arrays = writer.param_arrays(params)
    prefix = str(prefix)
    symbol_path, params_path = Path(f"{prefix}-symbol.json"), Path(f"{prefix}-{epoch:04d}.params")
    _write_text(symbol_path, json.dumps(symbol, indent=2))
    params_codec.save(params_path, arrays)
    return symbol_path, params_path


def _graph_of(graph: Graph | Model) -> Graph:
    return graph.graph if isinstance(graph, Model) else graph


def _metadata(graph: Graph | Model) -> dict[str, dict[str, dict[str, str]]]:
    """MXNet's hidden attributes kept by the importer: variables (__lr_mult__...) and nodes."""
    result: dict[str, dict[str, dict[str, str]]] = {"mxnet.variables": {}, "mxnet.nodes": {}}
    if isinstance(graph, Model):
        for key in result:
            try:
                result[key] = dict(json.loads(graph.metadata.get(key, "{}")))
            except ValueError:
                continue
    return result


class _Writer:
    def __init__(
        self, graph: Graph, param_inputs: set[str], metadata: dict[str, dict[str, dict[str, str]]]
    ) -> None:
        self.graph = graph
        self.param_inputs = param_inputs
        self.variable_attrs = metadata["mxnet.variables"]
        self.node_attrs = metadata["mxnet.nodes"]
        self.nodes: list[dict[str, Any]] = []
        self.row_ptr = [0]
        self.entries: dict[int, tuple[int, int]] = {}  # id(value) -> (json node, output)
        self.variables: list[Value] = []
        self.aux: set[int] = set()
        self._check_param_names()

    def _check_param_names(self) -> None:
        names = {value.name for value in self.graph.inputs}
        unknown = sorted(self.param_inputs - names)
        if unknown:
            raise HybrixError(
                f"graph {self.graph.name}: params {', '.join(unknown)} are not graph inputs; "
                f"its inputs are {', '.join(sorted(names))}"
            )

    def symbol(self) -> dict[str, Any]:
        live = _live_nodes(self.graph)
        for node in self.graph.nodes:
            if id(node) in live:
                self._add_node(node)
        heads = [self._entry(value, None, 0, "graph output") for value in self.graph.outputs]
        arg_nodes = [i for i, node in enumerate(self.nodes) if node["op"] == "null"]
        return {
            "nodes": self.nodes,
            "arg_nodes": arg_nodes,
            "node_row_ptr": self.row_ptr,
            "heads": heads,
            "attrs": {"mxnet_version": ["int", CURRENT_VERSION]},
        }

    def param_arrays(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """`arg:`/`aux:` names to arrays, in the order the variables were written."""
        result = {}
        for value in self.variables:
            if value.const is not None:
                array = np.asarray(value.const)
            elif value.name in params:
                array = np.asarray(params[value.name])
                _check_param(value, array)
            else:
                continue
            prefix = "aux" if id(value) in self.aux else "arg"
            result[f"{prefix}:{value.name}"] = array
        return result

    # -- nodes --------------------------------------------------------------------------
    def _add_node(self, node: Node) -> None:
        opdef = get_op(node.op)
        if opdef.name in _NO_MXNET_FORM:
            raise HybrixError(
                f"graph {self.graph.name}: node {node.name} ({node.op}) has no MXNet form: "
                f"{_NO_MXNET_FORM[opdef.name]}"
            )
        inputs = node.inputs
        if opdef.rng and len(inputs) == len(opdef.inputs):
            inputs = inputs[:-1]  # NOTE: the PRNG key hybrix threads through; MXNet has none
        aux_names = set(opdef.aux_updates.values())
        names = opdef.input_names
        entries = []
        for position, value in enumerate(inputs):
            name = names[min(position, len(names) - 1)]
            entries.append(self._entry(value, node, position, name, name in aux_names))
        name = node.name or node.outputs[0].name
        attrs = {**self.node_attrs.get(name, {}), **_mxnet_attrs(node, opdef, len(inputs))}
        record: dict[str, Any] = {"op": node.op, "name": name}
        if attrs:
            record["attrs"] = dict(sorted(attrs.items()))
        record["inputs"] = entries
        visible = opdef.num_visible_outputs(node.attrs)
        for index, value in enumerate(node.outputs[:visible]):
            self.entries[id(value)] = (len(self.nodes), index)
        self._append(record, _MXNET_NUM_OUTPUTS.get(node.op, visible))

    def _entry(
        self, value: Value, node: Node | None, position: int, what: str, aux: bool = False
    ) -> list[int]:
        if id(value) not in self.entries:
            if value.producer is not None:
                reader = f"node {node.name}" if node is not None else "the graph"
                raise HybrixError(
                    f"graph {self.graph.name}: {reader} reads %{value.name}, output "
                    f"{value.index} of {value.producer.name} ({value.producer.op}), which "
                    "MXNet does not expose (an aux-state update); it cannot be exported"
                )
            self._add_variable(value)
        if aux:
            if value.producer is not None:
                raise HybrixError(
                    f"graph {self.graph.name}: node {node.name if node else '?'} reads {what} "
                    f"from %{value.name}, not a variable; MXNet needs aux states as variables"
                )
            self.aux.add(id(value))
        index, output = self.entries[id(value)]
        # NOTE: MXNet marks aux-state inputs with version 1: the op mutates the variable once.
        return [index, output, 1 if aux else 0]

    def _add_variable(self, value: Value) -> None:
        attrs = dict(self.variable_attrs.get(value.name, {}))
        if value.const is not None or value.name in self.param_inputs:
            if all(isinstance(d, int) for d in value.shape):
                attrs["__shape__"] = str(tuple(value.shape))
            attrs["__dtype__"] = str(value.dtype.mxnet_flag)
            attrs["__storage_type__"] = "0"
        record: dict[str, Any] = {"op": "null", "name": value.name}
        if attrs:
            record["attrs"] = dict(sorted(attrs.items()))
        record["inputs"] = []
        self.entries[id(value)] = (len(self.nodes), 0)
        self.variables.append(value)
        self._append(record, 1)

    def _append(self, record: dict[str, Any], outputs: int) -> None:
        self.nodes.append(record)
        self.row_ptr.append(self.row_ptr[-1] + outputs)


def _mxnet_attrs(node: Node, opdef: OpDef, inputs: int) -> dict[str, str]:
    """Attributes as MXNet strings: set ones only (None and hybrix defaults are left out)."""
    where = f"node {node.name} ({node.op})"
    result = {}
    always = _ALWAYS_WRITTEN.get(opdef.name, ())
    for key, value in node.attrs.items():
        spec = opdef.attrs.get(key)
        if key == "num_args":
            # NOTE: MXNet requires num_args for variadic ops (Concat, _rnn_param_concat, ...)
            result[key] = str(inputs if value is None else value)
        elif key in always:
            result[key] = "None" if value is None else format_attr(value, where)
        elif key in _HYBRIX_ONLY_ATTRS or value is None:
            continue
        elif spec is None or spec.required or not _same(value, spec):
            result[key] = format_attr(value, where)
    return result


def _same(value: Any, spec: Any) -> bool:
    default = spec.default
    if isinstance(default, DType) or isinstance(value, DType):
        return default == value
    if isinstance(value, tuple | list) and isinstance(default, tuple | list):
        return tuple(value) == tuple(default)
    return type(value) is type(default) and value == default


def _check_param(value: Value, array: np.ndarray) -> None:
    shape_ok = len(array.shape) == len(value.shape) and all(
        isinstance(d, str) or d == s for d, s in zip(value.shape, array.shape, strict=True)
    )
    if not shape_ok or DType.from_any(array.dtype) != value.dtype:
        raise HybrixError(
            f"parameter {value.name}: array is {array.dtype}{list(array.shape)}, the graph "
            f"input is {value.type}"
        )


def _live_nodes(graph: Graph) -> set[int]:
    """ids of the nodes some graph output depends on (MXNet writes only those)."""
    live: set[int] = set()
    stack = [v.producer for v in graph.outputs if v.producer is not None]
    while stack:
        node = stack.pop()
        if id(node) in live:
            continue
        live.add(id(node))
        stack.extend(v.producer for v in node.inputs if v.producer is not None)
    return live


def _write_text(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
