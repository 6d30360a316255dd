"""The pass manager: `@graph_pass` declares a pass, `PassManager` runs, verifies and times them.

A pass is a function `pass_(graph) -> bool` that mutates the graph in place and says whether
it changed anything. While a PassManager runs it, the pass may `note(...)` what it changed and
`skip(...)` why a rewrite did not apply; both land in the pass's PassResult, which `explain`
prints and tests assert on. `HYBRIX_VERIFY=1` runs `ir.verify` after every pass (tests pass
`verify=True`), and `HYBRIX_DUMP_IR=dir` writes the IR text before and after each pass.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybrix.ir import Graph, HybrixError, verify

__all__ = ["GraphPass", "PassError", "PassManager", "PassResult", "graph_pass", "note", "skip"]

MAX_ROUNDS = 8


class PassError(HybrixError):
    """A pass that broke the graph or failed; names the pass."""


@dataclass
class PassResult:
    """What one run of one pass did."""

    name: str
    changed: bool
    seconds: float
    nodes_before: int
    nodes_after: int
    round: int = 0
    changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class GraphPass:
    """A decorated pass: callable on a graph, with its name and declared analyses."""

    def __init__(
        self, fn: Callable[[Graph], bool], requires: Sequence[str], invalidates: Sequence[str]
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = fn.__name__
        self.requires = tuple(requires)
        self.invalidates = tuple(invalidates)

    def __call__(self, graph: Graph) -> bool:
        return bool(self.fn(graph))

    def __repr__(self) -> str:
        return f"<graph_pass {self.name}>"


def graph_pass(
    requires: Sequence[str] = (), invalidates: Sequence[str] = ()
) -> Callable[[Callable[[Graph], bool]], GraphPass]:
    """Declare a pass and what it needs ("types") and invalidates ("memory_plan", ...)."""

    def wrap(fn: Callable[[Graph], bool]) -> GraphPass:
        return GraphPass(fn, requires, invalidates)

    return wrap


# -- the log a running pass writes to --------------------------------------------------------
_ACTIVE: list[PassResult] = []


def note(message: str) -> None:
    """Record one change of the running pass (no-op outside a PassManager)."""
    if _ACTIVE:
        _ACTIVE[-1].changes.append(message)


def skip(message: str) -> None:
    """Record why a rewrite did not apply (no-op outside a PassManager)."""
    if _ACTIVE:
        _ACTIVE[-1].skipped.append(message)


def detail(key: str, value: Any) -> None:
    """Attach structured data (fusion groups, ...) to the running pass's result."""
    if _ACTIVE:
        _ACTIVE[-1].details[key] = value


@contextlib.contextmanager
def _recording(result: PassResult) -> Iterator[PassResult]:
    _ACTIVE.append(result)
    try:
        yield result
    finally:
        _ACTIVE.pop()


# -- the manager ------------------------------------------------------------------------------
class PassManager:
    """Runs passes in order; with fixpoint=True repeats the list until no pass changes."""

    def __init__(
        self,
        passes: Sequence[GraphPass],
        fixpoint: bool = True,
        verify: bool | None = None,
        dump_dir: str | Path | None = None,
        max_rounds: int = MAX_ROUNDS,
    ) -> None:
        for graph_pass_ in passes:
            if not isinstance(graph_pass_, GraphPass):
                raise PassError(f"{graph_pass_!r} is not a @graph_pass function")
        self.passes = list(passes)
        self.fixpoint = fixpoint
        self.verify = os.environ.get("HYBRIX_VERIFY") == "1" if verify is None else verify
        dump = dump_dir if dump_dir is not None else os.environ.get("HYBRIX_DUMP_IR")
        self.dump_dir = Path(dump) if dump else None
        self.max_rounds = max_rounds

    def run(self, graph: Graph) -> list[PassResult]:
        """Run the passes over `graph` in place; one PassResult per pass run."""
        results: list[PassResult] = []
        valid: set[str] = {"types"}
        for round_ in range(self.max_rounds if self.fixpoint else 1):
            changed = False
            for graph_pass_ in self.passes:
                self._provide(graph, graph_pass_, valid, results, round_)
                result = self._run_one(graph, graph_pass_, round_, len(results))
                results.append(result)
                if result.changed:
                    changed = True
                    valid -= set(graph_pass_.invalidates)
            if not changed:
                break
        return results

    def _provide(
        self,
        graph: Graph,
        graph_pass_: GraphPass,
        valid: set[str],
        results: list[PassResult],
        round_: int,
    ) -> None:
        """Re-run the providers of analyses the pass requires and an earlier pass invalidated."""
        for analysis in graph_pass_.requires:
            if analysis in valid:
                continue
            provider = _providers().get(analysis)
            if provider is not None:
                results.append(self._run_one(graph, provider, round_, len(results)))
            valid.add(analysis)

    def _run_one(self, graph: Graph, graph_pass_: GraphPass, round_: int, index: int) -> PassResult:
        before = len(graph.nodes)
        result = PassResult(graph_pass_.name, False, 0.0, before, before, round_)
        self._dump(graph, index, graph_pass_.name, "before")
        start = time.perf_counter()
        with _recording(result):
            try:
                result.changed = graph_pass_(graph)
            except HybrixError as e:
                raise PassError(f"pass {graph_pass_.name} on graph {graph.name}: {e}") from e
        result.seconds = time.perf_counter() - start
        result.nodes_after = len(graph.nodes)
        self._dump(graph, index, graph_pass_.name, "after")
        if self.verify:
            try:
                verify(graph)
            except HybrixError as e:
                message = f"pass {graph_pass_.name} left graph {graph.name} invalid: {e}"
                raise PassError(message) from e
        return result

    def _dump(self, graph: Graph, index: int, name: str, when: str) -> None:
        if self.dump_dir is None:
            return
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        path = self.dump_dir / f"{graph.name}.{index:03d}.{name}.{when}.hxir.txt"
        path.write_text(str(graph))


def _providers() -> dict[str, GraphPass]:
    from hybrix.passes.infer_types import infer_types

    return {"types": infer_types}
