"""Pass pipelines O0/O1/O2 as plain lists and `optimize`, for compile, hybridize and the CLI.

O1 holds the cleanups that keep every value the graph computes (dead code, common
subexpressions, algebraic identities, constant folding), repeated to a fixpoint; O2 adds
elementwise fusion, run once the cleanups have settled. `inference=True` first removes
inactive Dropout and folds BatchNorm into its producer (parameters must be constants:
pass `params=` or call passes.freeze_params), before fusion folds activations into their
producers and after it Convolutions into the add -> relu groups that end residual blocks;
last, `to_target_layout` runs 2-D convolutions and pooling channels-last where the target's
conv prefers it (CPU: ResNet-18 at batch 1 ran 3.6x faster, see bench/infer.py), unless
`layout=False`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybrix.compiler.layout import to_target_layout
from hybrix.ir import Graph, HybrixError
from hybrix.passes import (
    GraphPass,
    PassManager,
    PassResult,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_activation,
    fold_batchnorm,
    fold_constants,
    fold_residual,
    freeze_params,
    fuse_elementwise,
    remove_dropout,
    simplify,
)

__all__ = ["INFERENCE", "LEVELS", "O0", "O1", "O2", "optimize", "pipeline", "run_pipeline"]

O0: list[GraphPass] = []
O1: list[GraphPass] = [
    simplify,
    fold_constants,
    eliminate_common_subexpressions,
    eliminate_dead_code,
]
O2: list[GraphPass] = [*O1, fuse_elementwise]
LEVELS = {"O0": O0, "O1": O1, "O2": O2}
INFERENCE: list[GraphPass] = [remove_dropout, fold_batchnorm]
_LATE = (fuse_elementwise,)


def pipeline(
    level: str = "O1", *, inference: bool = False, layout: bool = True
) -> list[list[GraphPass]]:
    """The stages of a level, in order: the cleanups (to a fixpoint), then fusion (once),
    then (inference, `layout`) the target layout and the dead code it leaves (once)."""
    if level not in LEVELS:
        raise HybrixError(f"unknown optimisation level {level!r}; expected one of {sorted(LEVELS)}")
    passes = LEVELS[level]
    cleanups = [p for p in passes if p not in _LATE]
    late = [p for p in passes if p in _LATE]
    if inference and passes:
        cleanups = [*INFERENCE, *cleanups]
        late = [fold_activation, *late, fold_residual] if late else late
    relayout = [to_target_layout, eliminate_dead_code] if inference and passes and layout else []
    return [stage for stage in (cleanups, late, relayout) if stage]


def run_pipeline(
    graph: Graph,
    level: str = "O1",
    *,
    inference: bool = False,
    verify: bool | None = None,
    layout: bool = True,
) -> list[PassResult]:
    """Run the pipeline over `graph` in place; the per-pass results of every stage."""
    results: list[PassResult] = []
    for index, stage in enumerate(pipeline(level, inference=inference, layout=layout)):
        # NOTE: the cleanups repeat to a fixpoint; the late stage (fusion) runs once.
        results += PassManager(stage, fixpoint=index == 0, verify=verify).run(graph)
    return results


def optimize(
    graph: Graph,
    level: str = "O1",
    *,
    inference: bool = False,
    params: Mapping[str, Any] | None = None,
    layout: bool = True,
) -> Graph:
    """Run the pipeline of `level` over `graph` (in place) and return it.

    inference: the graph is for inference only (Dropout removed, BatchNorm folded into
    constant parameters). params: values of graph inputs to freeze into constants first.
    layout: with inference, run windowed ops in the target's layout (NHWC on CPU).
    `HYBRIX_VERIFY=1` verifies the graph after every pass.
    """
    if params:
        freeze_params(graph, params)
    run_pipeline(graph, level, inference=inference, layout=layout)
    return graph
