"""`_fused`: a group of elementwise ops (and a trailing reduction) run as one node.

The `graph` attribute holds the group as a self-contained subgraph: its inputs are the
node's inputs, its outputs the node's outputs, and it reads nothing from outside. `infer`
infers through the subgraph, `lower` emits the subgraph's lowerings as one JAX function,
and `ref` runs the subgraph in one walk, writing each result into a preallocated buffer
(numpy `out=`) and reusing the buffers of values no later node reads. passes/fuse.py
builds these nodes; the ONNX exporter expands them back into their ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir.errors import ShapeError, TypeMismatchError
from hybrix.ir.graph import Graph, Node, Value
from hybrix.ir.ops._schema import Attr, defop, get_op
from hybrix.ir.types import Dim, TensorType

__all__ = ["fused"]


def _output_names(attrs: Mapping[str, Any]) -> list[str]:
    graph = attrs.get("graph")
    count = len(graph.outputs) if isinstance(graph, Graph) else 1
    return [f"output{i}" for i in range(count)]


def _fused_infer(*types: TensorType, graph: Graph) -> list[TensorType]:
    if len(types) != len(graph.inputs):
        raise ShapeError(f"{len(types)} inputs for a subgraph of {len(graph.inputs)} inputs")
    env: dict[int, TensorType] = {}
    for value, type in zip(graph.inputs, types, strict=True):
        if type.dtype != value.dtype or type.rank != value.type.rank:
            raise TypeMismatchError(
                f"input %{value.name} is {type}, the subgraph declares {value.type}"
            )
        env[id(value)] = type
    for value in graph.constants:
        env[id(value)] = value.type
    for node in graph.nodes:
        inputs = [_lookup(env, v, node) for v in node.inputs]
        outputs = get_op(node.op).infer_types(inputs, node.attrs, f"{graph.name}/{node.name}")
        for value, type in zip(node.outputs, outputs, strict=True):
            env[id(value)] = type
    return [_lookup(env, v, None) for v in graph.outputs]


def _lookup(env: Mapping[int, Any], value: Value, node: Node | None) -> Any:
    if id(value) not in env:
        where = f"node {node.name}" if node is not None else "the return"
        raise ShapeError(f"subgraph {where} reads %{value.name} from outside the subgraph")
    return env[id(value)]


fused = defop(
    "_fused",
    inputs=["*data"],
    outputs=_output_names,
    attrs={"graph": Attr.graph(doc="the fused ops as a self-contained subgraph")},
    infer=_fused_infer,
    no_onnx="expanded by the ONNX exporter",
    doc="Runs its `graph` attribute (elementwise and broadcast ops, maybe a final "
    "reduction) as one node. Built by passes/fuse.py; no MXNet counterpart.",
)


@fused.lower
def _fused_lower(jx: Any, *data: Any, graph: Graph) -> Any:
    env: dict[int, Any] = {id(v): a for v, a in zip(graph.inputs, data, strict=True)}
    for value in graph.constants:
        env[id(value)] = jx.jnp.asarray(value.const)
    for node in graph.nodes:
        lower = get_op(node.op).lower_fn
        assert lower is not None, node.op
        result = lower(jx, *[env[id(v)] for v in node.inputs], **node.attrs)
        outputs = result if isinstance(result, tuple | list) else (result,)
        for value, array in zip(node.outputs, outputs, strict=True):
            env[id(value)] = array
    results = [env[id(v)] for v in graph.outputs]
    return tuple(results) if len(results) > 1 else results[0]


# -- the numpy kernel: one walk, preallocated buffers ----------------------------------------
# op -> (ufunc, how the operands are formed): "ab" binary, "a" unary, "as"/"sa" with the
# scalar attribute (cast to the data dtype, as the scalar ops' kernels do) after/before,
# "a0" with the constant 0 (relu). Each matches its op's `ref` exactly for float dtypes.
_UFUNCS: dict[str, tuple[np.ufunc, str]] = {}
for _op, _fn in {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "power": np.power,
    "hypot": np.hypot,
}.items():
    _UFUNCS[f"broadcast_{_op}"] = (_fn, "ab")
    _UFUNCS[
        {
            "add": "elemwise_add",
            "sub": "elemwise_sub",
            "mul": "elemwise_mul",
            "div": "elemwise_div",
        }.get(_op, f"_{_op}")
    ] = (_fn, "ab")
    _UFUNCS[f"_{_op}_scalar".replace("_add_", "_plus_").replace("_sub_", "_minus_")] = (_fn, "as")
for _op, _fn in {
    "_rminus_scalar": np.subtract,
    "_rdiv_scalar": np.divide,
    "_rpower_scalar": np.power,
}.items():
    _UFUNCS[_op] = (_fn, "sa")
for _name in (
    "negative",
    "abs",
    "square",
    "sqrt",
    "cbrt",
    "exp",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "degrees",
    "radians",
    "floor",
    "ceil",
    "rint",
    "trunc",
):
    _UFUNCS[_name] = (getattr(np, _name), "a")
_UFUNCS["relu"] = (np.maximum, "a0")


@fused.ref
def _fused_ref(*data: np.ndarray, graph: Graph) -> Any:
    env: dict[int, np.ndarray] = {id(v): a for v, a in zip(graph.inputs, data, strict=True)}
    for value in graph.constants:
        env[id(value)] = np.asarray(value.const)
    sizes = _bind_symbols(graph, data)
    last_use = _last_uses(graph)
    pool: dict[tuple[tuple[int, ...], str], list[np.ndarray]] = {}
    for index, node in enumerate(graph.nodes):
        args = [env[id(v)] for v in node.inputs]
        for value in node.inputs:
            if last_use.get(id(value)) == index:
                array = env[id(value)]
                pool.setdefault((array.shape, array.dtype.str), []).append(array)
        for value, array in zip(node.outputs, _run(node, args, sizes, pool), strict=True):
            env[id(value)] = array
    results = [np.array(env[id(v)]) if v in graph.inputs else env[id(v)] for v in graph.outputs]
    return tuple(results) if len(results) > 1 else results[0]


def _last_uses(graph: Graph) -> dict[int, int]:
    """Node index of each intermediate value's last reader (graph outputs never expire)."""
    last: dict[int, int] = {}
    for index, node in enumerate(graph.nodes):
        for value in node.inputs:
            if value.producer is not None:
                last[id(value)] = index
    for value in graph.outputs:
        last.pop(id(value), None)
    return last


