"""ir.Graph -> ONNX ModelProto, by calling each op's `onnx` facet; written atomically.

Graph constants (weights) become initializers, not graph inputs; symbolic dimensions of
the graph's inputs and outputs become `dim_param`s; `dynamic_axes` makes static input
dimensions symbolic first (the graph is re-inferred, so every shape follows).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from hybrix.compiler.onnx.builder import OnnxBuilder, OnnxExportError, Sym, onnx_dtype
from hybrix.ir import Graph, HybrixError, Model, TensorType, Value, get_op

__all__ = [
    "NEWEST_OPSET",
    "OLDEST_OPSET",
    "export",
    "missing_onnx",
    "to_onnx",
]

OLDEST_OPSET = 13
# NOTE: onnxruntime 1.31 runs opsets up to 26 (27 fails to load); onnx 1.23 knows 28.
ORT_NEWEST_OPSET = 26
NEWEST_OPSET = min(onnx.defs.onnx_opset_version(), ORT_NEWEST_OPSET)

DynamicAxes = Mapping[str, Mapping[int, str] | Sequence[int]]


def export(
    obj: Any,
    path: str | os.PathLike,
    opset: int | None = None,
    dynamic_axes: DynamicAxes | None = None,
    input_names: Sequence[str] | None = None,
    check: bool = True,
) -> Path:
    """Write `obj` as an ONNX file at `path`: an ir.Graph, an ir.Model, a Gluon HybridBlock
    that has run (its last input signature, in predict mode), a bundle or a .hxir path.

    opset: 13 to NEWEST_OPSET (default). dynamic_axes: {input name: {axis: dim name}} or
    {input name: [axes]} (named `<input>_<axis>`). input_names: new names for the graph
    inputs, in order. check: run onnx.checker.check_model(full_check=True) first.
    """
    model = to_onnx(obj, opset=opset, dynamic_axes=dynamic_axes, input_names=input_names)
    if check:
        check_onnx(model)
    return _write_atomically(model, Path(path))


def to_onnx(
    obj: Any,
    opset: int | None = None,
    dynamic_axes: DynamicAxes | None = None,
    input_names: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """The ONNX model of `obj`; see `export`."""
    opset = NEWEST_OPSET if opset is None else int(opset)
    if not OLDEST_OPSET <= opset <= NEWEST_OPSET:
        raise OnnxExportError(
            f"ONNX opset {opset} is not supported; expected {OLDEST_OPSET} to {NEWEST_OPSET}"
        )
    graph = _graph_of(obj)
    if dynamic_axes:
        graph = with_dynamic_axes(graph, dynamic_axes)
    graph = expand_fused(graph)
    missing = missing_onnx(graph)
    if missing:
        shown = "; ".join(f"{op} ({reason})" for op, reason in missing.items())
        raise OnnxExportError(f"graph {graph.name}: ops without an ONNX form: {shown}")
    graph_proto = _convert(graph, opset, input_names)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph_proto,
        opset_imports=opsets,
        producer_name="hybrix",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    return model


def check_onnx(model: onnx.ModelProto) -> None:
    """onnx.checker.check_model(full_check=True), its failures as OnnxExportError."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        message = f"graph {model.graph.name}: the ONNX model fails the checker: {e}"
        raise OnnxExportError(message) from None


def missing_onnx(graph: Graph) -> dict[str, str]:
    """{op: why} for every op in `graph` (nested graphs included) with no ONNX facet."""
    missing: dict[str, str] = {}
    for node in _all_nodes(graph):
        op = get_op(node.op)
        if op.onnx_fn is None:
            missing[op.name] = op.missing.get("onnx", "no onnx facet")
    return missing


def _all_nodes(graph: Graph) -> list:
    nodes = []
    for node in graph.nodes:
        nodes.append(node)
        for value in node.attrs.values():
            if isinstance(value, Graph):
                nodes.extend(_all_nodes(value))
    return nodes


# -- what can be exported ------------------------------------------------------------------
def _graph_of(obj: Any) -> Graph:
    if isinstance(obj, Graph):
        return obj
    if isinstance(obj, Model):
        return obj.graph
    hook = getattr(obj, "__hybrix_graph__", None)  # a Gluon HybridBlock traces itself
    if callable(hook):
        return _graph_of(hook())
    graph = getattr(obj, "graph", None)  # a runtime bundle, or anything holding its IR
    if isinstance(graph, Graph):
        return graph
    if isinstance(obj, str | os.PathLike):
        return _graph_of_file(Path(obj))
    raise OnnxExportError(
        f"cannot export a {type(obj).__name__} as ONNX; expected an ir.Graph, an ir.Model, "
        "a hybridized Gluon block, a bundle or a .hxir file"
    )


