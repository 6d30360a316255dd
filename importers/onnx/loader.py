"""ONNX ModelProto -> ir.Model: initializers become constants, each node maps to hybrix ops.

    model = hybrix.importers.onnx.load("model.onnx")     # or a ModelProto
    model.graph                                           # an ir.Graph hybrix compiles

Graph inputs keep their names and types (an unnamed or dim_param dimension becomes a
symbolic one); attribute-like inputs (shapes, axes, pads, K) must be constants
(initializers or Constant nodes). An op or opset with no mapping raises OnnxImportError
naming the node, the op and what is supported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hybrix.ir import DType, Graph, HybrixError, Model, TensorType, Value, get_op

__all__ = ["OLDEST_OPSET", "OnnxImportError", "load", "supported_ops"]

OLDEST_OPSET = 7  # attribute forms (Slice < 10, Pad/Clip < 11, axes < 13/18) are read too

_DTYPES = {
    onnx.TensorProto.FLOAT16: DType.float16,
    onnx.TensorProto.BFLOAT16: DType.bfloat16,
    onnx.TensorProto.FLOAT: DType.float32,
    onnx.TensorProto.DOUBLE: DType.float64,
    onnx.TensorProto.INT8: DType.int8,
    onnx.TensorProto.INT16: DType.int16,
    onnx.TensorProto.INT32: DType.int32,
    onnx.TensorProto.INT64: DType.int64,
    onnx.TensorProto.UINT8: DType.uint8,
    onnx.TensorProto.UINT16: DType.uint16,
    onnx.TensorProto.UINT32: DType.uint32,
    onnx.TensorProto.UINT64: DType.uint64,
    onnx.TensorProto.BOOL: DType.bool,
}


class OnnxImportError(HybrixError):
    """An ONNX model, node or attribute hybrix cannot import.

    `needs_constant` names the graph input that would have to be a constant (a shape, K
    or RNN weights fed as an input), when that is the reason; see load(constants=...).
    """

    needs_constant: str | None = None


def dtype_of(code: int, where: str) -> DType:
    if code not in _DTYPES:
        name = onnx.TensorProto.DataType.Name(code)
        shown = ", ".join(d.name for d in _DTYPES.values())
        raise OnnxImportError(f"{where}: element type {name} is not supported; expected {shown}")
    return _DTYPES[code]


def supported_ops() -> list[str]:
    from hybrix.importers.onnx.convert import CONVERTERS

    return sorted(CONVERTERS)


def load(
    source: str | os.PathLike | onnx.ModelProto | bytes,
    constants: Mapping[str, Any] | None = None,
) -> Model:
    """Read an ONNX model (a path, bytes or a ModelProto) into an ir.Model.

    constants: values for graph inputs to fold in as constants (an ONNX graph may feed
    shapes, axes or K through inputs, which hybrix needs to know when it builds the graph).
    """
    model, where = _read(source)
    opset = _opset(model, where)
    graph = Graph(_name(model.graph.name))
    context = Context(graph, opset, where)
    unknown = sorted(set(constants or {}) - {i.name for i in model.graph.input})
    if unknown:
        raise OnnxImportError(f"{where}: constants {unknown} name no graph input")
    context.add_graph(model.graph, constants or {})
    return Model(graph, producer=model.producer_name or "onnx", opset=opset)


def _name(name: str) -> str:
    return name if name.isidentifier() else "main"


def _read(source: Any) -> tuple[onnx.ModelProto, str]:
    if isinstance(source, onnx.ModelProto):
        return source, f"ONNX model {source.graph.name or '(unnamed)'}"
    try:
        if isinstance(source, bytes):
            return onnx.load_from_string(source), "ONNX model (bytes)"
        path = Path(source)
        return onnx.load(path), str(path)
    except FileNotFoundError:
        raise OnnxImportError(f"{source}: no such ONNX file") from None
    except Exception as e:  # protobuf raises DecodeError and friends
        raise OnnxImportError(f"{source}: not a readable ONNX model ({e})") from None


def _opset(model: onnx.ModelProto, where: str) -> int:
    from hybrix.importers.onnx.convert import NEWEST_OPSET

    versions = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    others = sorted(set(versions) - {"ai.onnx"})
    used = {node.domain or "ai.onnx" for node in model.graph.node}
    if used - {"ai.onnx"}:
        raise OnnxImportError(
            f"{where}: nodes of domains {sorted(used - {'ai.onnx'})} (opsets {others}) are "
            "not supported; only the default ONNX domain is"
        )
    opset = versions.get("ai.onnx", NEWEST_OPSET)
    if not OLDEST_OPSET <= opset <= NEWEST_OPSET:
        raise OnnxImportError(
            f"{where}: ONNX opset {opset} is not supported; expected {OLDEST_OPSET} to "
            f"{NEWEST_OPSET}"
        )
    return opset


class Context:
    """The graph being built and the ONNX name -> ir.Value map; converters use it."""

    def __init__(self, graph: Graph, opset: int, where: str) -> None:
        self.graph = graph
        self.opset = opset
        self.where = where
        self.values: dict[str, Value] = {}
        self.node: onnx.NodeProto | None = None
        self._graph_inputs: dict[int, str] = {}  # id(Value) -> ONNX graph input name
        self._counter = 0

    # -- graph level -----------------------------------------------------------------------
    def add_graph(self, proto: onnx.GraphProto, constants: Mapping[str, Any]) -> None:
        for tensor in proto.initializer:
            self.values[tensor.name] = self.graph.add_constant(
                self._fresh(tensor.name), numpy_helper.to_array(tensor)
            )
        for name, array in constants.items():
            self.values[name] = self.graph.add_constant(self._fresh(name), np.asarray(array))
        for info in proto.input:
            if info.name not in self.values:
                value = self.graph.add_input(self._fresh(info.name), self._type(info))
                self.values[info.name] = value
                self._graph_inputs[id(value)] = info.name
        for node in proto.node:
            self._convert(node)
        outputs = []
        for info in proto.output:
            if info.name not in self.values:
                raise OnnxImportError(f"{self.where}: graph output {info.name} is never produced")
            outputs.append(self.values[info.name])
        self.graph.outputs = outputs

    def _type(self, info: onnx.ValueInfoProto) -> TensorType:
        where = f"{self.where}: input {info.name}"
        if not info.type.HasField("tensor_type"):
            raise OnnxImportError(f"{where}: only tensor inputs are supported")
        tensor = info.type.tensor_type
        dims: list[int | str] = []
        for axis, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            else:
                name = dim.dim_param if dim.dim_param.isidentifier() else f"{info.name}_{axis}"
                dims.append(name if name.isidentifier() else f"d{axis}")
        return TensorType(dtype_of(tensor.elem_type, where), tuple(dims))

    def _convert(self, node: onnx.NodeProto) -> None:
        from hybrix.importers.onnx.convert import CONVERTERS

        self.node = node
        converter = CONVERTERS.get(node.op_type)
        if converter is None:
            raise OnnxImportError(
                f"{self.where}: node {node.name or node.output[0]} has op {node.op_type}, "
                f"which hybrix does not import; supported: {', '.join(sorted(CONVERTERS))}"
            )
        inputs = [self.values[name] if name else None for name in node.input]
        missing = [name for name in node.input if name and name not in self.values]
        if missing:
            raise OnnxImportError(f"{self.describe()}: inputs {missing} are not defined before it")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        try:
            results = converter(self, inputs, attrs)
        except OnnxImportError:
            raise
        except HybrixError as e:
            raise OnnxImportError(f"{self.describe()}: {e}") from None
        results = list(results) if isinstance(results, list | tuple) else [results]
        for name, value in zip(node.output, results, strict=False):
            if name:
                self.values[name] = value
        wanted = [name for name in node.output[len(results) :] if name]
        if wanted:
            raise OnnxImportError(f"{self.describe()}: its outputs {wanted} are not supported")

    # -- for converters ------------------------------------------------------------------
    def describe(self) -> str:
        node = self.node
        name = (node.name or node.output[0]) if node is not None else "?"
        return f"{self.where}: node {name} ({node.op_type if node else '?'})"

    def fail(self, reason: str) -> Any:
        raise OnnxImportError(f"{self.describe()}: {reason}")

    def add(
        self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None
    ) -> list[Value]:
        """Append a hybrix node; returns its outputs. A node of constants is folded (its
        numpy ref runs now), so weights computed from weights stay constants."""
        base = self.node.name if self.node is not None and self.node.name else op.lower()
        name = self._fresh(base.replace("/", "_").replace(".", "_").replace(":", "_") or "node")
        if all(v.const is not None for v in inputs):
            return self._fold(op, inputs, attrs or {}, name)
        if op in ("shape_array", "size_array") and all(isinstance(d, int) for d in inputs[0].shape):
            # a static shape is known now: later Reshape/Expand/... get constant operands
            shape = np.asarray(inputs[0].shape, np.int64)
            return [
                self.constant(shape if op == "shape_array" else shape.prod(keepdims=True), name)
            ]
        return list(self.graph.add_node(op, list(inputs), dict(attrs or {}), name=name).outputs)

    def _fold(
        self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any], name: str
    ) -> list[Value]:
        opdef = get_op(op)
        full = opdef.check_attrs(attrs, name)
        types = opdef.infer_types([v.type for v in inputs], full, name)
        result = opdef.ref_fn(*[v.const for v in inputs], **full)
        arrays = list(result) if isinstance(result, tuple | list) else [result]
        values = []
        for array, type in zip(arrays, types, strict=True):
            values.append(
                self.constant(np.asarray(array).astype(type.dtype.numpy).reshape(type.shape), name)
            )
        return values

    def add1(
        self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None
    ) -> Value:
        return self.add(op, inputs, attrs)[0]

    def constant(self, array: Any, hint: str = "const") -> Value:
        return self.graph.add_constant(self._fresh(hint), np.asarray(array))

    def const_of(self, value: Value | None, what: str) -> np.ndarray:
        """The data of an input that must be a constant (shapes, axes, pads, K)."""
        if value is None or value.const is None:
            error = OnnxImportError(
                f"{self.describe()}: input {what} must be a constant (an initializer or a "
                "Constant node)"
            )
            error.needs_constant = self._graph_inputs.get(id(value))
            raise error
        return np.asarray(value.const)

    def optional_const(self, value: Value | None, what: str) -> np.ndarray | None:
        return None if value is None else self.const_of(value, what)

    def _fresh(self, name: str) -> str:
        clean = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "v"
        if not (clean[0].isalpha() or clean[0] == "_"):
            clean = f"v_{clean}"
        return self.graph.fresh_name(clean)
