"""Choose a lowering strategy per (op, shapes, dtype, target): measured when cached, else cost.

Modes (`HYBRIX_LOWERING` or `set_mode`): "naive" uses every op's own `lower` facet; "cost"
(default) uses measured choices from the on-disk cache and the cost model elsewhere; "tune"
also times the candidates of every case not measured yet, once, and stores the winner under
`cache_dir('lowering')/<machine_id>.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from hybrix.compiler.cache_dir import cache_dir, enable_default_compilation_cache, machine_id
from hybrix.compiler.strategies import STRATEGIES, Case, candidates, strategy_named
from hybrix.compiler.strategies.cost import estimate
from hybrix.ir import Graph, HybrixError, Node, Value, get_op
from hybrix.passes.fold_residual import ADDS, is_relu

__all__ = [
    "MODES",
    "Choice",
    "choose",
    "ConvGroup",
    "conv_relu_group",
    "describe_lowering",
    "fused_lowering",
    "get_mode",
    "lowering_mode",
    "measure",
    "node_case",
    "plan_lowering",
    "set_mode",
    "strategy_chooser",
    "tune_graph",
]

MODES = ("naive", "cost", "tune")
_STATE: dict[str, Any] = {"mode": None, "table": None, "table_path": None}


@dataclass(frozen=True)
class Choice:
    """The strategy chosen for one case, and why ("measured", "cost model", ...)."""

    strategy: str
    reason: str


# -- mode ------------------------------------------------------------------------------------
def get_mode() -> str:
    mode = _STATE["mode"] or os.environ.get("HYBRIX_LOWERING", "cost")
    if mode not in MODES:
        raise HybrixError(f"HYBRIX_LOWERING={mode!r}; expected one of {MODES}")
    return mode


def set_mode(mode: str | None) -> None:
    """Set the lowering mode for this process (None: back to HYBRIX_LOWERING / "cost")."""
    if mode is not None and mode not in MODES:
        raise HybrixError(f"unknown lowering mode {mode!r}; expected one of {MODES}")
    _STATE["mode"] = mode


@contextlib.contextmanager
def lowering_mode(mode: str) -> Iterator[None]:
    previous = _STATE["mode"]
    set_mode(mode)
    try:
        yield
    finally:
        _STATE["mode"] = previous


# -- the on-disk table of measured choices ---------------------------------------------------
def _table_path() -> str:
    return str(cache_dir("lowering") / f"{machine_id()}.json")


def _table() -> dict[str, Any]:
    path = _table_path()
    if _STATE["table_path"] != path:
        try:
            with open(path, encoding="utf-8") as f:
                _STATE["table"] = json.load(f)
        except (OSError, ValueError):
            _STATE["table"] = {}
        _STATE["table_path"] = path
    return _STATE["table"]


def _store(key: str, entry: dict[str, Any]) -> None:
    table = _table()
    table[key] = entry
    path = _table_path()
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    os.replace(temp, path)  # NOTE: atomic, so a concurrent reader never sees half a file


# -- measuring -------------------------------------------------------------------------------
def _inputs(case: Case, seed: int = 0) -> list[Any]:
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(s).astype(case.dtype)) for s in case.shapes]


def _time(fn: Callable[..., Any], args: Sequence[Any], budget: float = 0.05) -> float:
    """Best of several runs (at least 3, about `budget` seconds in all) after a warm-up."""
    import jax

    jax.block_until_ready(fn(*args))
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < budget and runs < 50):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def measure(case: Case) -> dict[str, float]:
    """Seconds per call of every fitting strategy of `case` (best of a few runs).

    Runs in a fresh thread: jax's trace state is per thread, so a measurement asked for
    while a graph is being traced (lowering in "tune" mode) executes instead of staging.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_measure, case).result()


