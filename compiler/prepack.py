"""Packing constant weights of native kernels once, ahead of every call (inference on CPU).

The native convolution kernel packs its weight into column panels on every call (about 10% of
ResNet-18's time at batch 1, and a strided read of every weight from memory). When the
weight is a graph constant and every use of it is a Convolution the chooser lowers with the
"native" strategy, the packing is a function of the constant alone: `plan_prepack` finds those
constants, `prepare` packs them once (compiler.cache.CompiledGraph keeps the result) and
`prepack_chooser` lowers their convolutions to the kernel taking packed weights. ONNX Runtime
prepacks its weights the same way. The RNN kernel's constant parameters are packed too (each
weight transposed: ~1.2 us of the fixtures' 4.4 us LSTM kernel call was that transpose).

A bundle plans the same over its parameters (graph inputs: `plan_prepack(values=...)`) and
ships the packing as a second executable its session runs once at load (compiler/bundle.py).

NOTE: a program lowered so takes packed arrays in place of those constants, and has no
gradient through them: compile_graph uses it for inference only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybrix.compiler.autotune import choose, conv_relu_group, fused_lowering, node_case
from hybrix.compiler.lower import Chooser
from hybrix.compiler.strategies import strategy_named
from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.compiler.strategies.rnn import native_rnn_packed
from hybrix.ir import Graph, Node, Value, get_op

__all__ = ["ConvPack", "Prepack", "RnnPack", "plan_prepack", "prepack_chooser", "prepare"]


@dataclass(frozen=True)
class ConvPack:
    """A Convolution weight in column panels: channels-last or not, and the kept taps."""

    last: bool
    taps: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RnnPack:
    """An RNN op's flat parameters with every weight transposed (native.pack_rnn_parameters)."""

    mode: str
    hidden: int
    layers: int
    bidirectional: bool
    input_size: int


@dataclass(frozen=True)
class Prepack:
    """Which constants (by index in graph.constants) are packed, how, and for which nodes."""

    packs: tuple[tuple[int, ConvPack | RnnPack], ...]
    nodes: frozenset[int]  # id() of the Convolution and RNN nodes reading packed constants

    def __bool__(self) -> bool:
        return bool(self.packs)


def _shapes(node: Node, bindings: Mapping[str, int] | None) -> list[tuple]:
    """The node's input shapes, symbolic dimensions bound where `bindings` has them."""
    bindings = bindings or {}
    return [
        tuple(bindings.get(d, d) if isinstance(d, str) else d for d in v.type.shape)
        for v in node.inputs
    ]


def _chosen_native(node: Node, target: str, mode: str | None, bindings: Mapping) -> bool:
    case = node_case(node, _shapes(node, bindings), node.inputs[0].type.dtype, target)
    return case is not None and choose(case, mode).strategy == "native"


def _native_conv(conv: Node, target: str, mode: str | None, bindings: Mapping) -> ConvPack | None:
    """How to pack the weight of `conv` when the chooser lowers it with "native"."""
    if conv.op != "Convolution" or not _chosen_native(conv, target, mode, bindings):
        return None
    shapes = _shapes(conv, bindings)
    geometry = trim_taps(conv_geometry(shapes[0], shapes[1], conv.attrs))
    return ConvPack(geometry.last, geometry.taps)


def _native_rnn(node: Node, target: str, mode: str | None, bindings: Mapping) -> RnnPack | None:
    """How to pack the parameters of an RNN node the chooser lowers with "native"."""
    if get_op(node.op).name != "RNN" or not _chosen_native(node, target, mode, bindings):
        return None
    attrs = node.attrs
    size = node.inputs[0].type.shape[2]
    return RnnPack(
        attrs["mode"], attrs["state_size"], attrs["num_layers"], attrs["bidirectional"], size
    )


def _weight_slot(
    node: Node,
    position: int,
    target: str,
    mode: str | None,
    bindings: Mapping | None = None,
) -> tuple | None:
    """(node, pack spec) when input `position` of `node` is only a native kernel's weight: a
    Convolution's own or that of the conv (-> add) -> relu group it is, or an RNN's
    parameters."""
    if node.op == "Convolution":
        spec = _native_conv(node, target, mode, bindings) if position == 1 else None
        return (node, spec) if spec else None
    if get_op(node.op).name == "RNN":
        spec = _native_rnn(node, target, mode, bindings) if position == 1 else None
        return (node, spec) if spec else None
    group = conv_relu_group(node) if node.op == "_fused" else None
    if group is None:
        return None
    conv, positions = group.conv, group.positions
    body_input: Value = node.attrs["graph"].inputs[position]
    if positions[1] != position or body_input.uses != [(conv, 1)]:
        return None
    spec = _native_conv(conv, target, mode, bindings)
    return (conv, spec) if spec else None


def plan_prepack(
    graph: Graph,
    target: str,
    mode: str | None = None,
    values: Sequence[Value] | None = None,
    bindings: Mapping[str, int] | None = None,
) -> Prepack:
    """The constants of `graph` worth packing once, and the nodes reading them. `values`:
    other values to consider instead (a bundle's parameters, which are graph inputs), indexed
    in that order; `bindings`: sizes of symbolic dimensions to choose strategies for."""
    if target != "cpu":
        return Prepack((), frozenset())
    packs, nodes = [], set()
    for index, constant in enumerate(graph.constants if values is None else values):
        slots = [_weight_slot(node, pos, target, mode, bindings) for node, pos in constant.uses]
        if not slots or None in slots:
            continue
        specs = {spec for _, spec in slots}
        if len(specs) != 1:
            continue
        packs.append((index, specs.pop()))
        nodes.update(id(node) for node, _ in slots)
    return Prepack(tuple(packs), frozenset(nodes))


def prepare(plan: Prepack) -> Callable[[Sequence[Any]], list]:
    """constants -> the same list with the planned ones packed (jax ops; jit it)."""
    from hybrix.compiler import native

    def run(constants: Sequence[Any]) -> list:
        result = list(constants)
        for index, spec in plan.packs:
            if isinstance(spec, ConvPack):
                result[index] = native.pack_conv_weight(
                    result[index], weight_last=spec.last, taps=spec.taps
                )
            else:
                result[index] = native.pack_rnn_parameters(
                    result[index],
                    mode=spec.mode,
                    hidden=spec.hidden,
                    layers=spec.layers,
                    bidirectional=spec.bidirectional,
                    input_size=spec.input_size,
                )
        return result

    return run


def prepack_chooser(base: Chooser | None, plan: Prepack) -> Chooser:
    """`base` (autotune.strategy_chooser) but the planned convolutions get the native
    lowering whatever their (packed) weight's shape, inside conv -> relu groups too, and the
    planned RNNs the kernel reading packed parameters."""
    native = strategy_named("Convolution", "native").lower

    def pick(node: Node, args: Sequence[Any]) -> Any:
        if id(node) in plan.nodes:
            return native_rnn_packed if get_op(node.op).name == "RNN" else native
        if node.op == "_fused":
            return fused_lowering(node, args, pick)
        return base(node, args) if base is not None else None

    return pick
