"""Lower an ir.Graph (or one op) to a JAX function, calling each op's `lower` facet."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hybrix.compiler.jx import jax_namespace
from hybrix.ir import Graph, HybrixError, Node, get_op

__all__ = ["Chooser", "call_lower", "lower_graph", "lower_node", "lower_op"]

# (node, input arrays) -> a lowering with the `lower` facet's signature, or None for the facet
# (for a _fused node: None walks its subgraph node by node, asking again for each)
Chooser = Callable[[Node, Sequence[Any]], Callable[..., Any] | None]
_DEFAULT: Any = object()


def call_lower(
    op_name: str, args: Sequence[Any], attrs: Mapping[str, Any], where: str = ""
) -> tuple:
    """Run one op's lowering on jax arrays (or tracers); always returns a tuple of outputs."""
    op = get_op(op_name)
    if op.lower_fn is None:
        raise HybrixError(f"{where or op.name}: {op.name} has no JAX lowering")
    result = op.lower_fn(jax_namespace(), *args, **attrs)
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def lower_op(op_name: str, attrs: Mapping[str, Any]) -> Callable[..., tuple]:
    """A function of the op's input arrays; `attrs` must be complete (see OpDef.check_attrs)."""
    fixed = dict(attrs)

    def run(*args: Any) -> tuple:
        return call_lower(op_name, args, fixed)

    run.__name__ = op_name
    return run


def _default_chooser() -> Chooser | None:
    from hybrix.compiler.autotune import strategy_chooser

    return strategy_chooser()


def lower_node(node: Node, args: Sequence[Any], choose: Chooser | None) -> tuple:
    """One node: a chosen strategy (for a _fused node: a lowering of the whole group, e.g.
    a native conv with its ReLU fused), a _fused subgraph walked with the same chooser, or
    the op's facet."""
    if choose is not None:
        lowering = choose(node, args)
        if lowering is not None:
            result = lowering(jax_namespace(), *args, **node.attrs)
            return tuple(result) if isinstance(result, tuple | list) else (result,)
        sub = node.attrs.get("graph") if node.op == "_fused" else None
        if isinstance(sub, Graph):
            import jax.numpy as jnp

            constants = [jnp.asarray(v.const) for v in sub.constants]
            return tuple(lower_graph(sub, choose)(constants, *args))
    return call_lower(node.op, args, node.attrs, node.name)


def lower_graph(graph: Graph, choose: Chooser | None = _DEFAULT) -> Callable[..., list]:
    """A function `(constants, *inputs) -> outputs` evaluating the graph node by node.

    Constants are an argument rather than closed over so XLA does not embed parameters
    in the program (compile time grows with embedded constant size). `choose` picks a
    lowering strategy per node (compiler/strategies) when the function is traced; by
    default compiler.autotune's (mode HYBRIX_LOWERING); None: every op's own facet.
    """
    nodes = list(graph.nodes)

    def run(constants: Sequence[Any], *inputs: Any) -> list:
        if len(inputs) != len(graph.inputs):
            raise HybrixError(
                f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}"
            )
        env: dict[int, Any] = {}
        for value, array in zip(graph.inputs, inputs, strict=True):
            env[id(value)] = array
        for value, array in zip(graph.constants, constants, strict=True):
            env[id(value)] = array
        chooser = _default_chooser() if choose is _DEFAULT else choose
        for node in nodes:
            args = [env[id(v)] for v in node.inputs]
            outputs = lower_node(node, args, chooser)
            for value, array in zip(node.outputs, outputs, strict=True):
                env[id(value)] = array
        return [env[id(v)] for v in graph.outputs]

    return run
