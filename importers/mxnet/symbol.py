"""Import an MXNet -symbol.json (+ .params) as an ir.Model.

Variables with a parameter become graph constants (named without `arg:`/`aux:`), the other
variables graph inputs, in file order. MXNet's hidden attributes (`__lr_mult__`, `__init__`,
`__layout__`, ...) go to `Model.metadata` as JSON (keys `mxnet.variables`, `mxnet.nodes`);
backend-tuning attributes an op does not declare (`cudnn_*`, `workspace`) are dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrix.importers.mxnet import params as params_codec
from hybrix.importers.mxnet._attrs import BACKEND_KEYS, is_dropped_key, parse_attr
from hybrix.importers.mxnet._json import RawNode, RawSymbol, read_symbol
from hybrix.importers.mxnet._shapes import Expected, expected_shape
from hybrix.ir import (
    AttrError,
    DType,
    Graph,
    HybrixError,
    Model,
    ModelFormatError,
    OpDef,
    ShapeError,
    TensorType,
    UnknownOpError,
    Value,
    get_op,
    verify,
)
from hybrix.ir.types import Dim

__all__ = ["Variable", "list_variables", "load", "read_params"]

ParamsArg = str | os.PathLike | Mapping[str, Any] | None
_CREATION_OPS = ("_zeros", "_ones", "_full")
_VARIABLE_TYPE_KEYS = ("__shape__", "__dtype__", "__storage_type__")


def load(
    symbol: str | os.PathLike | Mapping[str, Any],
    params: ParamsArg = None,
    *,
    input_shapes: Mapping[str, Sequence[Dim]] | None = None,
    input_dtypes: Mapping[str, Any] | None = None,
) -> Model:
    """Read an MXNet symbol (path, JSON text or dict) and its parameters into an ir.Model.

    Args:
        symbol: the -symbol.json file, its text, or the decoded dict.
        params: a .params file or a {name: array} dict (names with or without `arg:`/`aux:`);
            None makes every variable a graph input.
        input_shapes: shapes of inputs, symbolic dims allowed ({'data': ('N', 3, 224, 224)});
            needed where the file leaves a shape open.
        input_dtypes: dtypes of inputs (default: the variable's `__dtype__`, else float32).
    """
    raw = read_symbol(symbol)
    arrays = read_params(params)
    builder = _Builder(raw, arrays, dict(input_shapes or {}), dict(input_dtypes or {}))
    graph = builder.build()
    try:
        verify(graph)
    except HybrixError as e:
        raise ModelFormatError(f"{raw.source}: imported graph is invalid: {e}") from None
    metadata = {
        "mxnet_version": str(raw.version),
        "mxnet.variables": json.dumps(builder.variable_attrs, sort_keys=True),
        "mxnet.nodes": json.dumps(builder.node_attrs, sort_keys=True),
    }
    return Model(graph, producer="mxnet", metadata=metadata)


@dataclass(frozen=True)
class Variable:
    """A variable of a symbol file: its declared shape (0 = unknown) and dtype, if given."""

    name: str
    shape: tuple[int, ...] | None
    dtype: DType
    aux: bool  # read as an aux state (BatchNorm's moving_mean/var): not trained by gradient
    attrs: dict[str, str]


def list_variables(symbol: str | os.PathLike | Mapping[str, Any]) -> list[Variable]:
    """The variables of a symbol, in file order (what SymbolBlock makes Parameters of)."""
    raw = read_symbol(symbol)
    builder = _Builder(raw, None, {}, {})
    aux = set()
    for node in raw.nodes:
        if node.is_variable:
            continue
        names = builder._opdef(node).input_names
        aux_names = set(builder._opdef(node).aux_updates.values())
        for position, (index, _output, version) in enumerate(node.inputs):
            name = names[min(position, len(names) - 1)]
            if version > 0 or name in aux_names:
                aux.add(index)
    result = []
    for node in raw.nodes:
        if node.is_variable:
            builder._record_variable_attrs(node)
            attrs = {k: str(v) for k, v in node.attrs.items()}
            shape, dtype = builder._declared_shape(node), builder._dtype(node)
            result.append(Variable(node.name, shape, dtype, node.index in aux, attrs))
    return result


def read_params(params: ParamsArg) -> dict[str, np.ndarray] | None:
    """{name: array} with `arg:`/`aux:` stripped, from a .params path or a dict."""
    if params is None:
        return None
    if isinstance(params, Mapping):
        source, loaded = "<params dict>", dict(params)
    else:
        source, loaded = str(params), params_codec.load(params)
        if not isinstance(loaded, dict):
            raise ModelFormatError(f"{source}: the arrays have no names; expected arg:/aux: names")
    result: dict[str, np.ndarray] = {}
    for name, array in loaded.items():
        plain = name.split(":", 1)[1] if name.startswith(("arg:", "aux:")) else name
        if plain in result:
            raise ModelFormatError(f"{source}: parameter {plain} appears twice")
        result[plain] = np.asarray(array)
    return result


class _Builder:
    """Walks the upgraded JSON nodes in order and appends the matching hybrix nodes."""

    def __init__(
        self,
        raw: RawSymbol,
        arrays: dict[str, np.ndarray] | None,
        shapes: dict[str, Sequence[Dim]],
        dtypes: dict[str, Any],
    ) -> None:
        self.raw, self.arrays, self.shapes, self.dtypes = raw, arrays, shapes, dtypes
        self.graph = Graph(_graph_name(raw.source))
        self.values: dict[int, list[Value]] = {}
        self.variable_attrs: dict[str, dict[str, str]] = {}
        self.node_attrs: dict[str, dict[str, str]] = {}
        self.input_order: dict[str, int] = {}

    def build(self) -> Graph:
        self._check_params()
        for node in self.raw.nodes:
            if not node.is_variable and not self._deferred(node):
                self._add_op(node)
        outputs = []
        for entry in self.raw.heads:
            value = self._read(entry, f"{self.raw.source}: heads", None)
            if value is None:
                raise _open_shape_error(self.raw.source, self.raw.nodes[entry[0]], "a head")
            outputs.append(value)
        self.graph.outputs = outputs
        self.graph.inputs.sort(key=lambda value: self.input_order[value.name])
        return self.graph

    def _check_params(self) -> None:
        if self.arrays is None:
            return
        variables = {n.name for n in self.raw.nodes if n.is_variable}
        extra = sorted(set(self.arrays) - variables)
        if extra:
            shown = ", ".join(sorted(variables)[:20])
            raise ModelFormatError(
                f"{self.raw.source}: the params hold {len(extra)} names that are not variables "
                f"of the symbol: {', '.join(extra[:20])}; its variables are: {shown}"
            )
        for name in self.shapes:
            if name in self.arrays:
                raise HybrixError(
                    f"{self.raw.source}: {name} is given both as a parameter and in input_shapes"
                )

    # -- op nodes ---------------------------------------------------------------------
    def _add_op(self, node: RawNode) -> list[Value]:
        opdef = self._opdef(node)
        attrs = self._attrs(node, opdef)
        inputs = self._inputs(node, opdef, attrs)
        spec = opdef.attrs.get("num_args")
        if spec is not None and not spec.required and attrs.get("num_args") == len(inputs):
            del attrs["num_args"]  # NOTE: implied by the inputs; hybrix's traces leave it None
        try:
            added = self.graph.add_node(opdef.name, inputs, attrs, name=node.name)
        except HybrixError as e:
            raise type(e)(f"{self.raw.source}: node {node.name} ({node.op}): {e}") from None
        visible = opdef.num_visible_outputs(added.attrs)
        self.values[node.index] = added.outputs[:visible]
        return self.values[node.index]

    def _opdef(self, node: RawNode) -> OpDef:
        try:
            return get_op(node.op)
        except UnknownOpError as e:
            raise UnknownOpError(
                f"{self.raw.source}: node {node.name}: MXNet op {node.op!r} has no hybrix "
                f"mapping ({e}); `hybrix ops` lists the supported ones"
            ) from None

    def _attrs(self, node: RawNode, opdef: OpDef) -> dict[str, Any]:
        where = f"{self.raw.source}: node {node.name}"
        attrs, kept = {}, {}
        for key, text in node.attrs.items():
            if key in opdef.attrs:
                attrs[key] = parse_attr(opdef, key, text, where)
            elif is_dropped_key(key):
                kept[key] = str(text)
            elif key not in BACKEND_KEYS and key != "num_args":
                raise AttrError(
                    f"{where} ({node.op}): unknown attribute {key}={text!r}; hybrix's "
                    f"{opdef.name} takes {sorted(opdef.attrs)}"
                )
        if kept:
            self.node_attrs[node.name] = kept
        return attrs

    def _inputs(self, node: RawNode, opdef: OpDef, attrs: dict[str, Any]) -> list[Value]:
        where = f"{self.raw.source}: node {node.name} ({node.op})"
        found: list[Value | None] = [self._read(e, where, None) for e in node.inputs]
        if any(v is None for v in found):
            full = opdef.check_attrs(attrs, node.name)
            for position, entry in enumerate(node.inputs):
                if found[position] is None:
                    context = (node, opdef.name, full, found, position)
                    found[position] = self._read(entry, where, context)
        return [v for v in found if v is not None]

    def _read(self, entry: tuple[int, int, int], where: str, context: Any) -> Value | None:
        """The value of an input entry; None when it needs the consumer (`context`) to know."""
        index, output, _version = entry
        source = self.raw.nodes[index]
        if index not in self.values:
            created = self._create(source, context)
            if created is None:
                if context is None:
                    return None
                raise _open_shape_error(self.raw.source, source, where)
        outputs = self.values[index]
        if output >= len(outputs):
            raise ModelFormatError(
                f"{where}: reads output {output} of node {source.name} ({source.op}), which "
                f"has {len(outputs)} visible outputs in hybrix (MXNet's hidden outputs such "
                "as BatchNorm's mean/var are not exposed)"
            )
        return outputs[output]

    def _create(self, source: RawNode, context: Any) -> Value | None:
        if source.is_variable:
            value = self._variable(source, context)
            if value is not None:
                self.values[source.index] = [value]
            return value
        if context is None:
            return None
        return self._deferred_creation(source, context)[0]

    # -- variables ----------------------------------------------------------------------
    def _variable(self, node: RawNode, context: Any) -> Value | None:
        self._record_variable_attrs(node)
        name = node.name
        if self.arrays is not None and name in self.arrays:
            return self._constant(node)
        declared = self._declared_shape(node)
        if name in self.shapes:
            shape = tuple(self.shapes[name])
        elif declared is not None and 0 not in declared:
            shape = declared
        elif context is None:
            return None
        else:
            shape = self._shape_from_consumer(node, declared, context)
        self.input_order[name] = node.index
        return self.graph.add_input(name, TensorType(self._dtype(node), shape))

    def _constant(self, node: RawNode) -> Value:
        assert self.arrays is not None
        array = self.arrays[node.name]
        declared = self._declared_shape(node)
        if declared is not None and not _fits(declared, array.shape):
            raise ModelFormatError(
                f"{self.raw.source}: parameter {node.name} has shape {array.shape}, the symbol "
                f"declares __shape__ {declared}"
            )
        return self.graph.add_constant(node.name, array)

    def _declared_shape(self, node: RawNode) -> tuple[int, ...] | None:
        text = node.attrs.get("__shape__")
        if text is None:
            return None
        try:
            value = json.loads(str(text).replace("(", "[").replace(")", "]").replace(",]", "]"))
            return tuple(int(d) for d in value)
        except (ValueError, TypeError):
            raise ModelFormatError(
                f"{self.raw.source}: variable {node.name} has __shape__ {text!r}, expected a "
                "tuple of ints"
            ) from None

    def _dtype(self, node: RawNode) -> DType:
        if node.name in self.dtypes:
            return DType.from_any(self.dtypes[node.name])
        text = node.attrs.get("__dtype__")
        if text is None or str(text) in ("-1", "None"):
            return DType.float32
        text = str(text)
        try:
            return DType.from_mxnet_flag(int(text)) if text.isdigit() else DType.from_any(text)
        except HybrixError as e:
            raise ModelFormatError(f"{self.raw.source}: variable {node.name}: {e}") from None

    def _record_variable_attrs(self, node: RawNode) -> None:
        storage = str(node.attrs.get("__storage_type__", "0"))
        if storage not in ("0", "-1", "default"):
            kind = {"1": "row_sparse", "2": "csr"}.get(storage, storage)
            raise ModelFormatError(
                f"{self.raw.source}: variable {node.name} has {kind} storage "
                f"(__storage_type__={storage}); only dense variables are supported"
            )
        kept = {k: str(v) for k, v in node.attrs.items() if k not in _VARIABLE_TYPE_KEYS}
        if kept:
            self.variable_attrs[node.name] = kept

    def _shape_from_consumer(
        self, node: RawNode, declared: tuple[int, ...] | None, context: Any
    ) -> tuple[Dim, ...]:
        expected = self._expected(context)
        if expected is None or (declared is not None and len(declared) != len(expected)):
            raise _open_shape_error(self.raw.source, node, f"input of node {context[0].name}")
        dims = [d for d, _origin in expected]
        if declared is not None:
            dims = [e if d == 0 else d for d, e in zip(declared, dims, strict=True)]
        return tuple(dims)

    def _expected(self, context: Any) -> Expected | None:
        _node, op, attrs, found, position = context
        types = [None if v is None else v.type for v in found]
        return expected_shape(op, attrs, types, position)

    # -- creation ops whose shape holds MXNet's 0 "unknown" dims --------------------------
    def _deferred(self, node: RawNode) -> bool:
        """A creation op whose shape holds 0s: built when its consumer can fill them."""
        opdef = self._opdef(node)
        if opdef.name not in _CREATION_OPS:
            return False
        return 0 in (self._attrs(node, opdef).get("shape") or ())

    def _deferred_creation(self, node: RawNode, context: Any) -> list[Value]:
        opdef = self._opdef(node)
        attrs = self._attrs(node, opdef)
        expected = self._expected(context)
        shape = list(attrs["shape"])
        if expected is None or len(expected) != len(shape):
            raise _open_shape_error(self.raw.source, node, f"input of node {context[0].name}")
        symbolic: list[tuple[int, Value, int]] = []
        for axis, (dim, origin) in enumerate(expected):
            if shape[axis] != 0:
                continue
            if isinstance(dim, int):
                shape[axis] = dim
            elif origin is not None:
                shape[axis] = 1
                symbolic.append((axis, context[3][origin[0]], origin[1]))
            else:
                raise _open_shape_error(self.raw.source, node, f"input of node {context[0].name}")
        attrs["shape"] = tuple(shape)
        name = f"{node.name}_static" if symbolic else node.name
        value = self.graph.add_node(opdef.name, [], attrs, name=name).outputs[0]
        for axis, like, like_axis in symbolic:
            broadcast = {"lhs_axes": (axis,), "rhs_axes": (like_axis,)}
            name = node.name if axis == symbolic[-1][0] else f"{node.name}_{axis}"
            value = self.graph.add_node("broadcast_like", [value, like], broadcast, name=name)
            value = value.outputs[0]
        self.values[node.index] = [value]
        return self.values[node.index]


def _open_shape_error(source: str, node: RawNode, where: str) -> HybrixError:
    """The error for a variable or creation op whose shape the file leaves open."""
    declared = node.attrs.get("__shape__") or node.attrs.get("shape")
    shown = f" (the file gives {declared})" if declared else ""
    return ShapeError(
        f"{source}: the shape of {node.name} ({'variable' if node.is_variable else node.op}), "
        f"{where}, is unknown{shown}; pass input_shapes={{{node.name!r}: (...)}} "
        "(a symbolic batch such as 'N' is allowed)"
    )


def _fits(declared: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    if len(declared) != len(shape):
        return False
    return all(d in (0, s) for d, s in zip(declared, shape, strict=True))


def _graph_name(source: str) -> str:
    stem = Path(source).name if not source.startswith("<") else "mxnet"
    for suffix in (".json", "-symbol"):
        stem = stem.removesuffix(suffix)
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return cleaned or "mxnet"
