"""hybrix.gluon: MXNet 1.9.1's Gluon API (Blocks, Parameters, layers) on hybrix."""

from .parameter import (
    Constant,
    DeferredInitializationError,
    Parameter,
    ParameterDict,
)
from .block import Block, HybridBlock
from .symbol_block import SymbolBlock
from . import data, nn, rnn, utils
from . import loss
from .trainer import Trainer
from .train_step import CompiledStep, compile_step

__all__ = [
    "Block",
    "CompiledStep",
    "Constant",
    "DeferredInitializationError",
    "HybridBlock",
    "Parameter",
    "ParameterDict",
    "SymbolBlock",
    "Trainer",
    "compile_step",
    "data",
    "loss",
    "nn",
    "rnn",
    "utils",
]
