"""Every operator, one place each; importing this package registers them all."""

from ._schema import REQUIRED, Attr, OpDef, all_ops, defop, get_op
from . import (
    contrib,
    creation,
    conv,
    elemwise,
    fused,
    index,
    linalg,
    nn,
    norm,
    random,
    reduce,
    rnn,
    shape,
)

__all__ = ["REQUIRED", "Attr", "OpDef", "all_ops", "defop", "get_op"]
