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

__all__ = [
    "GraphPass",
    "PassError",
    "PassManager",
    "PassResult",
    "eliminate_common_subexpressions",
    "eliminate_dead_code",
    "fold_activation",
    "fold_batchnorm",
    "fold_constants",
    "freeze_params",
    "fuse_elementwise",
    "graph_pass",
    "infer_types",
    "note",
    "remove_dropout",
    "simplify",
    "skip",
]
