"""Graph -> JAX -> XLA: lowering, the compile cache, pass pipelines, exports."""

from .lower import call_lower, lower_graph, lower_op
from .cache import CompiledGraph, cache_info, clear_cache, compile_graph
from .jx import jax_namespace

__all__ = [
    "CompiledGraph",
    "cache_info",
    "call_lower",
    "clear_cache",
    "compile_graph",
    "jax_namespace",
    "lower_graph",
    "lower_op",
]
