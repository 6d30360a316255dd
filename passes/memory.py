"""Static memory planning: one arena for every value the graph's nodes write.

`plan_memory(graph)` follows MXNet's nnvm PlanMemory (src/nnvm/plan_memory.cc): in-place
reuse first (passes/inplace.py), then storage assignment by several strategies, keeping
the one with the smallest arena. Unlike MXNet, whose storages each get their own buffer,
storages here are placed at byte offsets in ONE arena, and storages whose lifetimes do not
overlap may share bytes.

The schedule is the graph's node order. Step i is node i: it reads its inputs and writes
its outputs, so a value read last at step i and a value written at step i are live
together (unless the second reuses the first in place). Graph outputs live to the end of
the program, step len(graph.nodes): they are in the arena too, and the executor copies
them out. Graph inputs and constants (parameters) are external: never in the arena.
"""

from __future__ import annotations

import ast
import bisect
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from hybrix.ir import Graph, GraphError, HybrixError, ModelFormatError, Node, Value
from hybrix.passes.inplace import inplace_candidates, offered_pairs

__all__ = ["STRATEGIES", "MemoryPlan", "check_plan", "lifetimes", "plan_memory", "value_nbytes"]

_FORMAT = "hybrix.memory_plan"
_VERSION = 1


@dataclass
class MemoryPlan:
    """Where each arena value lives: `offsets[name] = (storage id, arena offset, nbytes)`.

    A value starts at its storage's offset, so the byte offset of a value is also its
    absolute offset in the arena: the value is `arena[offset : offset + nbytes]`.
    `storages[id] = (arena offset, size)`; a storage holds values whose lifetimes do not
    overlap, or an in-place chain. Sizes and offsets are multiples of `alignment`.
    """

    arena_size: int
    lower_bound: int
    no_reuse: int
    offsets: dict[str, tuple[int, int, int]]
    storages: list[tuple[int, int]]
    inplace: dict[str, str]
    external: list[str]
    peak_step: int
    alignment: int = 64
    strategy: str = ""  # which storage assignment won (for the report)

    def to_json(self) -> str:
        data = {"format": _FORMAT, "version": _VERSION, **asdict(self)}
        return json.dumps(data, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> MemoryPlan:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ModelFormatError(f"memory plan: not valid JSON ({e})") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ModelFormatError(f"memory plan: expected a JSON object with format {_FORMAT!r}")
        if data.get("version") != _VERSION:
            raise ModelFormatError(
                f"memory plan: version {data.get('version')!r}, expected {_VERSION}"
            )
        try:
            return MemoryPlan(
                arena_size=int(data["arena_size"]),
                lower_bound=int(data["lower_bound"]),
                no_reuse=int(data["no_reuse"]),
                offsets={str(k): _placement(v) for k, v in data["offsets"].items()},
                storages=[_storage(v) for v in data["storages"]],
                inplace={str(k): str(v) for k, v in data["inplace"].items()},
                external=[str(name) for name in data["external"]],
                peak_step=int(data["peak_step"]),
                alignment=int(data.get("alignment", 64)),
                strategy=str(data.get("strategy", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelFormatError(f"memory plan: missing or malformed field ({e!r})") from None


def _placement(items: Sequence[int]) -> tuple[int, int, int]:
    storage, offset, nbytes = (int(item) for item in items)
    return storage, offset, nbytes


def _storage(items: Sequence[int]) -> tuple[int, int]:
    offset, size = (int(item) for item in items)
    return offset, size


# -- sizes ------------------------------------------------------------------------------
def value_nbytes(value: Value, bindings: Mapping[str, int] | None = None) -> int:
    """Bytes of a value's data; symbolic dimensions take their values from `bindings`."""
    count = 1
    for dim in value.shape:
        count *= _dim_value(dim, bindings or {}, value)
    return count * value.dtype.itemsize


def _dim_value(dim: int | str, bindings: Mapping[str, int], value: Value) -> int:
    if isinstance(dim, int):
        return dim
    try:
        tree = ast.parse(dim, mode="eval").body
    except SyntaxError:
        raise HybrixError(f"value %{value.name}: cannot evaluate dimension {dim!r}") from None
    result = _evaluate(tree, bindings, value, dim)
    if result < 0:
        raise HybrixError(f"value %{value.name}: dimension {dim!r} is negative ({result})")
    return result


_ARITHMETIC = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
}


def _evaluate(tree: ast.expr, bindings: Mapping[str, int], value: Value, dim: str) -> int:
    if isinstance(tree, ast.Constant) and type(tree.value) is int:
        return tree.value
    if isinstance(tree, ast.Name):
        if tree.id not in bindings:
            raise HybrixError(
                f"value %{value.name}: {value.type} has symbolic dimension {tree.id!r} "
                f"with no binding; pass bindings={{{tree.id!r}: <int>}}"
            )
        bound = bindings[tree.id]
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
            raise HybrixError(f"binding {tree.id}={bound!r} is not a non-negative int")
        return bound
    if isinstance(tree, ast.BinOp) and type(tree.op) in _ARITHMETIC:
        left = _evaluate(tree.left, bindings, value, dim)
        right = _evaluate(tree.right, bindings, value, dim)
        return _ARITHMETIC[type(tree.op)](left, right)
    raise HybrixError(f"value %{value.name}: cannot evaluate dimension {dim!r}")


def _aligned(nbytes: int, alignment: int) -> int:
    return -(-nbytes // alignment) * alignment


# -- liveness ---------------------------------------------------------------------------
def lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """Arena value name -> (step that writes it, last step that reads it).

    Graph outputs are read at step len(graph.nodes), the end of the program; a value
    nothing reads dies where it is written. Inputs and constants are not included.
    """
    external = {id(v) for v in (*graph.inputs, *graph.constants)}
    spans: dict[str, list[int]] = {}
    for step, node in enumerate(graph.nodes):
        for value in _reads(node):
            if id(value) in external:
                continue
            if value.name not in spans:
                raise GraphError(
                    f"graph {graph.name}: node {node.name} ({node.op}) reads %{value.name} "
                    "before any node writes it"
                )
            spans[value.name][1] = step
        for value in node.outputs:
            if value.name in spans:
                raise GraphError(f"graph {graph.name}: value %{value.name} is written twice")
            spans[value.name] = [step, step]
    for value in graph.outputs:
        if id(value) not in external:
            if value.name not in spans:
                raise GraphError(f"graph {graph.name}: output %{value.name} is never written")
            spans[value.name][1] = len(graph.nodes)
    return {name: (span[0], span[1]) for name, span in spans.items()}


def _reads(node: Node) -> list[Value]:
    """The node's inputs, and outer values its nested graphs (graph attributes) read."""
    reads = list(node.inputs)
    for attr in node.attrs.values():
        if isinstance(attr, Graph):
            reads += _outer_reads(attr)
    return reads


def _outer_reads(graph: Graph) -> list[Value]:
    inner = {id(v) for v in graph.values()}
    found = [v for node in graph.nodes for v in _reads(node) if id(v) not in inner]
    return found + [v for v in graph.outputs if id(v) not in inner]


# -- planning ---------------------------------------------------------------------------
@dataclass
class _Block:
    """A storage: values that share bytes, its size and the steps it is live."""

    values: list[str]
    size: int
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return sum(end - start + 1 for start, end in self.spans)


def plan_memory(
    graph: Graph,
    *,
    bindings: dict[str, int] | None = None,
    alignment: int = 64,
    allow_inplace: bool = True,
    strategy: str | None = None,
) -> MemoryPlan:
    """Plan one arena for every value the graph's nodes write (see the module docstring).

    Graph outputs are in the arena and live to the end of the program (the executor copies
    them out); graph inputs and constants are external. The schedule is the node order.

    bindings: values of symbolic dimensions ({'N': 32}); a symbolic dimension without one
    is a HybrixError naming it. alignment: of every offset and size, in bytes.
    allow_inplace: let outputs reuse the bytes of inputs that die there, where the op
    allows it (passes/inplace.py). strategy: one of STRATEGIES only; by default all are
    tried and the smallest arena kept.
    """
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise HybrixError(f"memory plan alignment must be a positive int, got {alignment!r}")
    if strategy is not None and strategy not in STRATEGIES:
        raise HybrixError(f"unknown memory strategy {strategy!r}; expected one of {STRATEGIES}")
    spans = lifetimes(graph)
    values = [v for node in graph.nodes for v in node.outputs]
    nbytes = {v.name: value_nbytes(v, bindings) for v in values}
    inplace: dict[str, str] = {}
    if allow_inplace:
        candidates = inplace_candidates(graph, spans, nbytes)
        inplace = {c.output: c.input for c in candidates if c.reason is None}
    groups = _inplace_groups(values, spans, nbytes, inplace, alignment)
    neighbors = _overlaps(groups)
    lower_bound, peak_step = _peak(groups, len(graph.nodes))
    name, blocks, offsets = _best_assignment(groups, neighbors, graph, strategy)
    return MemoryPlan(
        arena_size=max((o + b.size for o, b in zip(offsets, blocks, strict=True)), default=0),
        lower_bound=lower_bound,
        no_reuse=sum(_aligned(n, alignment) for n in nbytes.values()),
        offsets={
            value: (sid, offsets[sid], nbytes[value])
            for sid, block in enumerate(blocks)
            for value in block.values
        },
        storages=[(offsets[sid], block.size) for sid, block in enumerate(blocks)],
        inplace=inplace,
        external=[v.name for v in (*graph.inputs, *graph.constants)],
        peak_step=peak_step,
        alignment=alignment,
        strategy=name,
    )


def _inplace_groups(
    values: list[Value],
    spans: Mapping[str, tuple[int, int]],
    nbytes: Mapping[str, int],
    inplace: Mapping[str, str],
    alignment: int,
) -> list[_Block]:
    """One block per in-place chain; a chain's values are consecutive in time."""
    group_of: dict[str, _Block] = {}
    groups = []
    for value in values:  # node order: a chain's source comes before its users
        source = inplace.get(value.name)
        start, end = spans[value.name]
        if source is None:
            block = _Block([value.name], _aligned(nbytes[value.name], alignment), [(start, end)])
            groups.append(block)
        else:
            block = group_of[source]
            block.values.append(value.name)
            block.spans = [(block.spans[0][0], max(block.spans[0][1], end))]
        group_of[value.name] = block
    return groups


def _overlaps(blocks: list[_Block]) -> list[list[int]]:
    """For each block (one span each), the blocks live at some common step: a sweep."""
    order = sorted(range(len(blocks)), key=lambda i: blocks[i].spans[0][0])
    neighbors: list[list[int]] = [[] for _ in blocks]
    active: list[int] = []
    for index in order:
        start = blocks[index].spans[0][0]
        active = [other for other in active if blocks[other].spans[0][1] >= start]
        for other in active:
            neighbors[index].append(other)
            neighbors[other].append(index)
        active.append(index)
    return neighbors


def _peak(blocks: list[_Block], num_steps: int) -> tuple[int, int]:
    """(largest total of live block bytes at one step, the first step reaching it)."""
    delta = [0] * (num_steps + 2)
    for block in blocks:
        for start, end in block.spans:
            delta[start] += block.size
            delta[end + 1] -= block.size
    best, best_step, live = 0, 0, 0
    for step in range(num_steps + 1):
        live += delta[step]
        if live > best:
            best, best_step = live, step
    return best, best_step


# -- storage assignment -----------------------------------------------------------------
def _best_assignment(
    groups: list[_Block], neighbors: list[list[int]], graph: Graph, only: str | None
) -> tuple[str, list[_Block], list[int]]:
    """Try every strategy (or `only` one); keep the smallest arena (the first wins ties)."""
    best: tuple[str, list[_Block], list[int]] | None = None
    best_size = -1
    for name, make in _strategies(groups, neighbors, graph):
        if only is not None and name != only:
            continue
        blocks, block_neighbors, order, best_fit = make()
        offsets = _pack(blocks, block_neighbors, order, best_fit)
        size = max((o + b.size for o, b in zip(offsets, blocks, strict=True)), default=0)
        if best is None or size < best_size:
            best, best_size = (name, blocks, offsets), size
    assert best is not None
    return best


_Strategy = tuple[list[_Block], list[list[int]], list[int], bool]
_MATCH_RANGES = (1, 2, 4, 8, 16)
STRATEGIES = (
    "size-best-fit",
    "size-first-fit",
    "breadth",
    "schedule",
    *(f"pool-{match_range}" for match_range in _MATCH_RANGES),
)


def _strategies(
    groups: list[_Block], neighbors: list[list[int]], graph: Graph
) -> Iterator[tuple[str, Callable[[], _Strategy]]]:
    """(name, a function giving (blocks, neighbors, placement order, best fit?)) per strategy.

    - greedy by size (TFLite's GreedyBySize): largest first, into the tightest gap, or the
      lowest one;
    - greedy by breadth (TFLite's GreedyByBreadth): steps with most live bytes first;
    - in schedule order, as a linear-scan allocator;
    - MXNet's free-list pools at match ranges 1..16 (storage grows to its largest user),
      then the pools packed largest first.
    """
    yield "size-best-fit", lambda: (groups, neighbors, _size_order(groups), True)
    yield "size-first-fit", lambda: (groups, neighbors, _size_order(groups), False)
    yield "breadth", lambda: (groups, neighbors, _breadth_order(groups, len(graph.nodes)), True)
    yield "schedule", lambda: (groups, neighbors, _start_order(groups), True)
    for match_range in _MATCH_RANGES:
        yield f"pool-{match_range}", functools.partial(_pools, groups, neighbors, match_range)


def _pools(groups: list[_Block], neighbors: list[list[int]], match_range: int) -> _Strategy:
    pools, pool_of = _free_list_pools(groups, match_range)
    return pools, _pool_neighbors(neighbors, pool_of, len(pools)), _size_order(pools), True


def _start_order(blocks: list[_Block]) -> list[int]:
    return sorted(range(len(blocks)), key=lambda i: (blocks[i].spans[0][0], -blocks[i].size))


def _size_order(blocks: list[_Block]) -> list[int]:
    return sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, -blocks[i].length, i))


def _breadth_order(blocks: list[_Block], num_steps: int) -> list[int]:
    live: list[list[int]] = [[] for _ in range(num_steps + 1)]
    for index, block in enumerate(blocks):
        for start, end in block.spans:
            for step in range(start, end + 1):
                live[step].append(index)
    totals = [sum(blocks[i].size for i in indices) for indices in live]
    order, seen = [], set()
    for step in sorted(range(len(live)), key=lambda s: (-totals[s], s)):
        for index in sorted(live[step], key=lambda i: (-blocks[i].size, i)):
            if index not in seen:
                seen.add(index)
                order.append(index)
    return order


def _pack(
    blocks: list[_Block], neighbors: list[list[int]], order: list[int], best_fit: bool
) -> list[int]:
    """Offsets: each block in `order` goes into a gap between the placed blocks it meets."""
    offsets = [-1] * len(blocks)
    for index in order:
        size = blocks[index].size
        if size == 0:
            offsets[index] = 0
            continue
        taken = sorted(
            (offsets[j], offsets[j] + blocks[j].size) for j in neighbors[index] if offsets[j] >= 0
        )
        offsets[index] = _gap(taken, size, best_fit)
    return offsets


def _gap(taken: list[tuple[int, int]], size: int, best_fit: bool) -> int:
    """The offset of the smallest (best fit) or lowest gap of `size` bytes among `taken`."""
    cursor, best, best_gap = 0, -1, -1
    for start, end in taken:
        gap = start - cursor
        if gap >= size:
            if not best_fit:
                return cursor
            if best < 0 or gap < best_gap:
                best, best_gap = cursor, gap
        cursor = max(cursor, end)
    return cursor if best < 0 else best


def _free_list_pools(groups: list[_Block], match_range: int) -> tuple[list[_Block], list[int]]:
    """MXNet's GraphAllocator: requests reuse a released storage of size in [size/range,
    size*range], the smallest at least `size` first, else the largest below it (which then
    grows). Storages are requested in step order, largest first, and released after the
    step where their last value is read."""
    requests: dict[int, list[int]] = {}
    releases: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        requests.setdefault(group.spans[0][0], []).append(index)
        releases.setdefault(group.spans[0][1], []).append(index)
    pools: list[_Block] = []
    pool_of = [-1] * len(groups)
    free: list[tuple[int, int]] = []  # (pool size when released, pool id), sorted
    for step in sorted(set(requests) | set(releases)):
        for index in sorted(requests.get(step, ()), key=lambda i: (-groups[i].size, i)):
            group = groups[index]
            found = _request(free, group.size, match_range)
            if found < 0:
                found = len(pools)
                pools.append(_Block([], 0))
            pool = pools[found]
            pool.values += group.values
            pool.size = max(pool.size, group.size)
            pool.spans.append(group.spans[0])
            pool_of[index] = found
        for index in releases.get(step, ()):
            bisect.insort(free, (pools[pool_of[index]].size, pool_of[index]))
    return pools, pool_of


def _request(free: list[tuple[int, int]], size: int, match_range: int) -> int:
    middle = bisect.bisect_left(free, (size, -1))
    if middle < len(free) and free[middle][0] <= size * match_range:
        return free.pop(middle)[1]
    if middle > 0 and free[middle - 1][0] * match_range >= size:
        return free.pop(middle - 1)[1]
    return -1


def _pool_neighbors(neighbors: list[list[int]], pool_of: list[int], count: int) -> list[list[int]]:
    found: list[set[int]] = [set() for _ in range(count)]
    for index, others in enumerate(neighbors):
        for other in others:
            if pool_of[index] != pool_of[other]:
                found[pool_of[index]].add(pool_of[other])
    return [sorted(s) for s in found]


# -- checking ---------------------------------------------------------------------------
def check_plan(graph: Graph, plan: MemoryPlan, bindings: Mapping[str, int] | None = None) -> None:
    """Raise HybrixError unless `plan` fits `graph`.

    Every value a node writes is placed with its size, inside its storage and the arena,
    aligned; in-place pairs are ones the op allows, at the step the input dies; and no two
    values live at one step share a byte, except an in-place pair at its hand-over step.
    """
    where = f"memory plan for graph {graph.name}"
    spans = dict(lifetimes(graph))
    values = {v.name: v for node in graph.nodes for v in node.outputs}
    if set(plan.offsets) != set(values):
        missing, extra = (
            sorted(set(values) - set(plan.offsets)),
            sorted(set(plan.offsets) - set(values)),
        )
        raise HybrixError(f"{where}: values differ (missing {missing}, extra {extra})")
    for name, placement in plan.offsets.items():
        _check_placement(plan, name, placement, value_nbytes(values[name], bindings), where)
    for output, source in plan.inplace.items():
        _check_inplace_pair(plan, spans, values, (output, source), where)
        spans[source] = (spans[source][0], spans[source][1] - 1)  # handed over at that step
    _check_disjoint(plan, spans, len(graph.nodes), where)


def _check_placement(
    plan: MemoryPlan, name: str, placement: tuple[int, int, int], expected: int, where: str
) -> None:
    storage, offset, nbytes = placement
    if nbytes != expected:
        raise HybrixError(f"{where}: %{name} has {nbytes} B, its type needs {expected} B")
    if not 0 <= storage < len(plan.storages):
        raise HybrixError(f"{where}: %{name} is in storage {storage}, which does not exist")
    start, size = plan.storages[storage]
    if offset != start or nbytes > size or start % plan.alignment or start + size > plan.arena_size:
        raise HybrixError(
            f"{where}: %{name} ({nbytes} B at {offset}) does not fit storage {storage} "
            f"({size} B at {start}) inside the {plan.arena_size} B arena, "
            f"{plan.alignment}-aligned"
        )


def _check_inplace_pair(
    plan: MemoryPlan,
    spans: Mapping[str, tuple[int, int]],
    values: Mapping[str, Value],
    pair: tuple[str, str],
    where: str,
) -> None:
    output, source = pair
    if output not in values or source not in values:
        raise HybrixError(f"{where}: in-place %{output} <- %{source}: not values nodes write")
    node = values[output].producer
    assert node is not None
    allowed = offered_pairs(node)
    index = values[output].index
    if not any(o == index and node.inputs[i].name == source for o, i in allowed):
        raise HybrixError(
            f"{where}: {node.op} at node {node.name} does not let %{output} reuse %{source} "
            f"(it allows (output, input) {allowed})"
        )
    if spans[source][1] != spans[output][0]:
        raise HybrixError(f"{where}: %{output} reuses %{source}, which is read after it")
    if plan.offsets[output][1:] != plan.offsets[source][1:]:
        raise HybrixError(f"{where}: %{output} reuses %{source} but is placed elsewhere")


def _check_disjoint(
    plan: MemoryPlan, spans: Mapping[str, tuple[int, int]], num_steps: int, where: str
) -> None:
    starts: dict[int, list[str]] = {}
    for name, (start, _) in spans.items():
        starts.setdefault(start, []).append(name)
    live: list[str] = []
    for step in range(num_steps + 1):
        live = [n for n in live if spans[n][1] >= step] + starts.get(step, [])
        ranges = sorted(
            (plan.offsets[n][1], plan.offsets[n][1] + plan.offsets[n][2], n)
            for n in live
            if plan.offsets[n][2]
        )
        reach, holder = 0, ""
        for start, end, name in ranges:
            if start < reach:
                raise HybrixError(f"{where}: %{holder} and %{name} share bytes at step {step}")
            if end > reach:
                reach, holder = end, name
