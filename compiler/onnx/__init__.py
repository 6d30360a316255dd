"""ONNX export (`hybrix.onnx.export`): each op's `onnx` facet writes its ONNX nodes."""

from .builder import OnnxBuilder, OnnxExportError, Sym, from_onnx_dtype, onnx_dtype
from .exporter import (
    NEWEST_OPSET,
    OLDEST_OPSET,
    check_onnx,
    expand_fused,
    export,
    missing_onnx,
    to_onnx,
    with_dynamic_axes,
)

__all__ = [
    "NEWEST_OPSET",
    "OLDEST_OPSET",
    "OnnxBuilder",
    "OnnxExportError",
    "Sym",
    "check_onnx",
    "expand_fused",
    "export",
    "from_onnx_dtype",
    "missing_onnx",
    "onnx_dtype",
    "to_onnx",
    "with_dynamic_axes",
]