def _graph_of_file(path: Path) -> Graph:
    from hybrix.ir import load

    if path.suffix == ".hxir":
        return load(path).graph
    try:
        from hybrix import runtime

        return runtime.load(path).graph  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        raise OnnxExportError(
            f"{path}: expected a .hxir file or a bundle (hybrix.runtime cannot read bundles yet)"
        ) from None


# -- dynamic axes and fused nodes ------------------------------------------------------------
def with_dynamic_axes(graph: Graph, dynamic_axes: DynamicAxes) -> Graph:
    """A copy of `graph` whose named input axes are symbolic; types are inferred anew."""
    by_name = {value.name: value for value in graph.inputs}
    unknown = sorted(set(dynamic_axes) - set(by_name))
    if unknown:
        raise OnnxExportError(
            f"graph {graph.name}: dynamic_axes names {unknown}, which are not inputs; "
            f"inputs are {sorted(by_name)}"
        )
    types = {}
    for name, axes in dynamic_axes.items():
        value = by_name[name]
        named = axes if isinstance(axes, Mapping) else {a: f"{name}_{a}" for a in axes}
        shape = list(value.shape)
        for axis, dim in named.items():
            if not -len(shape) <= axis < len(shape):
                raise OnnxExportError(
                    f"graph {graph.name}: dynamic_axes: input {name} of rank {len(shape)} "
                    f"has no axis {axis}"
                )
            shape[axis] = str(dim)
        types[name] = value.type.with_shape(shape)
    return _rebuild(graph, types)


def _rebuild(graph: Graph, types: Mapping[str, TensorType]) -> Graph:
    result = Graph(graph.name)
    env: dict[int, Value] = {}
    for value in graph.inputs:
        env[id(value)] = result.add_input(value.name, types.get(value.name, value.type))
    for value in graph.constants:
        env[id(value)] = result.add_constant(value.name, value.const)
    for node in graph.nodes:
        try:
            new = result.add_node(
                node.op,
                [env[id(v)] for v in node.inputs],
                node.attrs,
                name=node.name,
                output_names=[v.name for v in node.outputs],
            )
        except HybrixError as e:
            raise OnnxExportError(f"graph {graph.name}: with the dynamic axes, {e}") from None
        for old, value in zip(node.outputs, new.outputs, strict=True):
            env[id(old)] = value
    result.outputs = [env[id(v)] for v in graph.outputs]
    return result


def expand_fused(graph: Graph) -> Graph:
    """Replace nodes holding a subgraph (a `graph` attribute) without an ONNX facet by
    that subgraph's nodes, so fused regions are exported op by op."""
    if not any(_expandable(node) for node in graph.nodes):
        return graph
    result = Graph(graph.name)
    env: dict[int, Value] = {}
    for value in graph.inputs:
        env[id(value)] = result.add_input(value.name, value.type)
    for value in graph.constants:
        env[id(value)] = result.add_constant(value.name, value.const)
    for node in graph.nodes:
        inputs = [env[id(v)] for v in node.inputs]
        names = [v.name for v in node.outputs]
        if _expandable(node):
            outputs = _inline(result, _subgraph(node), inputs, node.name, names)
        else:
            outputs = result.add_node(
                node.op, inputs, node.attrs, name=node.name, output_names=names
            ).outputs
        for old, value in zip(node.outputs, outputs, strict=True):
            env[id(old)] = value
    result.outputs = [env[id(v)] for v in graph.outputs]
    return expand_fused(result)


def _subgraph(node: Any) -> Graph:
    return next(v for v in node.attrs.values() if isinstance(v, Graph))


def _expandable(node: Any) -> bool:
    return get_op(node.op).onnx_fn is None and any(
        isinstance(v, Graph) for v in node.attrs.values()
    )


def _inline(
    target: Graph, body: Graph, inputs: list[Value], prefix: str, names: list[str]
) -> list[Value]:
    """The body's nodes appended to `target`; its outputs keep the fused node's names."""
    if len(body.inputs) != len(inputs):
        raise OnnxExportError(
            f"node {prefix}: its subgraph {body.name} takes {len(body.inputs)} inputs, "
            f"the node gives {len(inputs)}"
        )
    env: dict[int, Value] = {}
    for value, given in zip(body.inputs, inputs, strict=True):
        env[id(value)] = given
    for value in body.constants:
        name = target.fresh_name(f"{prefix}_{value.name}")
        env[id(value)] = target.add_constant(name, value.const)
    outer_names = {id(v): name for v, name in zip(body.outputs, names, strict=True)}
    for node in body.nodes:
        new = target.add_node(
            node.op,
            [env[id(v)] for v in node.inputs],
            node.attrs,
            name=f"{prefix}/{node.name}",
            output_names=[outer_names.get(id(v), f"{prefix}_{v.name}") for v in node.outputs],
        )
        for old, value in zip(node.outputs, new.outputs, strict=True):
            env[id(old)] = value
    return [env[id(v)] for v in body.outputs]


