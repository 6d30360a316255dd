"""hybrix.sym: MXNet's Symbol API (declarative graphs), every registered op as sym.<Op>."""

import hybrix.ir.ops  # registers every op

from ._ops import make_op_function, op_functions
from .symbol import Group, Symbol, SymNode, Variable, load, load_json, var
from .extras import block_to_symbol, make_loss

globals().update({k: v for k, v in op_functions().items() if k not in globals()})


def __getattr__(name: str):
    """Ops registered after import resolve on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        function = make_op_function(name)
    except hybrix.ir.HybrixError:
        raise AttributeError(f"hybrix.sym has no op or function {name!r}") from None
    globals()[name] = function
    return function


__all__ = [
    "Group",
    "SymNode",
    "Symbol",
    "Variable",
    "block_to_symbol",
    "load",
    "load_json",
    "make_loss",
    "var",
]
