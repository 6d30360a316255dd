"""RNN strategies: the fused RNN op with its time loop unrolled, for short static sequences,
or run by hybrix's native kernel (compiler/native/rnn.c).

XLA's CPU while loop costs about a microsecond per iteration (loop control, buffers kept
live across the body boundary) and stops fusion across steps. Unrolled, XLA sees one
straight-line program. The gain is small: the fixtures' LSTM (5 steps, 32 units) ran 43.8 us
per call as a loop and 40.4 us unrolled (quiet machine, best of 5 medians); the rest is
per-kernel overhead of the tiny dots. The cell math is the op's own facet: only the loop
changes.
The native kernel runs the whole op as one custom call on one thread: jitted alone (best of
runs, compiler.autotune.measure) the fixtures' LSTM took 14.3 us unrolled and 12.1 native
(~5 of each is the call); T20 N16 C64 H128 0.60 ms unrolled and 1.32 native, where XLA's
two-thread dots win (compiler/strategies/cost.py prices both). Its gradient is the unrolled
facet's (jax.vjp, which runs that forward again).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from hybrix.compiler import native
from hybrix.compiler.strategies._registry import Case, Strategy, facet_strategy, register
from hybrix.ir import get_op
from hybrix.ir.ops.rnn import split_inputs

__all__ = ["MAX_UNROLL", "RNN_STRATEGIES", "native_rnn", "native_rnn_packed"]

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


def _native_forward(
    data: Any, parameters: Any, state: Any, cell: Any, attrs: dict, packed: bool = False
) -> tuple:
    """(output, final state, final cell or None) by the kernel; `packed`: parameters in
    native.pack_rnn_parameters' layout."""
    results = native.rnn(
        data,
        parameters,
        state,
        cell,
        mode=attrs["mode"],
        hidden=attrs["state_size"],
        layers=attrs["num_layers"],
        bidirectional=attrs["bidirectional"],
        packed=packed,
    )
    return results if cell is not None else (*results, None)


def _as_op_outputs(output: Any, state: Any, cell: Any, attrs: dict) -> Any:
    """The op's outputs (ir/ops/rnn.py `_rnn_outputs`) from the kernel's three."""
    if not attrs["state_outputs"]:
        return output
    return (output, state) if cell is None else (output, state, cell)


def native_rnn(jx: Any, data: Any, parameters: Any, state: Any, *rest: Any, **attrs: Any) -> Any:
    """The op by the native kernel; its gradient is the unrolled facet's (a custom_vjp)."""
    import jax

    cell, _ = split_inputs(rest, attrs)
    args = (data, parameters, state) if cell is None else (data, parameters, state, cell)

    def run_forward(*a: Any) -> Any:
        return _as_op_outputs(*_native_forward(*a[:3], a[3] if len(a) > 3 else None, attrs), attrs)

    def forward_saving(*a: Any) -> tuple:
        return run_forward(*a), a

    def backward(saved: tuple, head: Any) -> tuple:
        _, pullback = jax.vjp(lambda *a: unrolled(jx, *a, **attrs), *saved)
        return tuple(pullback(head))

    run = jax.custom_vjp(run_forward)
    run.defvjp(forward_saving, backward)
    return run(*args)


def native_rnn_packed(
    jx: Any, data: Any, parameters: Any, state: Any, *rest: Any, **attrs: Any
) -> Any:
    """The kernel on parameters packed ahead (compiler/prepack); inference only: no gradient."""
    cell, _ = split_inputs(rest, attrs)
    return _as_op_outputs(*_native_forward(data, parameters, state, cell, attrs, True), attrs)


def _fits_native(case: Case) -> str | None:
    attrs = case.attrs
    if case.target != "cpu":
        return f"native kernels run on CPU only (target {case.target})"
    if case.dtype != "float32":
        return f"native kernels are float32 only (got {case.dtype})"
    if not all(isinstance(d, int) for s in case.shapes for d in s):
        return "needs static shapes"
    if attrs.get("use_sequence_length"):
        return "sequence_length is not in the kernel"
    if attrs.get("lstm_state_clip_min") is not None:
        return "state clipping is not in the kernel"
    return native.unusable()


RNN_STRATEGIES = [
    register(facet_strategy("scan", "RNN", "one lax.scan per layer")),
    register(Strategy("unrolled", "RNN", unrolled, _fits_unrolled, "the time loop fully unrolled")),
    register(
        Strategy(
            "native",
            "RNN",
            native_rnn,
            _fits_native,
            "hybrix's CPU kernel (XLA FFI custom call): the whole op in one call",
        )
    ),
]
