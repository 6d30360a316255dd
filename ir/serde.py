"""The .hxir file format: IR objects to and from protobuf (ir/hybrix.proto), save and load.

This is the only module that imports the generated protobuf code. A .hxir file is a header
(magic b"HXIR", format version, payload length, CRC-32 of the payload; little-endian)
followed by a serialized `Model`, so foreign, truncated and corrupt files are told apart.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
from google.protobuf.message import DecodeError

from hybrix.ir._proto import hybrix_pb2 as pb
from hybrix.ir.dtypes import DType
from hybrix.ir.errors import GraphError, HybrixError, ModelFormatError
from hybrix.ir.graph import Graph, Model, Node, Value
from hybrix.ir.ops import get_op
from hybrix.ir.types import TensorType

__all__ = ["FORMAT_VERSION", "MAGIC", "dumps", "from_proto", "load", "loads", "save", "to_proto"]

MAGIC = b"HXIR"
FORMAT_VERSION = Model.FORMAT_VERSION
_HEADER = struct.Struct("<4sIQI")  # magic, format version, payload length, CRC-32


# -- files ----------------------------------------------------------------------------------
def save(model: Model | Graph, path: str | os.PathLike[str]) -> None:
    """Write a model (or a bare graph) to a .hxir file, atomically."""
    _write_atomically(Path(path), dumps(model))


def dumps(model: Model | Graph) -> bytes:
    """The bytes of a .hxir file (header and payload) for a model or a bare graph."""
    payload = to_proto(model).SerializeToString()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), zlib.crc32(payload)) + payload


def load(path: str | os.PathLike[str]) -> Model:
    """Read a .hxir file; ModelFormatError names the file and what is wrong with it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read ({e.strerror})") from None
    return loads(data, str(path))


def loads(data: bytes, source: str = "<bytes>") -> Model:
    """Read the bytes of a .hxir file; `source` names them in errors."""
    payload = _check_header(data, source)
    message = pb.Model()
    try:
        message.ParseFromString(payload)
    except DecodeError as e:
        raise ModelFormatError(f"{source}: corrupt model ({e})") from None
    return from_proto(message, source=source)


def _check_header(data: bytes, source: str) -> bytes:
    """The payload after a valid header."""
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise ModelFormatError(
            f"{source}: not a .hxir file (magic {data[: len(MAGIC)]!r}, expected {MAGIC!r})"
        )
    if len(data) < _HEADER.size:
        raise ModelFormatError(
            f"{source}: truncated: {len(data)} bytes, shorter than the {_HEADER.size}-byte header"
        )
    _, version, length, checksum = _HEADER.unpack_from(data)
    _check_version(version, source)
    payload = data[_HEADER.size :]
    if len(payload) < length:
        raise ModelFormatError(
            f"{source}: truncated: expected {length} bytes of model, found {len(payload)}"
        )
    if len(payload) > length:
        raise ModelFormatError(
            f"{source}: corrupt: {len(payload) - length} bytes after the {length}-byte model"
        )
    if zlib.crc32(payload) != checksum:
        raise ModelFormatError(f"{source}: corrupt: the model's checksum does not match")
    return payload


def _check_version(version: int, source: str) -> None:
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{source}: format version {version} is newer than this hybrix reads "
            f"({FORMAT_VERSION}); upgrade hybrix"
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- objects to protobuf ----------------------------------------------------------------------
def to_proto(model: Model | Graph) -> pb.Model:
    """The protobuf Model for a Model, or for a Graph wrapped in a default Model."""
    if isinstance(model, Graph):
        model = Model(model)
    message = pb.Model(
        format_version=model.format_version,
        producer=model.producer,
        opset=model.opset,
        metadata=dict(model.metadata),
    )
    message.graph.CopyFrom(_graph_to_proto(model.graph))
    return message


def _graph_to_proto(graph: Graph) -> pb.Graph:
    message = pb.Graph(name=graph.name)
    for value in graph.inputs:
        message.inputs.append(_value_info(value))
    for value in graph.constants:
        message.constants.append(_tensor_to_proto(value, graph))
    for node in graph.nodes:
        message.nodes.append(_node_to_proto(node))
        message.value_info.extend(_value_info(value) for value in node.outputs)
    message.outputs.extend(value.name for value in graph.outputs)
    return message


def _node_to_proto(node: Node) -> pb.Node:
    message = pb.Node(
        op=node.op,
        name=node.name,
        inputs=[value.name for value in node.inputs],
        outputs=[value.name for value in node.outputs],
    )
    kinds = _attr_kinds(node.op)
    for name, value in node.attrs.items():
        where = f"node {node.name} ({node.op}) attribute {name}"
        try:
            message.attributes.append(_attr_to_proto(name, value, kinds.get(name), where))
        except (TypeError, ValueError, HybrixError) as e:
            raise GraphError(f"{where}: cannot store {value!r} ({e})") from None
    return message


