"""hybrix's IR: protobuf on disk, plain Python objects in memory. Imports nothing of ours."""

from .dtypes import DType
from .errors import (
    AttrError,
    GraphError,
    HybrixError,
    ModelFormatError,
    ShapeError,
    TypeMismatchError,
    UnknownOpError,
)
from .graph import Graph, Model, Node, Value
from .types import Dim, Shape, TensorType
from . import ops
from .ops import OpDef, get_op
from .compare import structural_hash, structurally_equal
from .text import ParseError, parse, print_graph
from .verify import verify
from .serde import load, save

__all__ = [
    "AttrError",
    "DType",
    "Dim",
    "Graph",
    "GraphError",
    "HybrixError",
    "Model",
    "ModelFormatError",
    "OpDef",
    "Node",
    "Shape",
    "ShapeError",
    "TensorType",
    "TypeMismatchError",
    "UnknownOpError",
    "Value",
    "get_op",
    "ops",
    "structural_hash",
    "structurally_equal",
    "ParseError",
    "parse",
    "print_graph",
    "verify",
    "load",
    "save",
]
