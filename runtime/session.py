"""`load(path, executor=...)` -> Session: check inputs, pick an executor, run a bundle.

Executors: "reference" (numpy, the memory plan), "precompiled" (the bundle's executable
for this platform, jaxlib and input shapes), "stablehlo" (jax.export's program compiled
at load, once per input shape), "xla" (precompiled where it fits, else stablehlo) and
"auto" (xla where possible, else reference). Each run records which one ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybrix.ir import DType, Graph, HybrixError, TensorType, Value
from hybrix.ir.signature import check_inputs
from hybrix.runtime import native, xla
from hybrix.runtime._graphs import rebuild
from hybrix.runtime.errors import BundleError, PlatformMismatchError
from hybrix.runtime.format import PARAMS, Bundle, open_bundle
from hybrix.runtime.params import view_params
from hybrix.runtime.reference import MemoryPlanData, ReferenceExecutor

__all__ = ["EXECUTORS", "Session", "TensorSpec", "load"]

EXECUTORS = ("auto", "xla", "precompiled", "stablehlo", "reference")


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of a bundle: name, dtype and shape (symbolic dims are names)."""

    name: str
    dtype: DType
    shape: tuple[int | str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(data["name"], DType.from_any(data["dtype"]), tuple(data["shape"]))

    def __str__(self) -> str:
        return f"{self.name}: {TensorType(self.dtype, self.shape)}"


def load(path: str | os.PathLike[str], executor: str = "auto", *, verify: bool = True) -> Session:
    """Open and verify a .hxb bundle and prepare to run it with `executor` (see module doc)."""
    if executor not in EXECUTORS:
        raise HybrixError(f"unknown executor {executor!r}; expected one of {list(EXECUTORS)}")
    return Session(open_bundle(path, verify=verify), executor)


class Session:
    """A loaded bundle ready to run: `run(inputs)` -> outputs as numpy arrays."""

    def __init__(self, bundle: Bundle, executor: str = "auto") -> None:
        self.bundle = bundle
        self.executor = executor
        manifest = bundle.manifest
        self.inputs = [TensorSpec.from_json(entry) for entry in manifest["inputs"]]
        self.outputs = [TensorSpec.from_json(entry) for entry in manifest["outputs"]]
        self._values = [Value(s.name, TensorType(s.dtype, s.shape)) for s in self.inputs]
        index = json.loads(bundle.read("params.json"))
        arrays = view_params(bundle.view(PARAMS), index, f"{bundle.path}: {PARAMS}")
        self.param_names = [entry["name"] for entry in index]
        self.params = [arrays[name] for name in self.param_names]
        self._programs: dict[str, Any] = {}
        self._reference: ReferenceExecutor | None = None
        self.last_executor: str | None = None
        self._check_can_run()

    @property
    def graph(self) -> Graph:
        """The bundle's optimized graph with its parameters as constants (mapped, not copied)."""
        params = dict(zip(self.param_names, self.params, strict=True))
        return rebuild(self._stored_graph(), to_constants=params)

    def _stored_graph(self) -> Graph:
        from hybrix.ir import serde

        source = f"{self.bundle.path}:model.hxir"
        return serde.loads(self.bundle.read("model.hxir"), source).graph

    # -- running --------------------------------------------------------------------------
    def run(
        self, inputs: Sequence[Any] | Mapping[str, Any], *, as_dict: bool = False
    ) -> list[np.ndarray] | dict[str, np.ndarray]:
        """Run on a list (in `inputs` order) or a dict by input name of numpy arrays."""
        arrays = self._arrange(inputs)
        bindings = check_inputs(self._values, arrays, f"bundle {self.bundle.path.name}")
        kind, program = self._program(bindings)
        results = program(arrays) if kind != "reference" else program.run(arrays, bindings)
        self.last_executor = kind
        if len(results) != len(self.outputs):
            raise BundleError(
                f"{self.bundle.path}: the {kind} program gave {len(results)} outputs, "
                f"the manifest lists {len(self.outputs)}"
            )
        if as_dict:
            return {spec.name: result for spec, result in zip(self.outputs, results, strict=True)}
        return results

    def _arrange(self, inputs: Sequence[Any] | Mapping[str, Any]) -> list[np.ndarray]:
        if isinstance(inputs, Mapping):
            names = [spec.name for spec in self.inputs]
            unknown = sorted(set(inputs) - set(names))
            missing = [name for name in names if name not in inputs]
            if unknown or missing:
                raise HybrixError(
                    f"bundle {self.bundle.path.name} takes inputs {names}; "
                    f"missing {missing}, unknown {unknown}"
                )
            inputs = [inputs[name] for name in names]
        return [np.asarray(array) for array in inputs]

    # -- choosing a program -----------------------------------------------------------------
    def _program(self, bindings: Mapping[str, int]) -> tuple[str, Any]:
        key = xla.binding_key(bindings)
        if key not in self._programs:
            self._programs[key] = self._make_program(bindings)
        return self._programs[key]

    def _make_program(self, bindings: Mapping[str, int]) -> tuple[str, Any]:
        mode = self.executor
        if mode in ("auto", "xla", "precompiled"):
            entry = self._precompiled_entry(bindings)
            if entry is not None:
                return "precompiled", self._load_precompiled(entry)
            if mode == "precompiled":
                raise PlatformMismatchError(self._no_precompiled_reason(bindings))
        if mode in ("auto", "xla", "stablehlo"):
            entry = self._stablehlo_entry(bindings)
            if entry is not None:
                return "stablehlo", self._load_stablehlo(entry)
            if mode != "auto":
                raise PlatformMismatchError(self._no_stablehlo_reason(bindings))
        return "reference", self._reference_executor()

    def _precompiled_entry(self, bindings: Mapping[str, int]) -> dict[str, Any] | None:
        version = xla.jaxlib_version()
        key = xla.binding_key(bindings)
        for entry in self.bundle.manifest["executables"]:
            if (
                entry["jaxlib"] == version
                and entry["bindings"] == key
                and (entry["platform"] == "cpu" or entry["platform"] in xla.machine_platforms())
                and native.usable(entry.get("native"))
            ):
                return dict(entry)
        return None

    def _load_precompiled(self, entry: Mapping[str, Any]) -> xla.PrecompiledProgram:
        outputs = [(spec["dtype"], spec["shape"]) for spec in entry["outputs"]]
        data = self.bundle.read(entry["member"])
        if "native" in entry:  # NOTE: the kernels it calls are registered before it loads
            library = entry["native"]
            path = native.library_file(self.bundle.read(library["member"]))
            try:
                native.register_library(path, library["targets"])
            except OSError as e:
                raise PlatformMismatchError(
                    f"{self.bundle.path}: cannot load the native kernels of the precompiled "
                    f"executable ({e})"
                ) from None
        prepare = entry.get("prepare")
        if prepare:  # NOTE: packs the parameters for the kernels, once, at load
            steps = [(spec["dtype"], spec["shape"]) for spec in prepare["outputs"]]
            prepare = (self.bundle.read(prepare["member"]), steps)
        platform = entry["platform"]
        return xla.PrecompiledProgram(data, platform, self.params, outputs, prepare=prepare)

    def _stablehlo_entry(self, bindings: Mapping[str, int] | None) -> dict[str, Any] | None:
        """The StableHLO for the best platform here: shape-polymorphic, or for `bindings`
        (None: any binding will do, as at load)."""
        entries = self.bundle.manifest["stablehlo"]
        if not entries or not xla.jax_available():
            return None
        key = None if bindings is None else xla.binding_key(bindings)
        for platform in xla.machine_platforms():
            for entry in entries:
                fits = entry["bindings"] is None or key is None or entry["bindings"] == key
                if entry["platform"] == platform and fits:
                    return dict(entry)
        return None

    def _load_stablehlo(self, entry: Mapping[str, Any]) -> xla.StableHloProgram:
        data = self.bundle.read(entry["member"])
        return xla.StableHloProgram(data, entry["platform"], self.params)

    def _reference_executor(self) -> ReferenceExecutor:
        if self._reference is None:
            plans = [
                MemoryPlanData.from_json(json.loads(self.bundle.read(entry["member"])))
                for entry in self.bundle.manifest["memory_plans"]
            ]
            self._reference = ReferenceExecutor(self._stored_graph(), self.params, plans)
        return self._reference

    # -- explaining -------------------------------------------------------------------------
    def _check_can_run(self) -> None:
        """Fail at load, not at the first run, when the requested executor cannot work."""
        if self.executor not in ("xla", "stablehlo") or self._stablehlo_entry(None) is not None:
            return
        version = xla.jaxlib_version()
        usable = [e for e in self.bundle.manifest["executables"] if e["jaxlib"] == version]
        if self.executor == "xla" and any(e["platform"] == "cpu" for e in usable):
            return
        raise PlatformMismatchError(self._no_stablehlo_reason(None))

    def _no_stablehlo_reason(self, bindings: Mapping[str, int] | None) -> str:
        if not xla.jax_available():
            return f"{self.bundle.path}: the xla executor needs jax, which is not installed"
        have = [_stablehlo_text(e) for e in self.bundle.manifest["stablehlo"]] or ["none"]
        shapes = "" if bindings is None else f" and shapes [{xla.binding_key(bindings)}]"
        machine = ", ".join(xla.machine_platforms())
        return (
            f"{self.bundle.path}: no StableHLO for this machine ({machine}){shapes}; "
            f"the bundle has: {', '.join(have)}"
        )

    def _no_precompiled_reason(self, bindings: Mapping[str, int]) -> str:
        have = [
            f"{e['platform']} jaxlib {e['jaxlib']} [{e['bindings'] or 'static'}]"
            for e in self.bundle.manifest["executables"]
        ] or ["none"]
        return (
            f"{self.bundle.path}: no precompiled executable for cpu, jaxlib "
            f"{xla.jaxlib_version()}, shapes [{xla.binding_key(bindings) or 'static'}]; "
            f"the bundle has: {'; '.join(have)}"
        )

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        outs = ", ".join(str(s) for s in self.outputs)
        return f"<Session {self.bundle.path.name} ({ins}) -> ({outs}) executor={self.executor}>"


def _stablehlo_text(entry: Mapping[str, Any]) -> str:
    if entry["bindings"] is None:
        return f"{entry['platform']} (any shapes)"
    return f"{entry['platform']} [{entry['bindings'] or 'static'}]"
