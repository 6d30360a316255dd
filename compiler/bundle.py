"""Build a .hxb bundle: optimize, plan memory, export StableHLO per platform, precompile.

    report = build_bundle(graph, params, "lenet.hxb", targets=("cpu",), opt="O1")
    print(report.summary())

The format is runtime/format.py's (docs/bundle-format.md). XLA programs take the
bundle's inputs then its parameters (every constant of the optimized graph, in order).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybrix.compiler.cache_dir import persistent_cache_bypassed
from hybrix.compiler.lower import lower_graph
from hybrix.compiler.native import disabled as native_disabled
from hybrix.compiler.pipelines import run_pipeline
from hybrix.ir import Graph, HybrixError, Model, serde
from hybrix.runtime._graphs import rebuild
from hybrix.runtime.format import FORMAT_NAME, FORMAT_VERSION, PARAMS, write_bundle
from hybrix.runtime.params import pack_params
from hybrix.runtime.xla import binding_key

__all__ = ["PLATFORMS", "BuildReport", "build_bundle"]

# target names accepted -> jax.export platform names
PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "rocm", "tpu": "tpu"}


@dataclass
class BuildReport:
    """What build_bundle did: one (step, seconds, what it did) per step, and the manifest."""

    path: str
    manifest: dict[str, Any] = field(default_factory=dict)
    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{step:12} {1e3 * seconds:9.1f} ms  {what}" for step, seconds, what in self.steps]
        return "\n".join(lines)


def build_bundle(
    graph: Graph | Model,
    params: Mapping[str, Any] | None,
    path: str | os.PathLike[str],
    targets: Sequence[str] = ("cpu",),
    precompile: bool = True,
    opt: str = "O1",
    *,
    bindings: Sequence[Mapping[str, int]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Compile `graph` (inputs named in `params` become frozen parameters) into a bundle.

    targets: platforms to export StableHLO for (cpu, gpu/cuda, rocm, tpu). precompile:
    also store this machine's executable, for each binding of the symbolic dimensions in
    `bindings` (default: every symbolic dimension = 1); a memory plan is stored for each
    binding too. The caller's graph is not changed. Written atomically.
    """
    model = graph if isinstance(graph, Model) else Model(graph)
    platforms = _platforms(targets)
    report = BuildReport(str(path))
    step = _Stepper(report, progress)
    with step("optimize"):
        work = serde.loads(serde.dumps(model.graph), "<bundle graph>").graph
        results = run_pipeline(_frozen(work, params), opt, inference=True)
        passes = [r.name for r in results if r.changed]
        step.say(
            f"{opt}: {len(model.graph.nodes)} -> {len(work.nodes)} nodes; changed by "
            f"{', '.join(dict.fromkeys(passes)) or 'nothing'}"
        )
    constants = {value.name: np.asarray(value.const) for value in work.constants}
    stored = rebuild(work, to_inputs=constants)
    symbols = _symbols(stored, len(stored.inputs) - len(constants))
    concrete = [dict(b) for b in bindings] if bindings is not None else [dict.fromkeys(symbols, 1)]
    members: dict[str, bytes] = {}
    with step("params"):
        index, blob = pack_params(constants)
        members["params.json"], members[PARAMS] = json.dumps(index).encode(), blob
        step.say(f"{len(index)} arrays, {len(blob) / 1e6:.2f} MB (64-byte aligned, mappable)")
    with step("memory plan"):
        plans = _memory_plans(stored, concrete, members)
        step.say(
            "; ".join(
                f"[{p['bindings'] or 'static'}] arena {p['arena_size'] / 1e6:.2f} MB "
                f"(no reuse: {p['no_reuse'] / 1e6:.2f} MB)"
                for p in plans
            )
        )
    with step("stablehlo"):
        exported, how = _export(stored, platforms, concrete, members)
        step.say(f"{', '.join(platforms)}: {how}")
    executables: list[dict[str, Any]] = []
    if precompile:
        with step("precompile"):
            executables = _precompile(stored, len(constants), platforms, concrete, members)
            shown = ", ".join(f"{e['platform']} [{e['bindings'] or 'static'}]" for e in executables)
            step.say(shown or "skipped: this machine's platform is not a target")
    manifest = _manifest(model, stored, len(constants), opt, results, platforms)
    manifest.update(stablehlo=exported, executables=executables, memory_plans=plans)
    with step("write"):
        members["model.hxir"] = serde.dumps(Model(stored, metadata=model.metadata))
        report.manifest = write_bundle(path, manifest, members)
        step.say(f"{os.path.getsize(path) / 1e6:.2f} MB, {len(members) + 1} members")
    return report


