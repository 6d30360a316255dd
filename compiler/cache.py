"""The compile cache: one jitted function per graph structure, reused across graphs.

Constants are passed as arguments (see lower_graph), so graphs that differ only in their
constants' data share one compiled program; jax.jit itself caches per input signature.
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler.lower import lower_graph
from hybrix.ir import Graph
from hybrix.ir.compare import structural_hash
from hybrix.ir.signature import check_inputs

__all__ = ["CompiledGraph", "cache_info", "clear_cache", "compile_graph"]

_JITTED: dict[tuple[str, bool], Any] = {}
_STATS = {"hits": 0, "misses": 0}


class CompiledGraph:
    """A graph compiled by XLA: call it with arrays, get a list of jax arrays."""

    def __init__(self, graph: Graph, jitted: Any) -> None:
        import jax.numpy as jnp

        self.graph = graph
        self._jitted = jitted
        self._constants = [jnp.asarray(value.const) for value in graph.constants]

    def __call__(self, *inputs: Any) -> list:
        check_inputs(self.graph.inputs, inputs, f"graph {self.graph.name}")
        return self._jitted(self._constants, *inputs)

    def call_with_constants(self, constants: list, *inputs: Any) -> list:
        """Run with other data for the graph's constants (same types); inputs unchecked."""
        return self._jitted(constants, *inputs)

    def __repr__(self) -> str:
        return f"<CompiledGraph {self.graph.name}>"


def compile_graph(graph: Graph, *, train: bool = False) -> CompiledGraph:
    """Lower and jit `graph` with a lowering strategy per op (compiler/autotune), reusing
    the program of any structurally equal graph.

    train: the graph will be differentiated, so strategies are chosen for forward +
    backward (compiler.autotune.strategy_chooser's `train`).
    """
    import jax

    from hybrix.compiler.autotune import strategy_chooser

    key = (structural_hash(graph), train)
    jitted = _JITTED.get(key)
    if jitted is None:
        _STATS["misses"] += 1
        jitted = _JITTED[key] = jax.jit(lower_graph(graph, strategy_chooser(train=train)))
    else:
        _STATS["hits"] += 1
    return CompiledGraph(graph, jitted)


def cache_info() -> dict[str, int]:
    return {**_STATS, "size": len(_JITTED)}


def clear_cache() -> None:
    _JITTED.clear()
    _STATS.update(hits=0, misses=0)
