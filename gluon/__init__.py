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


def __getattr__(name: str) -> object:
    # NOTE: model_zoo loads lazily: hybrix.models builds on gluon, so importing it here
    # would be circular when hybrix.models is imported first.
    if name == "model_zoo":
        import importlib

        return importlib.import_module("hybrix.gluon.model_zoo")
    raise AttributeError(f"module 'hybrix.gluon' has no attribute {name!r}")