# -- conversion ----------------------------------------------------------------------------
def _value_info(name: str, type: TensorType, symbolic: bool = True) -> onnx.ValueInfoProto:
    shape = [d if isinstance(d, int) or symbolic else None for d in type.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(type.dtype), shape)


def _convert(graph: Graph, opset: int, input_names: Sequence[str] | None) -> onnx.GraphProto:
    builder = OnnxBuilder(opset, graph.name)
    env: dict[int, Sym] = {}
    names = _input_names(graph, input_names)
    inputs = []
    for value, name in zip(graph.inputs, names, strict=True):
        env[id(value)] = Sym(builder.claim(name), value.dtype, value.shape)
        inputs.append(_value_info(name, value.type))
    for value in graph.constants:
        env[id(value)] = builder.const(value.const, name=value.name)
    for value in dict.fromkeys(graph.outputs):  # NOTE: an output may be listed twice
        if value.producer is not None:
            builder.claim(value.name)
    intermediate = []
    for node in graph.nodes:
        for value, sym in zip(node.outputs, _export_node(builder, node, env), strict=True):
            env[id(value)] = sym
            if sym.name == value.name and value not in graph.outputs:
                intermediate.append(_value_info(value.name, value.type, symbolic=False))
    outputs = _outputs(builder, graph, env)
    return helper.make_graph(
        builder.nodes, graph.name, inputs, outputs, builder.initializers, value_info=intermediate
    )


def _input_names(graph: Graph, input_names: Sequence[str] | None) -> list[str]:
    if input_names is None:
        return [value.name for value in graph.inputs]
    if len(input_names) != len(graph.inputs):
        raise OnnxExportError(
            f"graph {graph.name}: {len(input_names)} input_names for {len(graph.inputs)} inputs"
        )
    return list(input_names)


def _export_node(builder: OnnxBuilder, node: Any, env: dict[int, Sym]) -> list[Sym]:
    op = get_op(node.op)
    where = f"node {node.name} ({node.op})"
    builder.node_name, builder.op_name = node.name, node.op
    builder.output_types = [v.type for v in node.outputs]
    first = len(builder.nodes)
    args = [env[id(v)] for v in node.inputs]
    try:
        result = op.onnx_fn(builder, *args, **node.attrs)
    except HybrixError:
        raise
    except Exception as e:  # a facet bug: name the node rather than show a deep traceback
        raise OnnxExportError(f"{where}: the onnx facet failed: {type(e).__name__}: {e}") from e
    syms = list(result) if isinstance(result, tuple | list) else [result]
    if len(syms) != len(node.outputs) or not all(isinstance(s, Sym) for s in syms):
        raise OnnxExportError(
            f"{where}: the onnx facet returned {len(syms)} values, expected {len(node.outputs)}"
        )
    produced = {out for proto in builder.nodes[first:] for out in proto.output}
    final = []
    for value, sym in zip(node.outputs, syms, strict=True):
        if sym.dtype is not None and sym.dtype is not value.dtype:
            raise OnnxExportError(
                f"{where}: the onnx facet gives {sym.dtype.name} for %{value.name}, "
                f"expected {value.dtype.name}"
            )
        if sym.name in produced:
            _rename(builder.nodes[first:], sym.name, _output_name(builder, value))
            produced.discard(sym.name)
            sym = Sym(value.name, value.dtype, value.shape)
        final.append(sym if sym.shape is not None else Sym(sym.name, value.dtype, value.shape))
    return final


def _output_name(builder: OnnxBuilder, value: Value) -> str:
    if value.name in builder._taken:  # graph outputs are claimed up front
        return value.name
    return builder.claim(value.name)


def _rename(nodes: list[onnx.NodeProto], old: str, new: str) -> None:
    for proto in nodes:
        for i, name in enumerate(proto.input):
            if name == old:
                proto.input[i] = new
        for i, name in enumerate(proto.output):
            if name == old:
                proto.output[i] = new


def _outputs(builder: OnnxBuilder, graph: Graph, env: dict[int, Sym]) -> list:
    outputs, seen = [], set()
    for value in graph.outputs:
        sym = env[id(value)]
        name = sym.name
        if name in seen or value.producer is None or name != value.name:
            # an input, a weight or an output listed twice: ONNX needs a node to name it
            builder.node_name = graph.name
            name = builder.Identity(sym).name
            if value.name not in seen and value.producer is not None:
                _rename(builder.nodes[-1:], name, value.name)  # claimed up front, unused
                name = value.name
        seen.add(name)
        outputs.append(_value_info(name, value.type))
    return outputs


def _write_atomically(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