class _Stepper:
    """Times each step of the build and records what it did."""

    def __init__(self, report: BuildReport, progress: Callable[[str], None] | None) -> None:
        self.report = report
        self.progress = progress
        self.name = ""
        self.what = ""

    def __call__(self, name: str) -> _Stepper:
        self.name, self.what = name, ""
        return self

    def say(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> _Stepper:
        if self.progress is not None:
            self.progress(self.name)
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if kind is None:
            seconds = time.perf_counter() - self.started
            self.report.steps.append((self.name, seconds, self.what))


def _platforms(targets: Sequence[str]) -> list[str]:
    platforms = []
    for target in targets:
        if target not in PLATFORMS:
            raise HybrixError(f"unknown target {target!r}; expected some of {sorted(PLATFORMS)}")
        if PLATFORMS[target] not in platforms:
            platforms.append(PLATFORMS[target])
    if not platforms:
        raise HybrixError("build_bundle needs at least one target platform")
    return platforms


def _frozen(graph: Graph, params: Mapping[str, Any] | None) -> Graph:
    from hybrix.passes import freeze_params

    if params:
        names = {value.name for value in graph.inputs}
        unknown = sorted(set(params) - names)
        if unknown and not set(params) & names:
            raise HybrixError(
                f"graph {graph.name}: params {unknown[:5]} name no input; inputs are "
                f"{sorted(names)}"
            )
        freeze_params(graph, params)
    return graph


def _symbols(graph: Graph, num_inputs: int) -> list[str]:
    names: list[str] = []
    for value in graph.inputs[:num_inputs]:
        for dim in value.shape:
            if isinstance(dim, str):
                names += [p.strip() for p in dim.split("*") if p.strip().isidentifier()]
    return list(dict.fromkeys(names))


def _memory_plans(
    graph: Graph, concrete: list[dict[str, int]], members: dict[str, bytes]
) -> list[dict[str, Any]]:
    from hybrix.passes.memory import plan_memory

    plans = []
    for bindings in concrete:
        plan = plan_memory(graph, bindings=bindings)
        member = f"memory/{binding_key(bindings) or 'static'}.json"
        data = {
            "bindings": bindings,
            "arena_size": plan.arena_size,
            "offsets": {name: list(entry) for name, entry in plan.offsets.items()},
            "external": plan.external,
        }
        members[member] = json.dumps(data).encode()
        plans.append(
            {
                "bindings": binding_key(bindings),
                "member": member,
                "arena_size": plan.arena_size,
                "no_reuse": plan.no_reuse,
            }
        )
    return plans


def _program(graph: Graph, portable: bool = True, plan: Any = None) -> Callable[..., list]:
    """The graph as a function of its inputs; `portable`: without hybrix's native kernels
    (StableHLO runs anywhere), else with them (this machine's precompiled executable), taking
    the parameters of `plan` (compiler/prepack, over the parameter inputs) packed."""
    if plan:
        from hybrix.compiler.autotune import strategy_chooser
        from hybrix.compiler.prepack import prepack_chooser

        run = lower_graph(graph, prepack_chooser(strategy_chooser(), plan))
    else:
        run = lower_graph(graph)

    def program(*args: Any) -> list:
        # NOTE: portable programs must not need hybrix's FFI targets
        with native_disabled() if portable else contextlib.nullcontext():
            return run([], *args)

    program.__name__ = graph.name or "main"
    return program


def _export(
    graph: Graph,
    platforms: list[str],
    concrete: list[dict[str, int]],
    members: dict[str, bytes],
) -> tuple[list[dict[str, Any]], str]:
    """StableHLO per platform: shape-polymorphic when every lowering allows it, else one
    program per binding in `concrete`. Returns the manifest entries and what happened."""
    import jax

    program = jax.jit(_program(graph))
    entries: list[dict[str, Any]] = []
    note = "symbolic shapes"
    for platform in platforms:
        try:
            data = _export_one(program, graph, platform, None)
            entries.append(_stablehlo_entry(platform, None, data, members))
            continue
        except _SymbolicExportError as e:
            note = f"one program per binding ({e})"
        for bindings in concrete:
            data = _export_one(program, graph, platform, bindings)
            entries.append(_stablehlo_entry(platform, bindings, data, members))
    return entries, note


class _SymbolicExportError(HybrixError):
    """A lowering needs concrete sizes where the graph has symbolic dimensions."""


def _export_one(
    program: Any, graph: Graph, platform: str, bindings: Mapping[str, int] | None
) -> bytes:
    from jax import export

    from hybrix.runtime.reference import concrete_shape

    if bindings is None:
        scope = export.SymbolicScope()
        specs = [_spec(value.shape, value, scope) for value in graph.inputs]
    else:
        where = f"graph {graph.name} exported for {bindings}"
        specs = [_spec(concrete_shape(v.shape, bindings, where), v, None) for v in graph.inputs]
    try:
        return bytes(export.export(program, platforms=(platform,))(*specs).serialize())
    except Exception as e:  # jax reports lowering failures with many exception types
        first = _failing_node(e) + (str(e).splitlines()[0] if str(e) else type(e).__name__)
        symbolic = any(isinstance(d, str) for v in graph.inputs for d in v.shape)
        if bindings is None and symbolic:
            raise _SymbolicExportError(first) from e
        raise HybrixError(
            f"graph {graph.name}: cannot export StableHLO for {platform} ({first})"
        ) from e


def _failing_node(error: BaseException) -> str:
    """'node NAME (OP): ' for the node whose lowering raised, from the traceback."""
    found = ""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "call_lower":
            local = frame.tb_frame.f_locals
            found = f"node {local.get('where')} ({local.get('op_name')}): "
        frame = frame.tb_next
    return found


def _stablehlo_entry(
    platform: str, bindings: Mapping[str, int] | None, data: bytes, members: dict[str, bytes]
) -> dict[str, Any]:
    key = None if bindings is None else binding_key(bindings)
    member = f"stablehlo/{platform}{'' if key is None else '-' + (key or 'static')}.jaxexport"
    members[member] = data
    return {"platform": platform, "bindings": key, "member": member}


def _spec(shape: Sequence[int | str], value: Any, scope: Any) -> Any:
    import jax
    from jax import export

    dtype = value.dtype.numpy
    if all(isinstance(dim, int) for dim in shape):
        return jax.ShapeDtypeStruct(tuple(shape), dtype)
    text = ",".join(str(dim) for dim in shape)
    return jax.ShapeDtypeStruct(export.symbolic_shape(text, scope=scope), dtype)


def _precompile(
    graph: Graph,
    num_params: int,
    platforms: list[str],
    concrete: list[dict[str, int]],
    members: dict[str, bytes],
) -> list[dict[str, Any]]:
    """This machine's executable per binding, when its platform is a target."""
    import jax
    from jaxlib import version

    from hybrix.runtime.reference import concrete_shape

    platform = PLATFORMS.get(jax.default_backend(), jax.default_backend())
    if platform not in platforms:
        return []
    plan = _prepack_plan(graph, num_params, concrete[0]) if platform == "cpu" else None
    program = jax.jit(_program(graph, portable=platform != "cpu", plan=plan))
    prepare, packed = _prepare_executable(graph, num_params, plan, members) if plan else ({}, [])
    entries = []
    for bindings in concrete:
        where = f"graph {graph.name} precompiled for {bindings}"
        specs = [
            jax.ShapeDtypeStruct(concrete_shape(v.shape, bindings, where), v.dtype.numpy)
            for v in graph.inputs
        ]
        if prepare:  # the program takes the parameters as the prepare step leaves them
            specs[len(specs) - num_params :] = packed
        with persistent_cache_bypassed():  # NOTE: a cached executable loses its kernels
            compiled = program.lower(*specs).compile()
        key = binding_key(bindings)
        member = f"executable/{platform}-jaxlib{version.__version__}-{key or 'static'}.xla"
        outputs = _store_executable(compiled, member, members)
        entry = {
            "platform": platform,
            "jaxlib": version.__version__,
            "bindings": key,
            "member": member,
            "outputs": outputs,
        }
        native = _native_library(compiled.as_text(), members)
        if native:
            entry["native"] = native
        if prepare:
            entry["prepare"] = prepare
        entries.append(entry)
    return entries


def _prepack_plan(graph: Graph, num_params: int, bindings: Mapping[str, int]) -> Any:
    """Which parameters the CPU executable takes packed for hybrix's kernels (None: none),
    strategies chosen at the first binding (the planned nodes take the kernel at every one)."""
    from hybrix.compiler.native import unavailable
    from hybrix.compiler.prepack import plan_prepack

    if unavailable():
        return None
    params = graph.inputs[len(graph.inputs) - num_params :]
    return plan_prepack(graph, "cpu", values=params, bindings=bindings) or None


def _store_executable(compiled: Any, member: str, members: dict[str, bytes]) -> list[dict]:
    """Serialize a compiled program into `members`; its outputs' dtypes and shapes."""
    import jax

    executable = compiled.runtime_executable()
    members[member] = bytes(executable.client.serialize_executable(executable))
    leaves = jax.tree_util.tree_leaves(compiled.out_info)
    return [{"dtype": np.dtype(o.dtype).name, "shape": list(o.shape)} for o in leaves]


def _prepare_executable(
    graph: Graph, num_params: int, plan: Any, members: dict[str, bytes]
) -> tuple[dict[str, Any], list]:
    """The step that packs the planned parameters, precompiled once (the runtime runs it at
    load, as compile_graph packs its constants once): its manifest entry (member, outputs)
    and the parameter shapes the program then takes."""
    import jax
    from jaxlib import version

    from hybrix.compiler.prepack import prepare

    params = graph.inputs[len(graph.inputs) - num_params :]
    specs = [jax.ShapeDtypeStruct(tuple(v.shape), v.dtype.numpy) for v in params]
    step = jax.jit(lambda *p: prepare(plan)(list(p)))
    with persistent_cache_bypassed():  # NOTE: an executable from the cache serializes broken
        compiled = step.lower(*specs).compile()
    member = f"executable/cpu-jaxlib{version.__version__}-prepare.xla"
    outputs = _store_executable(compiled, member, members)
    shapes = [
        jax.ShapeDtypeStruct(o.shape, o.dtype) for o in jax.tree_util.tree_leaves(compiled.out_info)
    ]
    return {"member": member, "outputs": outputs}, shapes


def _native_library(text: str, members: dict[str, bytes]) -> dict[str, Any] | None:
    """When an executable calls hybrix's native kernels: the library it needs, as a member,
    with its FFI targets and the CPU flags it was built for (-march=native)."""
    from hybrix.compiler import native
    from hybrix.runtime.native import cpu_flags

    targets = native.registered_targets()
    if not any(name in text for name in targets):
        return None
    path = native.library_path()
    member = f"native/{path.name}"
    members[member] = path.read_bytes()
    return {"member": member, "targets": targets, "cpu_flags": cpu_flags()}


def _manifest(
    model: Model, stored: Graph, num_params: int, opt: str, results: list, platforms: list[str]
) -> dict[str, Any]:
    import jax

    num_inputs = len(stored.inputs) - num_params
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "hybrix_version": _hybrix_version(),
        "jax_version": jax.__version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "name": stored.name,
        "producer": model.producer,
        "inputs": [_signature(v) for v in stored.inputs[:num_inputs]],
        "outputs": [_signature(v) for v in stored.outputs],
        "params": {"index": "params.json", "data": PARAMS, "count": num_params},
        "opt": opt,
        "passes": [
            {
                "name": r.name,
                "round": r.round,
                "changed": r.changed,
                "ms": round(1e3 * r.seconds, 3),
                "changes": list(r.changes)[:20],
            }
            for r in results
        ],
        "targets": platforms,
        "call": "inputs then params, outputs as listed",
    }


def _signature(value: Any) -> dict[str, Any]:
    return {"name": value.name, "dtype": value.dtype.name, "shape": list(value.shape)}


def _hybrix_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hybrix")
    except metadata.PackageNotFoundError:
        return "unknown"
