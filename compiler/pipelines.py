"""Pass pipelines O0/O1/O2 as plain lists and `optimize`, for compile, hybridize and the CLI."""

from __future__ import annotations

import os

from hybrix.ir import Graph, HybrixError, verify

__all__ = ["LEVELS", "O0", "O1", "O2", "optimize"]

# NOTE: the passes issue fills these lists with passes from hybrix.passes.
O0: list = []
O1: list = []
O2: list = []
LEVELS = {"O0": O0, "O1": O1, "O2": O2}


def optimize(graph: Graph, level: str = "O1", *, inference: bool = False) -> Graph:
    """Run the pipeline of `level` over `graph` (in place) and return it.

    inference: the graph is for inference only (parameters may be folded as constants,
    Dropout removed, BatchNorm folded).
    """
    if level not in LEVELS:
        raise HybrixError(f"unknown optimisation level {level!r}; expected one of {sorted(LEVELS)}")
    for graph_pass in LEVELS[level]:
        graph_pass(graph, inference=inference)
    if os.environ.get("HYBRIX_VERIFY") == "1":
        verify(graph)
    return graph