def _measure(case: Case) -> dict[str, float]:
    import jax

    from hybrix.compiler.jx import jax_namespace

    args = _inputs(case)
    attrs = get_op(case.op).check_attrs(case.attrs)
    times = {}
    for strategy, why_not in candidates(case):
        if why_not is None:
            lower = strategy.lower
            fn = jax.jit(lambda *a, lower=lower: lower(jax_namespace(), *a, **attrs))
            times[strategy.name] = _time(_with_backward(fn, args) if case.train else fn, args)
    return times


def _with_backward(fn: Callable[..., Any], args: Sequence[Any]) -> Callable[..., Any]:
    """Forward and the gradients of every input, as a training step computes them."""
    import jax

    shapes = jax.eval_shape(fn, *args)
    rng = np.random.default_rng(1)
    # NOTE: an argument, not a constant: XLA would fold a constant cotangent into the
    # backward (ones @ x becomes a reduction) and time less than a training step does
    heads = jax.tree_util.tree_map(
        lambda s: jax.numpy.asarray(rng.standard_normal(s.shape).astype(s.dtype)), shapes
    )

    @jax.jit
    def jitted(heads: Any, *a: Any) -> Any:
        out, pull = jax.vjp(fn, *a)
        return out, pull(heads)

    def forward_backward(*a: Any) -> Any:
        return jitted(heads, *a)

    forward_backward.heads = heads  # type: ignore[attr-defined]
    return forward_backward


# -- choosing --------------------------------------------------------------------------------
def _naive(case: Case) -> Choice:
    for strategy in STRATEGIES.get(case.op, []):
        if strategy.naive:
            return Choice(strategy.name, "naive lowering (the op's lower facet)")
    return Choice("", "no strategies for this op: its lower facet")


def choose(case: Case, mode: str | None = None) -> Choice:
    """The strategy for `case`: measured (cached or, in "tune" mode, now), else cost model
    (training cases: among the op's own lowering and the strategies that train well)."""
    mode = mode or get_mode()
    fitting = [s for s, why in candidates(case) if why is None]
    if mode == "naive" or len(fitting) < 2:
        return _naive(case)
    entry = _table().get(case.key())
    if entry is None and mode == "tune":
        times = measure(case)
        entry = {"strategy": min(times, key=times.__getitem__), "times": times}
        _store(case.key(), entry)
    if entry is not None and entry["strategy"] in {s.name for s in fitting}:
        times = entry["times"]
        best = times[entry["strategy"]]
        naive = next((times[s.name] for s in fitting if s.naive and s.name in times), best)
        return Choice(
            entry["strategy"], f"measured {best * 1e3:.3f} ms (naive {naive * 1e3:.3f} ms)"
        )
    if case.train:
        # NOTE: the cost model prices forwards. Inside LeNet's training step the inference
        # picks whose backward is XLA's ran within noise of XLA's own lowering, and an im2col
        # stem ~1.9x slower: unmeasured, training takes only strategies with a backward of
        # their own measured faster (Strategy.trains)
        fitting = [s for s in fitting if s.naive or s.trains]
        if len(fitting) < 2:
            return _naive(case)
    costs = {s.name: estimate(s.name, case) for s in fitting}
    name = min(costs, key=costs.__getitem__)
    return Choice(name, f"cost model {costs[name] * 1e3:.3f} ms of {_rank(costs)}")


def _rank(costs: dict[str, float]) -> str:
    return ", ".join(f"{n} {c * 1e3:.3f}" for n, c in sorted(costs.items(), key=lambda i: i[1]))


def _target() -> str:
    import jax

    return jax.default_backend()


def node_case(
    node: Node, shapes: Sequence[Sequence[Any]], dtype: Any, target: str, train: bool = False
) -> Case | None:
    """The Case of a node with these input shapes; None when the op has no strategies or a
    shape is not static (jax.export's symbolic dims): the op's facet is then used."""
    op = get_op(node.op).name
    if op not in STRATEGIES:
        return None
    if not all(isinstance(d, int) for s in shapes for d in s):
        return None
    return Case.make(op, shapes, dtype, node.attrs, target, train)