def _bind_symbols(graph: Graph, data: tuple[np.ndarray, ...]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for value, array in zip(graph.inputs, data, strict=True):
        for dim, size in zip(value.shape, array.shape, strict=False):
            if isinstance(dim, str) and dim.isidentifier():
                sizes[dim] = int(size)
    return sizes


def _concrete(shape: tuple[Dim, ...], sizes: Mapping[str, int]) -> tuple[int, ...] | None:
    result = []
    for dim in shape:
        if isinstance(dim, int):
            result.append(dim)
            continue
        size = 1
        for part in dim.split("*"):
            part = part.strip()
            if part.isdigit():
                size *= int(part)
            elif part in sizes:
                size *= sizes[part]
            else:
                return None
        result.append(size)
    return tuple(result)


def _run(
    node: Node,
    args: list[np.ndarray],
    sizes: Mapping[str, int],
    pool: dict[tuple[tuple[int, ...], str], list[np.ndarray]],
) -> list[np.ndarray]:
    buffers = []
    for value in node.outputs:
        shape = _concrete(value.shape, sizes)
        key = (shape, value.dtype.numpy.str) if shape is not None else None
        free = pool.get(key, []) if key is not None else []
        if free:
            buffers.append(free.pop())
        elif shape is not None:
            buffers.append(np.empty(shape, value.dtype.numpy))
        else:
            buffers.append(None)
    entry = _UFUNCS.get(node.op)
    if entry is not None and buffers[0] is not None and _ufunc_ok(args, buffers[0]):
        fn, form = entry
        fn(*_operands(form, args, node.attrs, buffers[0].dtype), out=buffers[0])
        return buffers
    result = get_op(node.op).ref_fn(*args, **node.attrs)  # type: ignore[misc]
    results = result if isinstance(result, tuple | list) else (result,)
    outputs = []
    for buffer, array in zip(buffers, results, strict=True):
        if buffer is None or buffer.shape != np.shape(array):
            outputs.append(np.asarray(array))
        else:
            np.copyto(buffer, array, casting="unsafe")
            outputs.append(buffer)
    return outputs


def _ufunc_ok(args: list[np.ndarray], out: np.ndarray) -> bool:
    return out.dtype.kind == "f" and all(a.dtype == out.dtype for a in args)


def _operands(form: str, args: list[np.ndarray], attrs: Mapping[str, Any], dtype: Any) -> tuple:
    if form in ("ab", "a"):
        return tuple(args)
    if form == "a0":
        return (args[0], 0)
    scalar = np.asarray(attrs["scalar"]).astype(dtype)
    return (args[0], scalar) if form == "as" else (scalar, args[0])
