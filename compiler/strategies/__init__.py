"""Per-op lowering strategies: alternatives to an op's `lower` facet, chosen per shape.

Each strategy computes the same function as the facet (tests check values and gradients);
compiler/autotune.py picks one per (op, shapes, dtype, target).
"""

from ._registry import STRATEGIES, Case, Strategy, candidates, register, strategy_named
from . import conv, deconv, layout, native, pool, rnn

__all__ = [
    "STRATEGIES",
    "Case",
    "Strategy",
    "candidates",
    "conv",
    "deconv",
    "layout",
    "native",
    "pool",
    "register",
    "rnn",
    "strategy_named",
]
