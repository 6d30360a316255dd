"""Strategy and Case: a per-op lowering alternative, and the (op, shapes, dtype, target) it runs on.

A strategy has the signature of an op's `lower` facet (`lower(jx, *inputs, **attrs)`) and must
compute the same function; `fits(case)` returns None when it applies, else why not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybrix.ir import DType, HybrixError, get_op

__all__ = [
    "STRATEGIES",
    "Case",
    "Strategy",
    "candidates",
    "facet_strategy",
    "register",
    "strategy_named",
]


@dataclass(frozen=True)
class Case:
    """One distinct op call: canonical op name, input shapes, dtype, attributes and target."""

    op: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str
    attrs_json: str
    target: str
    train: bool = False  # the op is differentiated too: forward + backward is what counts

    @classmethod
    def make(
        cls,
        op: str,
        shapes: Sequence[Sequence[int]],
        dtype: Any,
        attrs: Mapping[str, Any],
        target: str = "cpu",
        train: bool = False,
    ) -> Case:
        dtype = str(np.dtype(DType.from_any(dtype).numpy))
        plain = {k: _plain(v) for k, v in sorted(attrs.items()) if _keep_attr(k)}
        return cls(
            get_op(op).name,
            tuple(tuple(int(d) for d in s) for s in shapes),
            dtype,
            json.dumps(plain, sort_keys=True),
            target,
            train,
        )

    @property
    def attrs(self) -> dict[str, Any]:
        return json.loads(self.attrs_json)

    def key(self) -> str:
        """A stable text key for the on-disk autotune cache."""
        shapes = ";".join("x".join(map(str, s)) for s in self.shapes)
        key = f"{self.op}|{self.target}|{self.dtype}|{shapes}|{self.attrs_json}"
        return f"{key}|train" if self.train else key


def _keep_attr(name: str) -> bool:
    # NOTE: MXNet's tuning hints do not change the function; leave them out of the key
    return name not in ("workspace", "cudnn_tune", "cudnn_off")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class Strategy:
    """One way to lower `op`. `naive` marks the op's own `lower` facet; `trains`: its gradient
    was measured at least as fast as the facet's, so the cost model may pick it for a
    training case that nothing measured."""

    name: str
    op: str
    lower: Callable[..., Any]
    fits: Callable[[Case], str | None]
    doc: str
    naive: bool = False
    trains: bool = False


STRATEGIES: dict[str, list[Strategy]] = {}


def facet_strategy(
    name: str, op: str, how: str, fits: Callable[[Case], str | None] | None = None
) -> Strategy:
    """The op's own `lower` facet as its naive strategy; `how`: what the facet does."""
    return Strategy(
        name,
        op,
        get_op(op).lower_fn,  # type: ignore[arg-type]
        fits or (lambda case: None),
        f"the op's lower facet: {how}",
        naive=True,
    )


def register(strategy: Strategy) -> Strategy:
    """Add a strategy; names are unique per op."""
    entries = STRATEGIES.setdefault(strategy.op, [])
    if any(s.name == strategy.name for s in entries):
        raise HybrixError(f"strategy {strategy.name!r} is already registered for {strategy.op}")
    entries.append(strategy)
    return strategy


def candidates(case: Case) -> list[tuple[Strategy, str | None]]:
    """Every strategy of the case's op with None (it fits) or why it does not."""
    return [(s, s.fits(case)) for s in STRATEGIES.get(case.op, [])]


def strategy_named(op: str, name: str) -> Strategy:
    for strategy in STRATEGIES.get(get_op(op).name, []):
        if strategy.name == name:
            return strategy
    known = [s.name for s in STRATEGIES.get(get_op(op).name, [])]
    raise HybrixError(f"no lowering strategy {name!r} for {op}; expected one of {known}")
