"""Graph -> JAX -> XLA: lowering, the compile cache, pass pipelines, exports."""

from .lower import call_lower, lower_graph, lower_op
from .jx import jax_namespace

__all__ = ["call_lower", "jax_namespace", "lower_graph", "lower_op"]
