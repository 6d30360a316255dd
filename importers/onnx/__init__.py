"""ONNX in: `load(path_or_model) -> ir.Model`, mapping ONNX ops to hybrix ops."""

from .loader import OLDEST_OPSET, OnnxImportError, load, supported_ops
from .convert import NEWEST_OPSET

__all__ = ["NEWEST_OPSET", "OLDEST_OPSET", "OnnxImportError", "load", "supported_ops"]