def strategy_chooser(
    mode: str | None = None, train: bool = False
) -> Callable[[Node, Sequence[Any]], Any] | None:
    """For compiler.lower_graph: `(node, args) -> lowering or None` (None: the facet).

    train: the graph will be differentiated, so strategies are compared on forward plus
    backward where measured ("tune" mode); else the cost model chooses among the op's own
    lowering and the strategies marked `trains`. Lowering a graph is
    about to compile it: JAX's persistent compilation cache is turned on here
    (compiler.cache_dir.enable_default_compilation_cache).
    """
    enable_default_compilation_cache()
    mode = mode or get_mode()
    if mode == "naive":
        return None
    target = _target()

    def pick(node: Node, args: Sequence[Any]) -> Callable[..., Any] | None:
        if node.op == "_fused":
            return fused_lowering(node, args, pick)
        present = [a for a in args if a is not None]
        if not present:
            return None
        shapes = [tuple(a.shape) for a in present]
        case = node_case(node, shapes, str(present[0].dtype), target, train)
        if case is None or len(present) != len(args):
            return None
        choice = choose(case, mode)
        if not choice.strategy:
            return None
        strategy = strategy_named(case.op, choice.strategy)
        return None if strategy.naive else strategy.lower

    return pick


# -- fused groups: Convolution -> (add ->) relu in one native kernel -------------------------
class ConvGroup(NamedTuple):
    """A `_fused` body the native kernel runs whole. `lead`: ops before the Convolution (the
    layout pass's transpose into the stem), each lowered by its own strategy; `positions`:
    where each of the conv's inputs is among the body's values (its inputs, then the lead's
    outputs, in order); `residual`: where the added value is, for Convolution -> add -> relu
    (else None)."""

    lead: list[Node]
    conv: Node
    positions: list[int]
    residual: int | None


def conv_relu_group(node: Node) -> ConvGroup | None:
    """The group of a `_fused` node whose body ends Convolution -> relu (fold_activation) or
    Convolution -> add of a same-shaped value -> relu (passes.fold_residual), after ops that
    are not groups themselves."""
    body = node.attrs.get("graph")
    if not isinstance(body, Graph) or body.constants or len(body.outputs) != 1:
        return None
    nodes = list(body.nodes)
    add = nodes[-2] if len(nodes) >= 3 and get_op(nodes[-2].op).name in ADDS else None
    ends = nodes[:-2] if add else nodes[:-1]
    if not ends or ends[-1].op != "Convolution" or not is_relu(nodes[-1]):
        return None
    *lead, conv = ends
    relu, tail = nodes[-1], conv.outputs[0]
    if add is not None:
        other = [v for v in add.inputs if v is not tail]
        if len(other) != 1 or len(add.inputs) != 2 or other[0].type.shape != tail.type.shape:
            return None
        tail = add.outputs[0]
    if relu.inputs[0] is not tail or body.outputs[0] is not relu.outputs[0]:
        return None
    if any(n.op == "_fused" for n in lead):
        return None
    values = [*body.inputs, *(v for n in lead for v in n.outputs)]

    def position(x: Value) -> int | None:
        return next((i for i, v in enumerate(values) if v is x), None)

    positions = [position(x) for x in conv.inputs]
    residual = position(other[0]) if add is not None else None
    if None in positions or (add is not None and residual is None):
        return None
    return ConvGroup(lead, conv, positions, residual)  # type: ignore[arg-type]


