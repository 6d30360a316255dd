"""The ONNX node builder handed to every op's `onnx` facet as `o`.

    @relu.onnx
    def relu_onnx(o, data):
        return o.Relu(data)

`o.<OpType>(*inputs, **attributes)` appends an ONNX node and returns its output (a `Sym`),
or a tuple of them with `outputs=k`. Inputs are Syms, None (an omitted optional input) or
numpy arrays (added as initializers). `o.const(array)`, `o.ints([...])` and `o.scalar(x,
dtype)` make initializers; `o.opset` is the target opset, so facets choose opset-dependent
forms (axes as inputs of ReduceSum from 13, of the other reductions from 18).
`o.output_types` are the IR types of the node being exported, so a facet can write a
static shape (Reshape) or cast to the IR's output dtype. `o.fail(reason)` rejects an
attribute combination that has no ONNX form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hybrix.ir import DType, HybrixError, TensorType

__all__ = ["OnnxBuilder", "OnnxExportError", "Sym", "onnx_dtype"]


class OnnxExportError(HybrixError):
    """A graph, node or attribute combination that cannot be written as ONNX."""


_ONNX_DTYPES = {
    DType.float16: onnx.TensorProto.FLOAT16,
    DType.bfloat16: onnx.TensorProto.BFLOAT16,
    DType.float32: onnx.TensorProto.FLOAT,
    DType.float64: onnx.TensorProto.DOUBLE,
    DType.int8: onnx.TensorProto.INT8,
    DType.int16: onnx.TensorProto.INT16,
    DType.int32: onnx.TensorProto.INT32,
    DType.int64: onnx.TensorProto.INT64,
    DType.uint8: onnx.TensorProto.UINT8,
    DType.uint16: onnx.TensorProto.UINT16,
    DType.uint32: onnx.TensorProto.UINT32,
    DType.uint64: onnx.TensorProto.UINT64,
    DType.bool: onnx.TensorProto.BOOL,
}
_FROM_ONNX = {code: dtype for dtype, code in _ONNX_DTYPES.items()}


def onnx_dtype(dtype: Any) -> int:
    """The TensorProto element type of a DType (or anything DType.from_any accepts)."""
    return _ONNX_DTYPES[DType.from_any(dtype)]


def from_onnx_dtype(code: int) -> DType:
    try:
        return _FROM_ONNX[code]
    except KeyError:
        name = onnx.TensorProto.DataType.Name(code)
        raise HybrixError(f"ONNX element type {name} has no hybrix dtype") from None


class Sym:
    """An ONNX value: its name, and its dtype and shape where known (None otherwise)."""

    __slots__ = ("dtype", "name", "shape")

    def __init__(self, name: str, dtype: DType | None = None, shape: tuple | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = shape

    @property
    def rank(self) -> int:
        if self.shape is None:
            raise OnnxExportError(f"the rank of ONNX value {self.name} is not known")
        return len(self.shape)

    @property
    def type(self) -> TensorType:
        if self.dtype is None or self.shape is None:
            raise OnnxExportError(f"the type of ONNX value {self.name} is not known")
        return TensorType(self.dtype, self.shape)

    def __repr__(self) -> str:
        return f"Sym({self.name})"


# ONNX ops whose (first) output dtype is not their first input's
_FIXED_OUTPUT = {
    "Shape": DType.int64,
    "Size": DType.int64,
    "ArgMax": DType.int64,
    "ArgMin": DType.int64,
    "NonZero": DType.int64,
    "Equal": DType.bool,
    "Greater": DType.bool,
    "GreaterOrEqual": DType.bool,
    "Less": DType.bool,
    "LessOrEqual": DType.bool,
    "Not": DType.bool,
    "And": DType.bool,
    "Or": DType.bool,
    "Xor": DType.bool,
    "IsNaN": DType.bool,
    "IsInf": DType.bool,
}


class OnnxBuilder:
    """Collects ONNX nodes and initializers for one graph; see the module docstring."""

    def __init__(self, opset: int, graph_name: str = "main") -> None:
        self.opset = opset
        self.graph_name = graph_name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.node_name = graph_name  # the IR node being exported, for names and errors
        self.op_name = ""
        self.output_types: list[TensorType] = []
        self._taken: set[str] = set()
        self._small_consts: dict[tuple, Sym] = {}
        self._count = 0

    # -- names ---------------------------------------------------------------------------
    def claim(self, name: str) -> str:
        """Reserve an exact name (graph inputs, outputs, weights); error on a clash."""
        if name in self._taken:
            raise OnnxExportError(f"graph {self.graph_name}: ONNX value name {name} is used twice")
        self._taken.add(name)
        return name

    def fresh(self, hint: str) -> str:
        while True:
            self._count += 1
            name = f"{self.node_name}/{hint}_{self._count}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    # -- constants -----------------------------------------------------------------------
    def const(self, array: Any, dtype: Any = None, name: str | None = None) -> Sym:
        """An initializer holding `array` (cast to `dtype` when given)."""
        array = np.asarray(array)
        if dtype is not None:
            array = array.astype(DType.from_any(dtype).numpy)
        hybrix_dtype = DType.from_any(array.dtype)
        small = name is None and array.size <= 16
        key = (array.dtype.str, array.shape, array.tobytes()) if small else None
        if key is not None and key in self._small_consts:
            return self._small_consts[key]
        tensor_name = self.claim(name) if name is not None else self.fresh("const")
        if hybrix_dtype is DType.bfloat16:
            tensor = helper.make_tensor(
                tensor_name,
                onnx.TensorProto.BFLOAT16,
                array.shape,
                array.view(np.uint16).ravel().tolist(),
            )
        else:
            tensor = numpy_helper.from_array(array, tensor_name)
        self.initializers.append(tensor)
        sym = Sym(tensor_name, hybrix_dtype, tuple(array.shape))
        if key is not None:
            self._small_consts[key] = sym
        return sym

    def ints(self, values: Sequence[int]) -> Sym:
        """A 1-D int64 initializer (axes, shapes, pads, starts ...)."""
        return self.const(np.asarray(list(values), np.int64).reshape(-1))

    def scalar(self, value: Any, dtype: Any) -> Sym:
        """A 0-D initializer of `dtype` (broadcasts against anything)."""
        return self.const(np.asarray(value).astype(DType.from_any(dtype).numpy))

    # -- nodes ---------------------------------------------------------------------------
    def __getattr__(self, op_type: str) -> Any:
        if not op_type[:1].isupper():
            raise AttributeError(op_type)

        def make(*inputs: Any, outputs: int = 1, domain: str = "", **attrs: Any) -> Any:
            return self.node(op_type, inputs, outputs=outputs, domain=domain, **attrs)

        make.__name__ = op_type
        return make

    def node(
        self, op_type: str, inputs: Sequence[Any], outputs: int = 1, domain: str = "", **attrs: Any
    ) -> Any:
        """Append one ONNX node; returns its output Sym, or a tuple when outputs != 1."""
        names = [self._input_name(value) for value in inputs]
        while names and names[-1] == "":
            names.pop()
        out_names = [self.fresh(op_type) for _ in range(outputs)]
        clean = {key: _attr_value(value) for key, value in attrs.items() if value is not None}
        self.nodes.append(
            helper.make_node(
                op_type,
                names,
                out_names,
                name=self.fresh(f"{op_type}_node"),
                domain=domain,
                **clean,
            )
        )
        dtype = self._output_dtype(op_type, inputs, attrs)
        syms = tuple(Sym(name, dtype if i == 0 else None) for i, name in enumerate(out_names))
        return syms[0] if outputs == 1 else syms

    def _input_name(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Sym):
            return value.name
        if isinstance(value, np.ndarray):
            return self.const(value).name
        raise OnnxExportError(
            f"node {self.node_name} ({self.op_name}): an ONNX input must be a Sym, None or "
            f"a numpy array, got {type(value).__name__}"
        )

    @staticmethod
    def _output_dtype(op_type: str, inputs: Sequence[Any], attrs: dict[str, Any]) -> DType | None:
        if op_type in _FIXED_OUTPUT:
            return _FIXED_OUTPUT[op_type]
        if op_type == "Cast":
            return from_onnx_dtype(attrs["to"])
        if op_type == "ConstantOfShape" and attrs.get("value") is not None:
            return from_onnx_dtype(attrs["value"].data_type)
        if op_type == "Where" and len(inputs) > 1 and isinstance(inputs[1], Sym):
            return inputs[1].dtype
        first = inputs[0] if inputs else None
        return first.dtype if isinstance(first, Sym) else None

    # -- helpers for facets --------------------------------------------------------------
    def fail(self, reason: str) -> NoReturn:
        """Reject the node being exported: `reason` says what has no ONNX form."""
        raise OnnxExportError(f"node {self.node_name} ({self.op_name}): {reason}")

    @staticmethod
    def dtype_code(dtype: Any) -> int:
        """The ONNX element type (TensorProto.FLOAT ...) of a hybrix dtype."""
        return onnx_dtype(dtype)

    @staticmethod
    def tensor_attr(array: Any) -> onnx.TensorProto:
        """A tensor-valued attribute (ConstantOfShape's value)."""
        return numpy_helper.from_array(np.asarray(array), "value")

    def cast(self, value: Sym, dtype: Any) -> Sym:
        """`value` as `dtype` (no node when it already is)."""
        dtype = DType.from_any(dtype)
        if value.dtype is dtype:
            return value
        result = self.Cast(value, to=onnx_dtype(dtype))
        result.shape = value.shape
        return result

    def reduce(
        self, op_type: str, data: Sym, axes: Sequence[int] | None, keepdims: bool = False
    ) -> Sym:
        """A Reduce* node in the opset's form: axes as an attribute before 18 (13 for Sum)."""
        keep = int(keepdims)
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if axes is None:
            return self.node(op_type, [data], keepdims=keep)
        if as_input:
            return self.node(op_type, [data, self.ints(axes)], keepdims=keep)
        return self.node(op_type, [data], axes=list(axes), keepdims=keep)

    def squeeze(self, data: Sym, axes: Sequence[int]) -> Sym:
        return self.Squeeze(data, self.ints(axes))

    def unsqueeze(self, data: Sym, axes: Sequence[int]) -> Sym:
        return self.Unsqueeze(data, self.ints(axes))

    def reshape(self, data: Sym, shape: Sequence[Any], like: Sequence[Sym] = ()) -> Sym:
        """Reshape to `shape`, whose symbolic dimensions are read from the inputs `like`
        (an opaque one, such as 'floor(N/2)', may be left to Reshape's -1 if it is alone)."""
        target = self.shape_of(shape, like or [data], allow_infer=True)
        if 0 in shape and self.opset >= 14:
            return self.Reshape(data, target, allowzero=1)  # a 0 is a size, not "copy"
        if 0 in shape and data.dtype is not None and all(isinstance(d, int) for d in shape):
            # NOTE: before allowzero (opset 14) a 0 meant "copy"; an empty result holds no
            # data, so a constant of its shape is the same tensor
            zero = np.zeros(1, data.dtype.numpy)
            return self.ConstantOfShape(self.ints(shape), value=self.tensor_attr(zero))
        if 0 in shape:
            self.fail(f"reshaping to {tuple(shape)} (a size 0) needs opset 14 (allowzero)")
        return self.Reshape(data, target)

    def shape_of(self, dims: Sequence[Any], like: Sequence[Sym], allow_infer: bool = False) -> Sym:
        """A 1-D int64 tensor of `dims`: ints as they are, a symbolic dim (a product of
        names such as 'N' or '4*N') computed from the runtime shapes of `like`; with
        allow_infer, one dim that cannot be computed becomes -1."""
        if all(isinstance(d, int) for d in dims):
            return self.ints(dims)
        parts: list[Sym | None] = [
            self.ints([d]) if isinstance(d, int) else self._symbolic_dim(d, like) for d in dims
        ]
        unknown = [i for i, part in enumerate(parts) if part is None]
        if unknown and not (allow_infer and len(unknown) == 1 and 0 not in dims):
            shown = ", ".join(str(dims[i]) for i in unknown)
            self.fail(f"symbolic dimensions {shown} cannot be computed from the inputs")
        return self.Concat(*[self.ints([-1]) if p is None else p for p in parts], axis=0)

    def _symbolic_dim(self, dim: str, like: Sequence[Sym]) -> Sym | None:
        """Shape(...)[axis] products for a dim such as '4*N*T'; None if it is opaque."""
        coefficient, pieces = 1, []
        for part in dim.split("*"):
            part = part.strip()
            if part.isdigit():
                coefficient *= int(part)
                continue
            piece = self._find_dim(part, like)
            if piece is None:
                return None
            pieces.append(piece)
        result = self.ints([coefficient]) if coefficient != 1 or not pieces else None
        for piece in pieces:
            result = piece if result is None else self.Mul(result, piece)
        return result

    def _find_dim(self, name: str, like: Sequence[Sym]) -> Sym | None:
        for value in like:
            for axis, dim in enumerate(value.shape or ()):
                if dim == name:
                    return self.Shape(value, start=axis, end=axis + 1)
        return None


def _attr_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_attr_value(v) for v in value]
    if isinstance(value, list):
        return [_attr_value(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
