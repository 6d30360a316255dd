"""The reference executor: numpy only. Runs each op's `ref` kernel, results placed per the plan.

The memory plan of a binding of symbolic dimensions gives every planned value a byte range
(storage id, offset, nbytes) of one arena. The arena is allocated once per binding and each
node's results are copied into their views; a value the plan does not cover gets its own
array. Graph outputs are copied out, as the arena is reused by the next run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hybrix.ir import Graph, HybrixError, Node, Value, get_op
from hybrix.runtime.errors import BundleCorruptError

__all__ = ["MemoryPlanData", "ReferenceExecutor", "concrete_shape"]

Bindings = Mapping[str, int]
_Memory = tuple["np.ndarray | None", dict[str, np.ndarray]]  # the arena and its views


class MemoryPlanData:
    """A memory plan as stored in a bundle (memory/*.json), for one binding of dimensions."""

    def __init__(
        self,
        bindings: Bindings,
        arena_size: int,
        offsets: Mapping[str, Sequence[int]],
        external: Sequence[str] = (),
    ) -> None:
        self.bindings = dict(bindings)
        self.arena_size = int(arena_size)
        self.offsets = {name: tuple(int(i) for i in entry) for name, entry in offsets.items()}
        self.external = list(external)

    def to_json(self) -> dict[str, Any]:
        return {
            "bindings": self.bindings,
            "arena_size": self.arena_size,
            "offsets": {name: list(entry) for name, entry in self.offsets.items()},
            "external": self.external,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MemoryPlanData:
        return cls(data["bindings"], data["arena_size"], data["offsets"], data.get("external", ()))


def concrete_shape(shape: Sequence[int | str], bindings: Bindings, where: str) -> tuple[int, ...]:
    """The shape with symbolic dimensions ('N', '4*N', 'N*T') evaluated under `bindings`."""
    result = []
    for dim in shape:
        if isinstance(dim, int):
            result.append(dim)
            continue
        size = 1
        for part in str(dim).split("*"):
            part = part.strip()
            if part.isdigit():
                size *= int(part)
            elif part in bindings:
                size *= int(bindings[part])
            else:
                raise HybrixError(f"{where}: dimension {dim!r} is not bound by {dict(bindings)}")
        result.append(size)
    return tuple(result)


class ReferenceExecutor:
    """Runs a graph whose inputs are the bundle's inputs then its parameters."""

    def __init__(
        self, graph: Graph, params: Sequence[np.ndarray], plans: Sequence[MemoryPlanData] = ()
    ) -> None:
        self.graph = graph
        self.params = list(params)
        self.plans = {_key(plan.bindings): plan for plan in plans}
        self._arenas: dict[tuple, tuple[np.ndarray | None, dict[str, np.ndarray]]] = {}
        for node in graph.nodes:
            if get_op(node.op).ref_fn is None:
                raise HybrixError(
                    f"node {node.name}: {node.op} has no numpy kernel, so the reference "
                    "executor cannot run this graph"
                )

    def run(self, inputs: Sequence[np.ndarray], bindings: Bindings) -> list[np.ndarray]:
        arena, views = self._arena(bindings)
        env: dict[int, Any] = {}
        for value, array in zip(self.graph.inputs, [*inputs, *self.params], strict=True):
            env[id(value)] = array
        for node in self.graph.nodes:
            self._run_node(node, env, (arena, views), bindings)
        return [np.array(env[id(value)]) for value in self.graph.outputs]

    def _run_node(
        self, node: Node, env: dict[int, Any], memory: _Memory, bindings: Bindings
    ) -> None:
        args = [env[id(value)] for value in node.inputs]
        result = get_op(node.op).ref_fn(*args, **node.attrs)
        results = tuple(result) if isinstance(result, tuple | list) else (result,)
        for value, array in zip(node.outputs, results, strict=True):
            env[id(value)] = _place(node, value, np.asarray(array), memory, bindings)

    def _arena(self, bindings: Bindings) -> _Memory:
        """The arena for this binding and its views, allocated on first use."""
        key = _key(bindings)
        memory = self._arenas.get(key)
        if memory is None:
            plan = self.plans.get(key)
            memory = (None, {}) if plan is None else _arena_views(self.graph, plan)
            self._arenas[key] = memory
        return memory


def _place(
    node: Node, value: Value, array: np.ndarray, memory: _Memory, bindings: Bindings
) -> np.ndarray:
    """The node's result as the value's array: written into its arena view when planned."""
    arena, views = memory
    view = views.get(value.name)
    shape = concrete_shape(value.shape, bindings, f"node {node.name}")
    if array.shape != shape:
        raise HybrixError(
            f"node {node.name} ({node.op}): the numpy kernel gave %{value.name} shape "
            f"{list(array.shape)}, its type says {list(shape)}"
        )
    if view is None:
        # NOTE: a kernel may return a view of its input; if that input lives in the arena,
        # its bytes are reused later, so an unplanned value keeps a copy.
        aliases = arena is not None and np.may_share_memory(array, arena)
        return array.astype(value.dtype.numpy, copy=aliases)
    np.copyto(view, array, casting="unsafe")
    return view


def _arena_views(graph: Graph, plan: MemoryPlanData) -> _Memory:
    """One arena of plan.arena_size bytes and a typed view of it per planned value."""
    arena = np.zeros(plan.arena_size, np.uint8)
    types = {value.name: value for value in graph.values()}
    views = {}
    for name, (_, offset, nbytes) in plan.offsets.items():
        value = types.get(name)
        if value is None:
            raise BundleCorruptError(f"memory plan {plan.bindings}: no value %{name} in the graph")
        if value.producer is None:
            continue  # inputs and parameters are external: their arrays are used as given
        shape = concrete_shape(value.shape, plan.bindings, f"memory plan for %{name}")
        dtype = value.dtype.numpy
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected or offset < 0 or offset + nbytes > plan.arena_size:
            raise BundleCorruptError(
                f"memory plan {plan.bindings}: %{name} ({value.type}) needs {expected} bytes, "
                f"the plan gives [{offset}, {offset + nbytes}) of a {plan.arena_size}-byte arena"
            )
        if offset % dtype.itemsize:
            raise BundleCorruptError(
                f"memory plan {plan.bindings}: %{name} at offset {offset} is not aligned "
                f"to its {dtype.itemsize}-byte elements"
            )
        views[name] = arena[offset : offset + nbytes].view(dtype).reshape(shape)
    return arena, views


def _key(bindings: Bindings) -> tuple:
    return tuple(sorted((str(k), int(v)) for k, v in bindings.items()))