def fused_lowering(
    node: Node, args: Sequence[Any], pick: Callable[[Node, Sequence[Any]], Any]
) -> Callable[..., Any] | None:
    """A lowering of a whole `_fused` ... -> Convolution (-> add) -> relu group when `pick`
    chooses a native strategy for its Convolution (the kernel's ReLU flag and residual
    input); None: walk the body."""
    import jax

    from hybrix.compiler.lower import lower_node
    from hybrix.compiler.strategies.native import RELU_FUSED, native_conv_add_relu

    group = conv_relu_group(node)
    if group is None:
        return None
    lead, conv, positions, residual = group
    body = node.attrs["graph"]

    def values_of(inputs: Sequence[Any]) -> list[Any]:
        env = {id(v): a for v, a in zip(body.inputs, inputs, strict=True)}
        for member in lead:
            outputs = lower_node(member, [env[id(v)] for v in member.inputs], pick)
            env.update({id(v): a for v, a in zip(member.outputs, outputs, strict=True)})
        return [*inputs, *(env[id(v)] for n in lead for v in n.outputs)]

    # NOTE: shapes only: the leading nodes are traced again inside the group's lowering
    shapes = jax.eval_shape(lambda *a: values_of(a), *args) if lead else list(args)
    lowering = pick(conv, [shapes[i] for i in positions])
    if residual is not None:
        if lowering is not _strategy("native"):
            return None

        def conv_add_relu(jx: Any, *inputs: Any, **_: Any) -> Any:
            values = values_of(inputs) if lead else inputs
            data, weight, *bias = (values[i] for i in positions)
            return native_conv_add_relu(
                jx, data, weight, bias[0] if bias else None, values[residual], **conv.attrs
            )

        return conv_add_relu
    fused = next((f for name, f in RELU_FUSED.items() if lowering is _strategy(name)), None)
    if fused is None:
        return None

    def conv_relu(jx: Any, *inputs: Any, **_: Any) -> Any:
        values = values_of(inputs) if lead else inputs
        return fused(jx, *[values[i] for i in positions], **conv.attrs)

    return conv_relu


def _strategy(name: str) -> Callable[..., Any] | None:
    return strategy_named("Convolution", name).lower


# -- whole graphs ----------------------------------------------------------------------------
def _walk(graph: Graph, prefix: str = "") -> Iterator[tuple[str, Node]]:
    for node in graph.nodes:
        sub = node.attrs.get("graph") if node.op == "_fused" else None
        if isinstance(sub, Graph):
            yield from _walk(sub, f"{prefix}{node.name}/")
        else:
            yield f"{prefix}{node.name}", node


def plan_lowering(
    graph: Graph, mode: str | None = None, target: str | None = None
) -> list[tuple[str, str, Case | None, Choice]]:
    """(node path, op, case, choice) for every node with strategies (inside _fused too)."""
    target = target or _target()
    rows = []
    for path, node in _walk(graph):
        if get_op(node.op).name not in STRATEGIES:
            continue
        shapes = [v.type.shape for v in node.inputs]
        case = node_case(node, shapes, node.inputs[0].type.dtype, target)
        if case is None:
            rows.append((path, node.op, None, Choice("xla", "symbolic shape: the op's facet")))
        else:
            rows.append((path, node.op, case, choose(case, mode)))
    return rows


def tune_graph(graph: Graph) -> list[tuple[str, str, Case | None, Choice]]:
    """Measure every distinct case of the graph not measured yet ("tune" mode for it)."""
    return plan_lowering(graph, "tune")


def describe_lowering(graph: Graph, mode: str | None = None) -> str:
    """A table: each node with strategies, the strategy it gets and why (`hybrix inspect`)."""
    rows = plan_lowering(graph, mode)
    if not rows:
        return "no op in this graph has lowering strategies (every op uses its lower facet)"
    width = max(len(path) for path, *_ in rows)
    lines = [f"lowering mode {mode or get_mode()}, target {_target()}, table {_table_path()}"]
    for path, op, case, choice in rows:
        shape = "x".join(map(str, case.shapes[0])) if case else "?"
        lines.append(
            f"  {path:<{width}}  {op:<12} {shape:<14} {choice.strategy:<13} {choice.reason}"
        )
    return "\n".join(lines)
