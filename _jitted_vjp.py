"""The jitted functions autograd runs: one VJP per (recorded function, which inputs, which
output cotangents), and forwards that keep their pullback's residuals, cached by key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["vjp_function"]

_VJPS: dict[tuple, Any] = {}
_MAX_VJPS = 4096  # NOTE: bounds the cache when callers record fresh closures


def _inexact(data: Any) -> bool:
    return data.dtype.kind in "fc"


def vjp_function(
    fn: Any,
    key: Any,
    wrt: tuple[bool, ...],
    present: tuple[bool, ...],
    constant: tuple[bool, ...] | None = None,
) -> Callable[..., tuple]:
    """A jitted `f(*primals, *cotangents)` -> cotangents of the inputs flagged in `wrt`,
    given cotangents for the outputs flagged in `present`; the inputs flagged in
    `constant` (default: those outside `wrt`) get no gradient through the result either.
    Cached per (key, wrt, present, constant)."""
    if constant is None:
        constant = tuple(not w for w in wrt)
    return _cached((key, wrt, present, constant), lambda: _make_vjp(fn, wrt, present, constant))


def _cached(cache_key: tuple, make: Callable[[], Any]) -> Any:
    """The jitted function cached in _VJPS under `cache_key`, made on a miss."""
    function = _VJPS.get(cache_key)
    if function is None:
        if len(_VJPS) >= _MAX_VJPS:
            _VJPS.clear()
        function = _VJPS[cache_key] = make()
    return function


def _residual_forward(fn: Any, key: Any, diff_in: tuple[bool, ...], num_outputs: int) -> Any:
    """A jitted `f(*primals)` -> (fn's results, the pullback of its first `num_outputs`
    inexact results w.r.t. the `diff_in` inputs); cached per (key, diff_in, num_outputs)."""
    cache_key = ("forward", key, diff_in, num_outputs)
    return _cached(cache_key, lambda: _make_residual_forward(fn, diff_in, num_outputs))


def _make_residual_forward(fn: Any, diff_in: tuple[bool, ...], num_outputs: int) -> Any:
    import jax

    positions = [i for i, d in enumerate(diff_in) if d]

    def forward(*primals: Any) -> tuple:
        def restricted(*chosen: Any) -> tuple:
            full = list(primals)
            for i, value in zip(positions, chosen, strict=True):
                full[i] = value
            every = tuple(fn(*full))
            # NOTE: dtypes are static here, so this picks the same outputs as `diff_out`
            return tuple(r for r in every[:num_outputs] if _inexact(r)), every

        # NOTE: every residual is kept (measured against jax.checkpoint's dots_saveable,
        # which recomputes the elementwise ops in backward: no faster on LeNet/MLP)
        chosen = [primals[i] for i in positions]
        _, pullback, results = jax.vjp(restricted, *chosen, has_aux=True)  # type: ignore[var-annotated]
        return results, pullback

    return jax.jit(forward)


def _make_vjp(
    fn: Any, wrt: tuple[bool, ...], present: tuple[bool, ...], constant: tuple[bool, ...]
) -> Any:
    import jax

    positions = [i for i, w in enumerate(wrt) if w]
    kept = [j for j, p in enumerate(present) if p]
    count = len(wrt)

    def vjp(*args: Any) -> tuple:
        # NOTE: `constant` inputs stay constants, also for a gradient of this gradient
        primals = [
            jax.lax.stop_gradient(a) if c and _inexact(a) else a
            for a, c in zip(args[:count], constant, strict=True)
        ]

        def restricted(*chosen: Any) -> tuple:
            full = list(primals)
            for i, value in zip(positions, chosen, strict=True):
                full[i] = value
            outputs = fn(*full)
            return tuple(outputs[j] for j in kept)

        outputs, pull = jax.vjp(restricted, *(args[i] for i in positions))
        # NOTE: an out= target of another dtype holds the recorded output, cast
        cotangents = (c.astype(o.dtype) for c, o in zip(args[count:], outputs, strict=True))
        return tuple(pull(tuple(cotangents)))

    return jax.jit(vjp)
