"""Packing constant convolution weights once, ahead of every call (inference on CPU).

The native convolution kernel packs its weight into column panels on every call (about 10% of
ResNet-18's time at batch 1, and a strided read of every weight from memory). When the
weight is a graph constant and every use of it is a Convolution the chooser lowers with the
"native" strategy, the packing is a function of the constant alone: `plan_prepack` finds those
constants, `prepare` packs them once (compiler.cache.CompiledGraph keeps the result) and
`prepack_chooser` lowers their convolutions to the kernel taking packed weights. ONNX Runtime
prepacks its weights the same way.

NOTE: a program lowered so takes packed arrays in place of those constants, and has no
gradient through them: compile_graph uses it for inference only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hybrix.compiler.autotune import choose, conv_relu_group, fused_lowering, node_case
from hybrix.compiler.lower import Chooser
from hybrix.compiler.strategies import strategy_named
from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.ir import Graph, Node, Value

__all__ = ["Prepack", "plan_prepack", "prepack_chooser", "prepare"]


@dataclass(frozen=True)
class Prepack:
    """Which constants (by index in graph.constants) are packed, how, and for which nodes."""

    packs: tuple[tuple[int, bool, tuple[tuple[int, int], ...]], ...]  # (index, last, taps)
    nodes: frozenset[int]  # id() of the Convolution nodes reading packed weights

    def __bool__(self) -> bool:
        return bool(self.packs)


def _native_conv(conv: Node, target: str, mode: str | None) -> tuple | None:
    """(weight_last, taps) when `conv` is a Convolution the chooser lowers with "native"."""
    if conv.op != "Convolution":
        return None
    shapes = [v.type.shape for v in conv.inputs]
    case = node_case(conv, shapes, conv.inputs[0].type.dtype, target)
    if case is None or choose(case, mode).strategy != "native":
        return None
    geometry = trim_taps(conv_geometry(shapes[0], shapes[1], conv.attrs))
    return geometry.last, geometry.taps


def _weight_slot(node: Node, position: int, target: str, mode: str | None) -> tuple | None:
    """(Convolution node, pack spec) when input `position` of `node` is only a native
    convolution's weight: the node's own, or that of the conv (-> add) -> relu group it is."""
    if node.op == "Convolution":
        spec = _native_conv(node, target, mode) if position == 1 else None
        return (node, spec) if spec else None
    group = conv_relu_group(node) if node.op == "_fused" else None
    if group is None:
        return None
    conv, positions = group.conv, group.positions
    body_input: Value = node.attrs["graph"].inputs[position]
    if positions[1] != position or body_input.uses != [(conv, 1)]:
        return None
    spec = _native_conv(conv, target, mode)
    return (conv, spec) if spec else None


def plan_prepack(graph: Graph, target: str, mode: str | None = None) -> Prepack:
    """The constants of `graph` worth packing once, and the convolutions reading them."""
    if target != "cpu":
        return Prepack((), frozenset())
    packs, nodes = [], set()
    for index, constant in enumerate(graph.constants):
        slots = [_weight_slot(node, pos, target, mode) for node, pos in constant.uses]
        if not slots or None in slots:
            continue
        specs = {spec for _, spec in slots}
        if len(specs) != 1:
            continue
        ((last, taps),) = specs
        packs.append((index, last, taps))
        nodes.update(id(conv) for conv, _ in slots)
    return Prepack(tuple(packs), frozenset(nodes))


def prepare(plan: Prepack) -> Callable[[Sequence[Any]], list]:
    """constants -> the same list with the planned ones packed (jax ops; jit it)."""
    from hybrix.compiler import native

    def run(constants: Sequence[Any]) -> list:
        result = list(constants)
        for index, last, taps in plan.packs:
            result[index] = native.pack_conv_weight(result[index], weight_last=last, taps=taps)
        return result

    return run


def prepack_chooser(base: Chooser | None, plan: Prepack) -> Chooser:
    """`base` (autotune.strategy_chooser) but the planned convolutions get the native
    lowering whatever their (packed) weight's shape, inside conv -> relu groups too."""
    native = strategy_named("Convolution", "native").lower

    def pick(node: Node, args: Sequence[Any]) -> Any:
        if id(node) in plan.nodes:
            return native
        if node.op == "_fused":
            return fused_lowering(node, args, pick)
        return base(node, args) if base is not None else None

    return pick
