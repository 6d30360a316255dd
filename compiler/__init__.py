"""Graph -> JAX -> XLA: lowering, the compile cache, pass pipelines, exports."""

from hybrix.runtime.xla import configure_jax_dispatch

configure_jax_dispatch()  # NOTE: before anything starts jax's CPU client (runtime/xla.py)

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
