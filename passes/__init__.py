"""Graph passes: one module per pass, run by the PassManager (see passes/manager.py)."""

from .manager import GraphPass, PassError, PassManager, PassResult, graph_pass, note, skip
from .infer_types import infer_types
from .dce import eliminate_dead_code
from .cse import eliminate_common_subexpressions
from .fold_constants import fold_constants
from .simplify import simplify
from .freeze import freeze_params
from .fold_batchnorm import fold_batchnorm
from .remove_dropout import remove_dropout
from .fuse import fuse_elementwise
from .fold_activation import fold_activation
from .fold_residual import fold_residual
from .memory import STRATEGIES, MemoryPlan, check_plan, lifetimes, plan_memory, value_nbytes
from .inplace import InplaceCandidate, inplace_candidates, offered_pairs
from .memory_report import MemoryReport, memory_report

__all__ = [
    "STRATEGIES",
    "GraphPass",
    "InplaceCandidate",
    "MemoryPlan",
    "MemoryReport",
    "PassError",
    "PassManager",
    "PassResult",
    "eliminate_common_subexpressions",
    "eliminate_dead_code",
    "fold_activation",
    "fold_batchnorm",
    "fold_constants",
    "fold_residual",
    "freeze_params",
    "fuse_elementwise",
    "check_plan",
    "graph_pass",
    "inplace_candidates",
    "lifetimes",
    "memory_report",
    "offered_pairs",
    "plan_memory",
    "infer_types",
    "note",
    "remove_dropout",
    "simplify",
    "skip",
    "value_nbytes",
]