def _attr_kinds(op: str) -> dict[str, str]:
    try:
        return {name: spec.kind for name, spec in get_op(op).attrs.items()}
    except HybrixError:
        return {}


def _value_info(value: Value) -> pb.ValueInfo:
    return pb.ValueInfo(name=value.name, type=_type_to_proto(value.type))


def _type_to_proto(type: TensorType) -> pb.TensorType:
    message = pb.TensorType(dtype=_dtype_to_proto(type.dtype))
    for dim in type.shape:
        message.shape.append(pb.Dim(symbol=dim) if isinstance(dim, str) else pb.Dim(size=dim))
    return message


def _dtype_to_proto(dtype: DType) -> pb.DataType:
    return cast("pb.DataType", pb.DataType.Value(dtype.name.upper()))


def _tensor_to_proto(value: Value, graph: Graph) -> pb.Tensor:
    if value.const is None:
        raise GraphError(f"graph {graph.name}: constant %{value.name} holds no data")
    array = np.asarray(value.const, order="C")
    if DType.from_any(array.dtype) is not value.type.dtype or array.shape != value.shape:
        raise GraphError(
            f"graph {graph.name}: constant %{value.name} holds {array.dtype}{list(array.shape)}, "
            f"its type says {value.type}"
        )
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return pb.Tensor(
        name=value.name,
        dtype=_dtype_to_proto(value.type.dtype),
        shape=array.shape,
        raw_data=_to_little_endian(array),
    )


def _to_little_endian(array: np.ndarray) -> bytes:
    # NOTE: viewed as unsigned ints of the same width so bfloat16 (ml_dtypes) swaps too.
    bits = array.view(f"u{array.dtype.itemsize}")
    return bits.astype(bits.dtype.newbyteorder("<"), copy=False).tobytes()


def _attr_to_proto(name: str, value: Any, kind: str | None, where: str) -> pb.Attribute:
    """An Attribute; `kind` is the schema's Attr kind (None: guessed from the value)."""
    message = pb.Attribute(name=name)
    kind = _guess_kind(value, where) if kind is None else kind
    if value is None:
        message.none.SetInParent()
    elif kind == "int":
        message.int_value = int(value)
    elif kind == "float":
        message.float_value = float(value)
    elif kind == "bool":
        message.bool_value = bool(value)
    elif kind == "str":
        message.string_value = value
    elif kind == "ints":
        message.ints.SetInParent()
        message.ints.values.extend(int(item) for item in value)
    elif kind == "floats":
        message.floats.SetInParent()
        message.floats.values.extend(float(item) for item in value)
    elif kind == "opt_ints":
        message.opt_ints.SetInParent()
        for item in value:
            entry = pb.OptInt() if item is None else pb.OptInt(value=int(item))
            message.opt_ints.values.append(entry)
    elif kind == "dtype":
        message.dtype = _dtype_to_proto(DType.from_any(value))
    elif kind == "graph":
        message.graph.CopyFrom(_graph_to_proto(value))
    return message


def _guess_kind(value: Any, where: str) -> str:
    if value is None:
        return "none"
    for kind, types in _SCALAR_KINDS:
        if isinstance(value, types):
            return kind
    if isinstance(value, list | tuple):
        if any(item is None for item in value):
            return "opt_ints"
        if all(isinstance(item, int | np.integer) for item in value):
            return "ints"
        return "floats"
    raise GraphError(f"{where}: cannot store a {type(value).__name__} attribute")


_SCALAR_KINDS = (
    ("bool", (bool, np.bool_)),
    ("int", (int, np.integer)),
    ("float", (float, np.floating)),
    ("str", str),
    ("dtype", DType),
    ("graph", Graph),
)


# -- protobuf to objects ----------------------------------------------------------------------
def from_proto(message: pb.Model | pb.Graph, *, source: str = "<message>") -> Model:
    """A Model from its protobuf form; `source` names the file in errors."""
    if isinstance(message, pb.Graph):
        return Model(_GraphReader(source, ()).read(message))
    _check_version(message.format_version, source)
    graph = _GraphReader(source, ()).read(message.graph)
    return Model(
        graph,
        producer=message.producer,
        opset=message.opset,
        metadata=dict(message.metadata),
        format_version=message.format_version,
    )


