"""The layout pass: run 2-D convolutions and pooling channels-last (NHWC) or channels-first.

`convert_layout(graph, "NHWC")` returns a new graph computing the same outputs: every 2-D
Convolution and Pooling gets `layout="NHWC"`, BatchNorm its channel axis, elementwise ops
(and `_fused` groups, rewritten inside) follow their inputs' layout, and a `transpose` is
inserted only where a value crosses between a channels-last producer and a consumer that
needs channels-first (graph outputs included), once per value. Constant weights are
permuted ahead of time instead of transposed at run time. `pick_layout(target)` names the
layout XLA's conv runs faster on for a target (measured: NHWC on CPU, see bench/lowering.py
and bench/infer.py); `to_target_layout` is the in-place pass the inference pipeline runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hybrix.ir import Graph, HybrixError, Node, Value, get_op
from hybrix.passes import graph_pass, note

__all__ = [
    "LAYOUTS",
    "convert_layout",
    "count_transposes",
    "pick_layout",
    "target_layout",
    "to_target_layout",
]

LAYOUTS = ("NCHW", "NHWC")
_TO_LAST = (0, 2, 3, 1)
_TO_FIRST = (0, 3, 1, 2)
_WINDOWED = ("Convolution", "Pooling")
_ELEMENTWISE_EXTRA = ("Activation", "LeakyReLU", "clip", "Cast", "_copy", "identity")


def pick_layout(target: str) -> str:
    """NHWC on CPU (XLA's CPU conv is up to ~20% faster channels-last), NCHW elsewhere."""
    return "NHWC" if target == "cpu" else "NCHW"


def target_layout() -> str:
    """The layout for the default jax backend; `HYBRIX_LAYOUT` (NCHW, NHWC) overrides it."""
    import os

    chosen = os.environ.get("HYBRIX_LAYOUT")
    if chosen:
        if chosen not in LAYOUTS:
            raise HybrixError(f"HYBRIX_LAYOUT={chosen!r}; expected one of {LAYOUTS}")
        return chosen
    import jax

    return pick_layout(jax.default_backend())


def _first_windowed(graph: Graph) -> list[str]:
    """Names of 2-D Convolution/Pooling nodes still channels-first (in _fused groups too)."""
    names = []
    for node in graph.nodes:
        sub = node.attrs.get("graph") if node.op == "_fused" else None
        if isinstance(sub, Graph):
            names += [f"{node.name}/{name}" for name in _first_windowed(sub)]
        elif (
            node.op in _WINDOWED
            and node.inputs[0].type.rank == 4
            and node.attrs.get("layout") in (None, "NCHW")
        ):
            names.append(node.name)
    return names


@graph_pass(invalidates=("memory_plan",))
def to_target_layout(graph: Graph) -> bool:
    """Run 2-D convolutions and pooling in the target's layout (NHWC on CPU), in place.

    Inputs and outputs keep their layout; constants the rewrite leaves unused stay for DCE.
    """
    if target_layout() != "NHWC":
        return False
    moved = _first_windowed(graph)
    if not moved:
        return False
    converted = convert_layout(graph, "NHWC")
    graph.inputs, graph.constants = converted.inputs, converted.constants
    graph.nodes, graph.outputs = converted.nodes, converted.outputs
    graph._names, graph._counter = converted._names, converted._counter
    for node in graph.nodes:
        node.graph = graph
    note(f"{len(moved)} windowed ops channels-last, {count_transposes(graph)} transposes")
    return True


def count_transposes(graph: Graph) -> int:
    """Transpose nodes in the graph and its _fused subgraphs."""
    total = 0
    for node in graph.nodes:
        sub = node.attrs.get("graph") if node.op == "_fused" else None
        total += count_transposes(sub) if isinstance(sub, Graph) else node.op == "transpose"
    return total


def convert_layout(graph: Graph, layout: str = "NHWC") -> Graph:
    """A copy of `graph` with its 2-D windowed ops in `layout`; inputs and outputs unchanged."""
    if layout not in LAYOUTS:
        raise HybrixError(f"graph {graph.name}: layout {layout!r}; expected one of {LAYOUTS}")
    if layout == "NCHW":
        return _Rewriter(graph, to_last=False).run([False] * len(graph.inputs), force_first=True)[0]
    return _Rewriter(graph, to_last=True).run([False] * len(graph.inputs), force_first=True)[0]


class _Rewriter:
    """Replays `graph` node by node into a new graph, tracking which values are channels-last."""

    def __init__(self, graph: Graph, to_last: bool) -> None:
        self.old = graph
        self.new = Graph(graph.name)
        self.to_last = to_last
        self.env: dict[int, tuple[Value, bool]] = {}
        self.moved: dict[tuple[int, bool], Value] = {}

    # -- values in the wanted layout ----------------------------------------------------
    def value(self, old: Value, last: bool) -> Value:
        """The new value of `old` in channels-last (`last`) or channels-first form."""
        value, is_last = self.env[id(old)]
        if is_last == last or value.type.rank != 4:
            return value
        key = (id(old), last)
        if key not in self.moved:
            perm = _TO_LAST if last else _TO_FIRST
            if value.is_constant:
                array = np.ascontiguousarray(np.transpose(value.const, perm))
                name = self.new.fresh_name(f"{value.name}_{'nhwc' if last else 'nchw'}")
                self.moved[key] = self.new.add_constant(name, array)
            else:
                name = self.new.fresh_name(f"{value.name}_{'to_nhwc' if last else 'to_nchw'}")
                node = self.new.add_node("transpose", [value], {"axes": perm}, name=name)
                self.moved[key] = node.outputs[0]
        return self.moved[key]

    def run(self, input_last: Sequence[bool], force_first: bool) -> tuple[Graph, list[bool]]:
        for old, last in zip(self.old.inputs, input_last, strict=True):
            self.env[id(old)] = (self.new.add_input(old.name, _permuted(old, last)), last)
        for old in self.old.constants:
            self.env[id(old)] = (self.new.add_constant(old.name, old.const), False)
        for node in self.old.nodes:
            self.node(node)
        outputs, layouts = [], []
        for old in self.old.outputs:
            last = self.env[id(old)][1] and not force_first
            outputs.append(self.value(old, last))
            layouts.append(last)
        self.new.outputs = outputs
        return self.new, layouts

    # -- nodes -------------------------------------------------------------------------
    def node(self, node: Node) -> None:
        if node.op == "_fused" and isinstance(node.attrs.get("graph"), Graph):
            return self.fused(node)
        attrs = dict(node.attrs)
        last = self.to_last and self.wants_last(node)
        if last and node.op in _WINDOWED:
            attrs["layout"] = "NHWC"
            inputs = [self.value(node.inputs[0], True)]
            inputs += [
                self.value(v, True) if i == 1 else self.value(v, False)
                for i, v in enumerate(node.inputs)
                if i > 0
            ]
        elif last and node.op == "BatchNorm":
            attrs["axis"] = 3
            inputs = [self.value(node.inputs[0], True)] + [
                self.value(v, False) for v in node.inputs[1:]
            ]
        else:
            inputs = [self.value(v, last) for v in node.inputs]
        self.emit(node, inputs, attrs, last)
        return None

    def wants_last(self, node: Node) -> bool:
        """Whether the node runs channels-last: windowed 2-D ops always, BatchNorm and
        elementwise ops when an input already is."""
        if not node.inputs or node.inputs[0].type.rank != 4:
            return False
        if node.op in _WINDOWED:
            return node.attrs.get("layout") in (None, "NCHW")
        if node.op == "BatchNorm":
            return node.attrs.get("axis") in (1, -3) and self.env[id(node.inputs[0])][1]
        if not _elementwise(node):
            return False
        return any(self.env[id(v)][1] for v in node.inputs)

    def emit(self, node: Node, inputs: list[Value], attrs: dict[str, Any], last: bool) -> None:
        names = [v.name for v in node.outputs]
        new = self.new.add_node(node.op, inputs, attrs, name=node.name, output_names=names)
        for index, (old, value) in enumerate(zip(node.outputs, new.outputs, strict=True)):
            # NOTE: BatchNorm's extra outputs are per-channel vectors: never permuted
            self.env[id(old)] = (value, last and (index == 0 or node.op != "BatchNorm"))

    def _weight_only(self, outer: Value, inner: Value) -> bool:
        """A constant read inside a _fused group only as a 2-D conv weight: hand it in
        permuted, so the group does not transpose it on every run."""
        value = self.env[id(outer)][0]
        return (
            self.to_last
            and value.is_constant
            and bool(inner.uses)
            and all(
                n.op == "Convolution" and i == 1 and n.attrs.get("layout") in (None, "NCHW")
                for n, i in inner.uses
            )
        )

    def fused(self, node: Node) -> None:
        sub = node.attrs["graph"]
        layouts = [
            (self.env[id(v)][1] or self._weight_only(v, inner)) and v.type.rank == 4
            for v, inner in zip(node.inputs, sub.inputs, strict=True)
        ]
        inner = _Rewriter(sub, self.to_last)
        new_sub, out_layouts = inner.run(layouts, force_first=False)
        inputs = [self.value(v, last) for v, last in zip(node.inputs, layouts, strict=True)]
        names = [v.name for v in node.outputs]
        new = self.new.add_node(
            "_fused", inputs, {**node.attrs, "graph": new_sub}, name=node.name, output_names=names
        )
        for old, value, last in zip(node.outputs, new.outputs, out_layouts, strict=True):
            self.env[id(old)] = (value, last)


def _permuted(value: Value, last: bool) -> Any:
    if not last or value.type.rank != 4:
        return value.type
    return value.type.with_shape(value.type.shape[a] for a in _TO_LAST)


def _elementwise(node: Node) -> bool:
    """Same-shape elementwise: the output and every input have one 4-D shape."""
    op = get_op(node.op)
    module = getattr(op.lower_fn, "__module__", "")
    if not (module.endswith(".elemwise") or op.name in _ELEMENTWISE_EXTRA):
        return False
    shape = node.outputs[0].type.shape
    return all(v.type.shape == shape for v in [*node.inputs, *node.outputs])
