"""hybrix as an ONNX backend (onnx.backend.base): ONNX models run through hybrix's compiler.

    from hybrix.onnx_backend import HybrixBackend
    rep = HybrixBackend.prepare(onnx_model)      # imported to ir, compiled with XLA
    outputs = rep.run([x])                       # numpy arrays, one per graph output

A frontend module: it joins the ONNX importer (importers/onnx) and the compiler, which
the layering keeps apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx  # noqa: TID253  (this module exists to subclass onnx's Backend)
from onnx.backend.base import Backend, BackendRep  # noqa: TID253

from hybrix.compiler import compile_graph
from hybrix.importers.onnx import OnnxImportError, load, supported_ops
from hybrix.ir import HybrixError, Model

__all__ = ["HybrixBackend", "HybrixBackendRep", "prepare", "run_model", "supports_device"]


class HybrixBackendRep(BackendRep):
    """A prepared model: its hybrix graph, compiled on first run.

    ONNX graphs may feed shapes, axes, K or RNN weights through graph inputs; hybrix
    needs those when it builds its graph, so such a model is imported on each run with
    its integer and bool inputs, and any other input the import asks for, folded in as
    constants (compiled once per distinct value of those; the first lookup of a model
    that needs them folds the integers only, a later one reuses the key it found).
    """

    def __init__(self, proto: onnx.ModelProto, model: Model | None) -> None:
        self.proto = proto
        self.model = model
        self.input_names = [i.name for i in proto.graph.input if i.name not in _initializers(proto)]
        self._programs: dict[Any, tuple[Model, Any]] = {}

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        import jax

        # NOTE: as hybrix.nd does: ONNX's int64/float64 tensors must stay 64-bit
        jax.config.update("jax_enable_x64", True)
        arrays = self._arrange(inputs)
        by_name = dict(zip(self.input_names, arrays, strict=True))
        model, program = self._program(by_name)
        results = program(*[by_name[value.name] for value in model.graph.inputs])
        return tuple(np.asarray(r) for r in results)

    def _program(self, by_name: dict[str, np.ndarray]) -> tuple[Model, Any]:
        """The model and its compiled program, with the inputs the import needs as
        constants folded in: integer and bool inputs first, then each one it asks for."""
        if self.model is not None:
            folded: dict[str, np.ndarray] = {}
        else:
            folded = {n: a for n, a in by_name.items() if a.dtype.kind in "iub"}
        while True:
            key = tuple((n, a.dtype.str, a.shape, a.tobytes()) for n, a in folded.items())
            if key in self._programs:
                return self._programs[key]
            try:
                model = self.model if self.model is not None else load(self.proto, folded)
            except OnnxImportError as e:
                if e.needs_constant is None or e.needs_constant in folded:
                    raise
                folded[e.needs_constant] = by_name[e.needs_constant]
                continue
            self._programs[key] = (model, compile_graph(model.graph))

    def _arrange(self, inputs: Any) -> list[np.ndarray]:
        names = self.input_names
        if isinstance(inputs, Mapping):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise HybrixError(f"inputs {missing} are missing; the model takes {names}")
            return [np.asarray(inputs[n]) for n in names]
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        arrays = [np.asarray(x) for x in inputs]
        if len(arrays) != len(names):
            raise HybrixError(f"{len(arrays)} inputs for a model that takes {len(names)}: {names}")
        return arrays


class HybrixBackend(Backend):
    """onnx.backend.base.Backend for hybrix: CPU (and whatever devices JAX has)."""

    @classmethod
    def prepare(
        cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any
    ) -> HybrixBackendRep:
        super().prepare(model, device, **kwargs)
        try:
            return HybrixBackendRep(model, load(model))
        except OnnxImportError as e:
            if "must be a constant" not in str(e):
                raise
            return HybrixBackendRep(model, None)  # imported per run, see HybrixBackendRep

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() in ("CPU", "CUDA")

    @classmethod
    def supports_ops(cls) -> Sequence[str]:
        return supported_ops()


def _initializers(proto: onnx.ModelProto) -> set[str]:
    return {tensor.name for tensor in proto.graph.initializer}


prepare = HybrixBackend.prepare
run_model = HybrixBackend.run_model
supports_device = HybrixBackend.supports_device