class _GraphReader:
    """Rebuilds one Graph; `outer` are the name scopes of the graphs enclosing it."""

    def __init__(self, source: str, outer: tuple[dict[str, Value], ...]) -> None:
        self.source = source
        self.outer = outer
        self.scope: dict[str, Value] = {}
        self.where = source

    def read(self, message: pb.Graph) -> Graph:
        graph = Graph(message.name)
        self.where = f"{self.source}: graph {message.name}"
        for info in message.inputs:
            self._define(graph.add_input(self._claim(info.name), self._type(info.type)))
        for tensor in message.constants:
            self._define(graph.add_constant(self._claim(tensor.name), self._array(tensor)))
        types = {info.name: info.type for info in message.value_info}
        for node in message.nodes:
            graph.append(self._node(node, types))
        graph.outputs = [self._lookup(name, "graph output") for name in message.outputs]
        return graph

    def _node(self, message: pb.Node, types: Mapping[str, pb.TensorType]) -> Node:
        where = f"{self.where}: node {message.name}"
        try:
            opdef = get_op(message.op)
        except HybrixError:
            raise ModelFormatError(
                f"{self.source}: unknown op {message.op} in node {message.name}"
            ) from None
        inputs = [self._lookup(name, f"node {message.name} input") for name in message.inputs]
        attrs = {a.name: self._attr(a, where) for a in message.attributes}
        try:
            attrs = opdef.check_attrs(attrs, where)
            if any(name not in types for name in message.outputs):
                inferred = opdef.infer_types([v.type for v in inputs], attrs, where)
            else:
                inferred = [self._type(types[name]) for name in message.outputs]
        except ModelFormatError:
            raise
        except HybrixError as e:
            raise ModelFormatError(str(e)) from None
        if len(inferred) != len(message.outputs):
            found = len(message.outputs)
            raise ModelFormatError(f"{where}: {found} outputs, expected {len(inferred)}")
        outputs = [Value(self._claim(n), t) for n, t in zip(message.outputs, inferred, strict=True)]
        for value in outputs:
            self._define(value)
        return Node(message.op, inputs, outputs, attrs, message.name)

    def _attr(self, message: pb.Attribute, where: str) -> Any:
        kind = message.WhichOneof("value")
        if kind is None or kind == "none":
            return None
        if kind in ("ints", "floats"):
            return tuple(getattr(message, kind).values)
        if kind == "opt_ints":
            return tuple(i.value if i.HasField("value") else None for i in message.opt_ints.values)
        if kind == "dtype":
            return self._dtype(message.dtype, f"{where} attribute {message.name}")
        if kind == "graph":
            return _GraphReader(self.source, (self.scope, *self.outer)).read(message.graph)
        return getattr(message, kind)

    def _type(self, message: pb.TensorType) -> TensorType:
        shape = []
        for dim in message.shape:
            which = dim.WhichOneof("value")
            if which is None:
                raise ModelFormatError(f"{self.where}: a dimension has neither size nor symbol")
            shape.append(getattr(dim, which))
        try:
            return TensorType(self._dtype(message.dtype, self.where), tuple(shape))
        except HybrixError as e:
            raise ModelFormatError(f"{self.where}: {e}") from None

    def _dtype(self, number: int, where: str) -> DType:
        name = pb.DataType.Name(number).lower() if number in pb.DataType.values() else ""
        if name not in DType.__members__:
            raise ModelFormatError(f"{where}: unknown data type {number}")
        return DType[name]

    def _array(self, tensor: pb.Tensor) -> np.ndarray:
        dtype = self._dtype(tensor.dtype, f"{self.where}: constant {tensor.name}")
        count = int(np.prod(tensor.shape, dtype=np.int64))
        expected = count * dtype.itemsize
        if len(tensor.raw_data) != expected:
            raise ModelFormatError(
                f"{self.where}: constant {tensor.name} has {len(tensor.raw_data)} bytes, "
                f"expected {expected} for {dtype.name}{list(tensor.shape)}"
            )
        bits = np.frombuffer(tensor.raw_data, f"<u{dtype.itemsize}")
        array = bits.astype(f"=u{dtype.itemsize}").view(dtype.numpy)
        return array.reshape(tuple(tensor.shape))

    def _claim(self, name: str) -> str:
        if name in self.scope:
            raise ModelFormatError(f"{self.where}: value %{name} is defined twice")
        return name

    def _define(self, value: Value) -> None:
        self.scope[value.name] = value

    def _lookup(self, name: str, role: str) -> Value:
        for scope in (self.scope, *self.outer):
            if name in scope:
                return scope[name]
        raise ModelFormatError(f"{self.where}: {role} %{name} is not defined before its use")
