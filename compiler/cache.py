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

_JITTED: dict[tuple, Any] = {}
_PREPARE: dict[tuple, Any] = {}  # Prepack.packs -> its jitted packing
_STATS = {"hits": 0, "misses": 0}
_MAX_SIGNATURES = 64  # input signatures a CompiledGraph remembers as checked


class CompiledGraph:
    """A graph compiled by XLA: call it with arrays, get a list of jax arrays.

    `prepare` (when some constants are packed ahead, compiler/prepack) maps the graph's
    constants to what the program takes; it runs once for the graph's own constants.
    """

    def __init__(self, graph: Graph, jitted: Any, prepare: Any = None) -> None:
        import jax.numpy as jnp

        self.graph = graph
        self._jitted = jitted
        self._prepare = prepare
        self._constants = [jnp.asarray(value.const) for value in graph.constants]
        self._prepared: list | None = None
        self._accepted: set[tuple] = set()  # (shape, dtype) per input, already checked

    def __call__(self, *inputs: Any) -> list:
        # NOTE: check_inputs costs ~1.7 us, a tenth of a small program's call (the fixtures'
        # LSTM): a signature seen before is not checked again
        try:
            signature = tuple((a.shape, a.dtype) for a in inputs)
        except AttributeError:
            signature = None
        if signature is None or signature not in self._accepted:
            check_inputs(self.graph.inputs, inputs, f"graph {self.graph.name}")
            if signature is not None and len(self._accepted) < _MAX_SIGNATURES:
                self._accepted.add(signature)
        if self._prepared is None:
            prepare = self._prepare
            self._prepared = prepare(self._constants) if prepare else self._constants
        return self._jitted(self._prepared, *inputs)

    def call_with_constants(self, constants: list, *inputs: Any) -> list:
        """Run with other data for the graph's constants (same types); inputs unchecked.
        NOTE: constants packed ahead are packed again on every such call."""
        if self._prepare is not None:
            constants = self._prepare(constants)
        return self._jitted(constants, *inputs)

    def __repr__(self) -> str:
        return f"<CompiledGraph {self.graph.name}>"


def compile_graph(
    graph: Graph, *, train: bool = False, prepack: bool | None = None
) -> CompiledGraph:
    """Lower and jit `graph` with a lowering strategy per op (compiler/autotune), reusing
    the program of any structurally equal graph.

    train: the graph will be differentiated, so strategies are chosen for forward +
    backward (compiler.autotune.strategy_chooser's `train`).
    prepack: pack the constant weights of native convolutions once (compiler/prepack;
    default: when not `train`). The program then has no gradient through them; callers
    that pass live constants to `call_with_constants` and differentiate turn it off.
    """
    import jax

    from hybrix.compiler.autotune import strategy_chooser
    from hybrix.compiler.prepack import plan_prepack, prepack_chooser

    chooser = strategy_chooser(train=train)
    prepack = not train if prepack is None else prepack
    plan = plan_prepack(graph, jax.default_backend()) if prepack and chooser else None
    key = (structural_hash(graph), train, plan.packs if plan else ())
    jitted = _JITTED.get(key)
    if jitted is None:
        _STATS["misses"] += 1
        lowering = prepack_chooser(chooser, plan) if plan else chooser
        jitted = _JITTED[key] = jax.jit(lower_graph(graph, lowering))
    else:
        _STATS["hits"] += 1
    return CompiledGraph(graph, jitted, _prepare_program(plan) if plan else None)


def _prepare_program(plan: Any) -> Any:
    """The jitted packing of `plan`'s constants, one per distinct plan (graphs sharing a
    program share it too)."""
    import jax

    from hybrix.compiler.prepack import prepare

    jitted = _PREPARE.get(plan.packs)
    if jitted is None:
        jitted = _PREPARE[plan.packs] = jax.jit(prepare(plan))
    return jitted


def cache_info() -> dict[str, int]:
    return {**_STATS, "size": len(_JITTED)}


def clear_cache() -> None:
    _JITTED.clear()
    _PREPARE.clear()
    _STATS.update(hits=0, misses=0)
