"""RNN strategies: the fused RNN op with its time loop unrolled, for short static sequences.

XLA's CPU while loop costs about a microsecond per iteration (loop control, buffers kept
live across the body boundary) and stops fusion across steps. Unrolled, XLA sees one
straight-line program. The gain is small: the fixtures' LSTM (5 steps, 32 units) ran 43.8 us
per call as a loop and 40.4 us unrolled (quiet machine, best of 5 medians); the rest is
per-kernel overhead of the tiny dots. The cell math is the op's own facet: only the loop
changes.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from hybrix.compiler.strategies._registry import Case, Strategy, register
from hybrix.ir import get_op

__all__ = ["MAX_UNROLL", "RNN_STRATEGIES"]

MAX_UNROLL = 32  # steps x layers x directions; beyond it compile time grows for little gain


def _unrolled_namespace(jx: Any) -> SimpleNamespace:
    """`jx` with `lax.scan` fully unrolled."""
    lax = SimpleNamespace(**{name: getattr(jx.lax, name) for name in dir(jx.lax) if name[0] != "_"})
    lax.scan = functools.partial(jx.lax.scan, unroll=True)
    return SimpleNamespace(**{**vars(jx), "lax": lax})


def unrolled(jx: Any, data: Any, parameters: Any, state: Any, *rest: Any, **attrs: Any) -> Any:
    """The RNN op's lowering with every step of its scan unrolled."""
    return get_op("RNN").lower_fn(_unrolled_namespace(jx), data, parameters, state, *rest, **attrs)


def _fits_unrolled(case: Case) -> str | None:
    steps = case.shapes[0][0] if case.shapes and case.shapes[0] else None
    if not isinstance(steps, int):
        return "needs a static sequence length"
    attrs = case.attrs
    loops = steps * int(attrs.get("num_layers", 1)) * (2 if attrs.get("bidirectional") else 1)
    if loops > MAX_UNROLL:
        return f"{loops} steps x layers x directions is over {MAX_UNROLL}"
    return None


RNN_STRATEGIES = [
    register(
        Strategy(
            "scan",
            "RNN",
            get_op("RNN").lower_fn,  # type: ignore[arg-type]
            lambda case: None,
            "the op's lower facet: one lax.scan per layer",
            naive=True,
        )
    ),
    register(Strategy("unrolled", "RNN", unrolled, _fits_unrolled, "the time loop fully unrolled")),
]
