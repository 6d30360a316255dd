"""The `hybrix` command line: demo, compile, run, inspect, bench, viz, ops."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from hybrix.ir import HybrixError

FACETS = ("infer", "ref", "lower", "onnx")
EXECUTORS = ("auto", "xla", "precompiled", "stablehlo", "reference")
SOURCE_KINDS = (
    "a model name (lenet, mlp, or a model-zoo name)",
    "module:function returning a block, an ir.Graph or an ir.Model",
    "an MXNet PREFIX-symbol.json (with PREFIX-NNNN.params beside it)",
    "an .onnx file",
    "an .hxir file",
)

InputSpecs = dict[str, tuple[tuple[int | str, ...], str]]


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a HybrixError into a one-line message and exit status 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HybrixError as e:
            click.echo(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", err=True)
            sys.exit(1)

    return run


def _status(message: str) -> None:
    """Progress for long steps: shown on a terminal, silent when stderr is not one."""
    if sys.stderr.isatty():
        click.echo(f"\r\033[K... {message}", err=True, nl=False)


def _status_done() -> None:
    if sys.stderr.isatty():
        click.echo("\r\033[K", err=True, nl=False)


@click.group()
@click.version_option(package_name="hybrix")
def main() -> None:
    """hybrix: MXNet's hybrid programming model, compiled ahead of time with XLA."""


# -- model sources ----------------------------------------------------------------------------
def _builtin(name: str) -> Callable[[InputSpecs], Any]:
    def build(inputs: InputSpecs) -> Any:
        from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params

        params = init_params(name, 0)
        shape, dtype = next(iter(inputs.values()), (("N", *INPUT_SHAPES[name]), "float32"))
        return _trace_callable(lambda data: NETS[name](params, data), {"data": (shape, dtype)})

    return build


# NOTE: the one registry of model names; the zoo adds its names through get_model below.
MODELS: dict[str, Callable[[InputSpecs], Any]] = {
    "lenet": _builtin("lenet"),
    "mlp": _builtin("mlp"),
}


def _zoo_model(name: str, inputs: InputSpecs) -> Any | None:
    try:
        from hybrix.models import get_model  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        net = get_model(name)
    except (KeyError, ValueError, HybrixError):
        return None
    if hasattr(net, "initialize"):
        net.initialize()
    return _trace_callable(net, inputs or {"data": (("N", 3, 224, 224), "float32")})


def _trace_callable(function: Callable[..., Any], inputs: InputSpecs) -> Any:
    """Trace a function or block over example inputs; named dimensions stay symbolic."""
    import numpy as np

    import hybrix
    from hybrix import nd

    if not inputs:
        raise HybrixError("tracing a block needs its input shapes: pass --input NAME:SHAPE")
    examples, symbolic = [], {}
    for index, (shape, dtype) in enumerate(inputs.values()):
        concrete = [d if isinstance(d, int) else 1 for d in shape]
        examples.append(nd.array(np.zeros(concrete, dtype)))
        symbolic[index] = [d if isinstance(d, str) else None for d in shape]

    def forward(*arrays: Any) -> Any:
        return function(*arrays)

    # NOTE: trace names graph inputs after the function's parameters
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, kind) for name in inputs]
    )
    return hybrix.trace(forward, *examples, symbolic=symbolic)


def load_source(source: str, inputs: InputSpecs) -> Any:
    """An ir.Model or ir.Graph from any kind of SRC the compile command accepts."""
    from hybrix import ir

    path = Path(source)
    if source in MODELS:
        return MODELS[source](inputs)
    if source.endswith(".json"):
        return _mxnet_model(path, inputs)
    if source.endswith(".onnx"):
        return _onnx_model(path)
    if source.endswith(".hxir"):
        return ir.load(path)
    if ":" in source and not path.exists():
        return _python_model(source, inputs)
    model = _zoo_model(source, inputs)
    if model is not None:
        return model
    accepted = "; ".join(SOURCE_KINDS)
    raise HybrixError(f"cannot tell what {source!r} is; SRC may be {accepted}")


def _mxnet_model(path: Path, inputs: InputSpecs) -> Any:
    from hybrix.importers import mxnet

    if not path.is_file():
        raise HybrixError(f"{path}: no such file")
    prefix = str(path)[: -len("-symbol.json")] if path.name.endswith("-symbol.json") else ""
    candidates = sorted(Path(path.parent).glob(f"{Path(prefix).name}-*.params")) if prefix else []
    params = candidates[-1] if candidates else None
    shapes = {name: shape for name, (shape, _) in inputs.items()}
    dtypes = {name: dtype for name, (_, dtype) in inputs.items()}
    return mxnet.load(path, params, input_shapes=shapes or None, input_dtypes=dtypes or None)


def _onnx_model(path: Path) -> Any:
    try:
        onnx_importer = importlib.import_module("hybrix.importers.onnx")
    except ImportError:
        raise HybrixError(
            f"{path}: importing ONNX needs hybrix.importers.onnx, which this hybrix lacks; "
            "SRC may instead be " + "; ".join(k for k in SOURCE_KINDS if "onnx" not in k)
        ) from None
    return onnx_importer.load(path)


def _python_model(source: str, inputs: InputSpecs) -> Any:
    from hybrix import ir

    module_name, _, function_name = source.partition(":")
    try:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise HybrixError(f"{source}: cannot import module {module_name} ({e})") from None
    finally:
        sys.path.pop(0)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HybrixError(f"{source}: module {module_name} has no function {function_name}")
    result = function()
    if isinstance(result, ir.Graph | ir.Model):
        return result
    if callable(result):
        if hasattr(result, "initialize") and not getattr(result, "_initialized", True):
            result.initialize()
        return _trace_callable(result, inputs)
    raise HybrixError(
        f"{source} returned a {type(result).__name__}; expected a block, an ir.Graph or ir.Model"
    )


def parse_input(text: str) -> tuple[str, tuple[tuple[int | str, ...], str]]:
    """NAME:SHAPE[:DTYPE], SHAPE like 1,3,224,224 or N,3,224,224 (N stays symbolic)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise click.BadParameter(f"{text!r}: expected NAME:SHAPE[:DTYPE], e.g. data:N,3,224,224")
    dims: list[int | str] = []
    for dim in parts[1].split(","):
        dim = dim.strip()
        if dim.isdigit():
            dims.append(int(dim))
        elif dim.isidentifier():
            dims.append(dim)
        else:
            raise click.BadParameter(f"{text!r}: dimension {dim!r} is neither a size nor a name")
    return parts[0], (tuple(dims), parts[2] if len(parts) == 3 else "float32")


def _parse_inputs(specs: Sequence[str]) -> InputSpecs:
    return dict(parse_input(spec) for spec in specs)


def _parse_binding(text: str) -> dict[str, int]:
    binding = {}
    for part in filter(None, text.split(",")):
        name, _, size = part.partition("=")
        if not name.isidentifier() or not size.isdigit():
            raise click.BadParameter(f"{text!r}: expected NAME=SIZE[,NAME=SIZE], e.g. N=1")
        binding[name] = int(size)
    return binding


# -- compile ----------------------------------------------------------------------------------
@main.command("compile")
@click.argument("source", metavar="SRC")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="OUT.hxb")
@click.option("--input", "inputs", multiple=True, help="NAME:SHAPE[:DTYPE], repeatable.")
@click.option("--opt", type=click.Choice(["O0", "O1", "O2"]), default="O1", show_default=True)
@click.option("--target", default="cpu", show_default=True, help="Platforms: cpu,gpu,...")
@click.option("--precompile/--no-precompile", default=True, show_default=True)
@click.option("--bind", "binds", multiple=True, help="Shapes to precompile: N=1[,T=5]...")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), help="Also write ONNX.")
@reports_errors
def compile_command(
    source: str,
    output: str,
    inputs: tuple[str, ...],
    opt: str,
    target: str,
    precompile: bool,
    binds: tuple[str, ...],
    onnx_path: str | None,
) -> None:
    """Compile SRC into a self-contained bundle (.hxb) for `hybrix run` and hybrix.runtime.

    \b
    SRC is one of: a model name (lenet, mlp, zoo names), module:function, an MXNet
    PREFIX-symbol.json (+ PREFIX-0000.params), an .onnx file or an .hxir file.
    \b
    Examples:
      hybrix compile lenet -o lenet.hxb
      hybrix compile mlp --input data:N,784 --bind N=1 --bind N=32 -o mlp.hxb
      hybrix compile resnet18_v1-symbol.json --input data:1,3,224,224 -o r18.hxb --onnx r18.onnx
      hybrix compile mymodels:build --input x:N,16 --opt O2 --no-precompile -o m.hxb
    """
    from hybrix.compiler.bundle import build_bundle

    _status(f"loading {source}")
    model = load_source(source, _parse_inputs(inputs))
    bindings = [_parse_binding(b) for b in binds] or None
    targets = [t.strip() for t in target.split(",") if t.strip()]
    report = build_bundle(
        model,
        None,
        output,
        targets=targets,
        precompile=precompile,
        opt=opt,
        bindings=bindings,
        progress=_status,
    )
    _status_done()
    click.echo(report.summary())
    if onnx_path:
        from hybrix.compiler.onnx import export

        started = time.perf_counter()
        export(model, onnx_path)
        click.echo(f"{'onnx':12} {1e3 * (time.perf_counter() - started):9.1f} ms  {onnx_path}")
    click.echo(f"wrote {output}")


# -- run --------------------------------------------------------------------------------------
@main.command("run")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, help="NAME=FILE.npy, repeatable.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="auto", show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Size of symbolic dimensions for random inputs.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write outputs to OUT.npz")
@reports_errors
def run_command(
    bundle: str,
    inputs: tuple[str, ...],
    executor: str,
    batch: int,
    seed: int,
    output: str | None,
) -> None:
    """Run a bundle on inputs from .npy files, or on random inputs of its signature.

    \b
    Examples:
      hybrix run lenet.hxb
      hybrix run lenet.hxb --input data=digits.npy -o scores.npz
      hybrix run r18.hxb --executor reference --batch 2
    """
    import numpy as np

    from hybrix import runtime

    started = time.perf_counter()
    session = runtime.load(bundle, executor=executor)
    loaded = time.perf_counter()
    arrays = _read_inputs(session, inputs) if inputs else None
    if arrays is None:
        arrays = _random_inputs(session, batch, seed)
        shown = ", ".join(f"{n} {a.dtype}{list(a.shape)}" for n, a in arrays.items())
        click.echo(f"no --input given: random inputs {shown} (seed {seed})")
    results = session.run(arrays, as_dict=True)
    ran = time.perf_counter()
    click.echo(
        f"executor {session.last_executor}: load {1e3 * (loaded - started):.1f} ms, "
        f"first run {1e3 * (ran - loaded):.1f} ms"
    )
    for name, array in results.items():
        preview = np.array2string(array.ravel()[:6], precision=4, separator=", ")
        click.echo(f"{name}: {array.dtype}{list(array.shape)} {preview}")
    if output:
        np.savez(output, **results)
        click.echo(f"wrote {output}")


def _read_inputs(session: Any, specs: Sequence[str]) -> dict[str, Any]:
    import numpy as np

    arrays = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise HybrixError(f"--input {spec!r}: expected NAME=FILE.npy")
        try:
            arrays[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise HybrixError(f"--input {name}: cannot read {file} ({e})") from None
    return arrays


def _random_inputs(session: Any, batch: int, seed: int) -> dict[str, Any]:
    import numpy as np

    from hybrix.runtime.reference import concrete_shape

    rng = np.random.default_rng(seed)
    bindings: dict[str, int] = _AllSymbols(batch)  # type: ignore[assignment]
    arrays = {}
    for spec in session.inputs:
        shape = concrete_shape(spec.shape, bindings, f"input {spec.name}")
        dtype = spec.dtype.numpy
        if spec.dtype.is_float:
            arrays[spec.name] = rng.standard_normal(shape).astype(dtype)
        else:
            arrays[spec.name] = rng.integers(0, 2, shape).astype(dtype)
    return arrays


class _AllSymbols(dict):  # type: ignore[type-arg]
    """A binding where every symbolic dimension has the same size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> int:
        return self.size


# -- inspect ----------------------------------------------------------------------------------
@main.command("inspect")
@click.argument("target", metavar="BUNDLE|MODEL")
@click.option("--input", "inputs", multiple=True, help="NAME:SHAPE[:DTYPE] for a MODEL.")
@click.option("--ir", "show_ir", is_flag=True, help="Print the IR text.")
@click.option("--passes", "show_passes", is_flag=True, help="Print what each pass did.")
@click.option("--memory", "show_memory", is_flag=True, help="Print the memory plan.")
@click.option("--lowering", "show_lowering", is_flag=True, help="Print the StableHLO.")
@reports_errors
def inspect_command(
    target: str,
    inputs: tuple[str, ...],
    show_ir: bool,
    show_passes: bool,
    show_memory: bool,
    show_lowering: bool,
) -> None:
    """Describe a bundle, or a model (any SRC `hybrix compile` accepts).

    \b
    Examples:
      hybrix inspect lenet.hxb
      hybrix inspect lenet.hxb --ir --memory
      hybrix inspect mlp --passes --lowering
      hybrix inspect resnet18_v1-symbol.json --input data:1,3,224,224 --memory
    """
    if target.endswith(".hxb"):
        _inspect_bundle(target, show_ir, show_passes, show_memory, show_lowering)
    else:
        _inspect_model(
            target, _parse_inputs(inputs), show_ir, show_passes, show_memory, show_lowering
        )


def _inspect_bundle(path: str, ir: bool, passes: bool, memory: bool, lowering: bool) -> None:
    from hybrix import runtime
    from hybrix.ir import serde

    bundle = runtime.open_bundle(path)
    manifest = bundle.manifest
    click.echo(f"{path}: hybrix bundle format {manifest['format_version']}, {manifest['created']}")
    click.echo(f"  made by hybrix {manifest['hybrix_version']}, jax {manifest['jax_version']}")
    for kind in ("inputs", "outputs"):
        for spec in manifest[kind]:
            shape = ",".join(str(d) for d in spec["shape"])
            click.echo(f"  {kind[:-1]:6} {spec['name']}: {spec['dtype']}[{shape}]")
    click.echo(f"  opt {manifest['opt']}; targets {', '.join(manifest['targets'])}")
    for entry in manifest["stablehlo"]:
        click.echo(f"  stablehlo   {entry['platform']} [{entry['bindings'] or 'any shapes'}]")
    for entry in manifest["executables"]:
        click.echo(
            f"  executable  {entry['platform']} jaxlib {entry['jaxlib']} "
            f"[{entry['bindings'] or 'static'}]"
        )
    for name, facts in manifest["members"].items():
        click.echo(f"  member {name:40} {facts['size']:>12,} bytes")
    if ir:
        click.echo(serde.loads(bundle.read("model.hxir"), path).graph)
    if passes:
        for record in manifest["passes"]:
            changed = "changed" if record["changed"] else "-"
            click.echo(
                f"  pass {record['name']:34} round {record['round']} {changed:8} "
                f"{record['ms']:.1f} ms {'; '.join(record['changes'][:3])}"
            )
    if memory:
        for entry in manifest["memory_plans"]:
            plan = json.loads(bundle.read(entry["member"]))
            _echo_plan(entry["bindings"] or "static", plan["arena_size"], plan["offsets"])
    if lowering:
        from jax import export

        for entry in manifest["stablehlo"]:
            exported = export.deserialize(bytearray(bundle.read(entry["member"])))
            click.echo(exported.mlir_module())


def _echo_plan(label: str, arena_size: int, offsets: Mapping[str, Sequence[int]]) -> None:
    click.echo(f"  memory plan [{label}]: arena {arena_size:,} bytes, {len(offsets)} values")
    for name, (storage, offset, nbytes) in sorted(offsets.items(), key=lambda kv: kv[1][1]):
        click.echo(f"    {name:32} storage {storage:3} offset {offset:>10,} bytes {nbytes:>10,}")


def _inspect_model(
    source: str, inputs: InputSpecs, ir: bool, passes: bool, memory: bool, lowering: bool
) -> None:
    from hybrix.compiler.pipelines import run_pipeline
    from hybrix.ir import Graph

    model = load_source(source, inputs)
    graph: Graph = model if isinstance(model, Graph) else model.graph
    kinds = sorted({node.op for node in graph.nodes})
    click.echo(
        f"{source}: graph {graph.name}, {len(graph.nodes)} nodes, "
        f"{len(graph.constants)} constants; ops {', '.join(kinds)}"
    )
    for value in graph.inputs:
        click.echo(f"  input  {value}")
    for value in graph.outputs:
        click.echo(f"  output {value}")
    if passes:
        for result in run_pipeline(graph, "O1", inference=True):
            if result.changed:
                click.echo(
                    f"  pass {result.name:34} {result.nodes_before} -> "
                    f"{result.nodes_after} nodes {'; '.join(result.changes[:3])}"
                )
    if ir:
        click.echo(graph)
    if memory:
        from hybrix.passes.memory import plan_memory

        plan = plan_memory(graph, bindings=_unit_bindings(graph))
        _echo_plan("symbols=1", plan.arena_size, plan.offsets)
    if lowering:
        _echo_lowering(graph)


def _unit_bindings(graph: Any) -> dict[str, int]:
    """Every symbolic dimension of the graph's inputs bound to 1."""
    names = [
        part.strip()
        for value in graph.inputs
        for dim in value.shape
        if isinstance(dim, str)
        for part in dim.split("*")
    ]
    return {name: 1 for name in names if name.isidentifier()}


def _echo_lowering(graph: Any) -> None:
    import jax

    from hybrix.compiler.autotune import describe_lowering
    from hybrix.compiler.lower import lower_graph
    from hybrix.runtime.reference import concrete_shape

    click.echo(describe_lowering(graph))
    run = lower_graph(graph)
    specs = [
        jax.ShapeDtypeStruct(concrete_shape(v.shape, _unit_bindings(graph), v.name), v.dtype.numpy)
        for v in graph.inputs
    ]
    constants = [jax.ShapeDtypeStruct(v.shape, v.dtype.numpy) for v in graph.constants]
    click.echo(jax.jit(run).lower(constants, *specs).as_text())


# -- bench ------------------------------------------------------------------------------------
@main.command("bench")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(EXECUTORS), default="auto", show_default=True)
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True)
@click.option("--runs", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON.")
@reports_errors
def bench_command(
    bundle: str, executor: str, batch: int, warmup: int, runs: int, json_path: str | None
) -> None:
    """Latency percentiles and throughput of a bundle on random inputs.

    \b
    Examples:
      hybrix bench lenet.hxb
      hybrix bench lenet.hxb --executor reference --runs 5
      hybrix bench mlp.hxb --batch 32 --warmup 5 --runs 100 --json mlp-bench.json
    """
    import numpy as np

    from hybrix import runtime

    session = runtime.load(bundle, executor=executor)
    arrays = _random_inputs(session, batch, 0)
    for _ in range(warmup):
        session.run(arrays)
    times = []
    with _progress(runs, "bench") as bar:
        for _ in range(runs):
            started = time.perf_counter()
            session.run(arrays)
            times.append(time.perf_counter() - started)
            bar.update(1)
    milliseconds = 1e3 * np.array(times)
    row = {
        "bundle": bundle,
        "executor": session.last_executor,
        "batch": batch,
        "runs": runs,
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p90_ms": float(np.percentile(milliseconds, 90)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "mean_ms": float(milliseconds.mean()),
        "throughput_per_s": float(batch * 1e3 / milliseconds.mean()),
    }
    click.echo(
        f"{'executor':12} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'items/s':>10}"
    )
    click.echo(
        f"{row['executor']:12} {batch:5d} {row['p50_ms']:9.3f} {row['p90_ms']:9.3f} "
        f"{row['p99_ms']:9.3f} {row['throughput_per_s']:10.1f}"
    )
    if json_path:
        Path(json_path).write_text(json.dumps(row, indent=1))


class _Quiet:
    def update(self, steps: int) -> None:
        return None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _progress(length: int, label: str) -> Any:
    """click's progress bar on a terminal; nothing otherwise."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _Quiet()


# -- viz --------------------------------------------------------------------------------------
@main.command("viz")
@click.argument("source", metavar="MODEL")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="graph.svg (needs Graphviz's dot) or graph.dot",
)
@click.option("--input", "inputs", multiple=True, help="NAME:SHAPE[:DTYPE]")
@reports_errors
def viz_command(source: str, output: str, inputs: tuple[str, ...]) -> None:
    """Draw a model's graph, like MXNet's plot_network (a bundle, or any compile SRC).

    \b
    Examples:
      hybrix viz lenet -o lenet.svg
      hybrix viz lenet.hxb -o lenet.dot
    """
    from hybrix import runtime

    if source.endswith(".hxb"):
        graph = runtime.load(source, executor="reference").graph
    else:
        model = load_source(source, _parse_inputs(inputs))
        graph = getattr(model, "graph", model)
    text = to_dot(graph)
    path = Path(output)
    dot = shutil.which("dot")
    if path.suffix in (".svg", ".png", ".pdf") and dot:
        result = subprocess.run(
            [dot, f"-T{path.suffix[1:]}", "-o", str(path)],
            input=text.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode:
            raise HybrixError(f"dot failed: {result.stderr.decode().strip()}")
        click.echo(f"wrote {path}")
        return
    if path.suffix != ".dot":
        path = path.with_suffix(".dot")
        click.echo(f"Graphviz's dot is not installed; writing DOT text to {path} instead")
    path.write_text(text)
    click.echo(f"wrote {path}")


def to_dot(graph: Any) -> str:
    """DOT text: inputs as ovals, nodes as boxes (op and key attributes), edges with shapes."""
    lines = [f'digraph "{graph.name}" {{', "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for value in graph.inputs:
        lines.append(f'  "{value.name}" [shape=oval, label="{value.name}\\n{value.type}"];')
    for node in graph.nodes:
        shown = [f"{k}={v}" for k, v in node.attrs.items() if k in _SHOWN_ATTRS and v]
        label = "\\n".join([node.op, *shown])
        lines.append(
            f'  "{node.name}" [shape=box, style=filled, fillcolor="{_color(node.op)}", '
            f'label="{label}"];'
        )
        for value in node.inputs:
            if value.is_constant:
                continue
            source = value.producer.name if value.producer else value.name
            lines.append(f'  "{source}" -> "{node.name}" [label="{value.type}"];')
    for value in graph.outputs:
        source = value.producer.name if value.producer else value.name
        lines.append(f'  "out:{value.name}" [shape=oval, label="{value.name}"];')
        lines.append(f'  "{source}" -> "out:{value.name}" [label="{value.type}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


_SHOWN_ATTRS = ("kernel", "stride", "num_filter", "num_hidden", "act_type", "pool_type")


def _color(op: str) -> str:
    # NOTE: MXNet's plot_network colours: conv/fc blue-ish, activation/pool pink, norm green
    if op in ("Convolution", "FullyConnected", "Deconvolution"):
        return "#fb8072"
    if op in ("Activation", "LeakyReLU", "relu"):
        return "#ffffb3"
    if op in ("Pooling",):
        return "#80b1d3"
    if op in ("BatchNorm", "LayerNorm", "InstanceNorm"):
        return "#bebada"
    return "#8dd3c7"


# -- demo -------------------------------------------------------------------------------------
@main.command()
@click.option("--model", default="resnet18_v1", show_default=True, help="a zoo name or lenet / mlp")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@reports_errors
def demo(model: str, batch: int, seed: int) -> None:
    """Compile a zoo model to a bundle, run it with each executor, compare and time.

    \b
    Steps: trace the model (its IR is printed), build a bundle (optimize, plan memory,
    export StableHLO, precompile), load it and run it with the precompiled executable,
    the StableHLO and the numpy reference executor, export ONNX and run onnxruntime,
    and check every output against the model compiled in-process.
    \b
    Examples:
      hybrix demo
      hybrix demo --model mobilenet0.25 --batch 4
      hybrix demo --model mlp --batch 32
    """
    import numpy as np

    from hybrix.compiler import compile_graph
    from hybrix.compiler.bundle import build_bundle

    started = time.perf_counter()
    shape = _demo_input_shape(model)
    graph = load_source(model, {"data": (("N", *shape), "float32")})
    click.echo(
        f"# {model}: traced {len(graph.nodes)} nodes in "
        f"{1e3 * (time.perf_counter() - started):.1f} ms"
    )
    click.echo(graph)
    data = np.random.default_rng(seed).standard_normal((batch, *shape))
    data = data.astype(np.float32)
    expected = np.asarray(compile_graph(graph)(data)[0])
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{model}.hxb"
        report = build_bundle(graph, None, path, bindings=[{"N": batch}], progress=_status)
        _status_done()
        click.echo(f"# built {path.name}: what each step did")
        click.echo(report.summary())
        rows = [
            _demo_run(path, executor, data, expected)
            for executor in ("precompiled", "stablehlo", "reference")
        ]
        rows.append(_demo_onnx(graph, Path(directory), data, expected))
    click.echo(
        f"# {'executor':12} {'load ms':>9} {'first ms':>9} {'steady ms':>10} {'max |diff|':>11}"
    )
    for name, load, first, steady, difference in rows:
        click.echo(f"# {name:12} {load:9.1f} {first:9.1f} {steady:10.3f} {difference:11.2e}")
    click.echo(f"# output {expected.shape} float32; predictions {expected.argmax(axis=1).tolist()}")
    worst = max(row[-1] for row in rows)
    if worst > 1e-4:
        raise HybrixError(f"executors disagree with the in-process compile by {worst:.2e}")
    click.echo("# every executor agrees with the in-process compiled model")


def _demo_input_shape(model: str) -> tuple[int, ...]:
    """One sample's shape: the built-in nets' own, 3x299x299 for Inception, else 3x224x224."""
    from hybrix.models.builtin import INPUT_SHAPES

    if model in INPUT_SHAPES:
        return INPUT_SHAPES[model]
    return (3, 299, 299) if model.startswith("inception") else (3, 224, 224)


def _demo_run(path: Path, executor: str, data: Any, expected: Any) -> tuple:
    import numpy as np

    from hybrix import runtime

    started = time.perf_counter()
    session = runtime.load(path, executor=executor)
    loaded = time.perf_counter()
    (output,) = session.run([data])
    first = time.perf_counter()
    # NOTE: the numpy reference executor is slow on big nets: fewer repeats
    steady = _median_ms(lambda: session.run([data]), 3 if executor == "reference" else 10)
    difference = float(np.abs(output - expected).max())
    return (executor, 1e3 * (loaded - started), 1e3 * (first - loaded), steady, difference)


def _demo_onnx(graph: Any, directory: Path, data: Any, expected: Any) -> tuple:
    import numpy as np
    import onnxruntime

    from hybrix.compiler.onnx import export

    path = directory / "model.onnx"
    started = time.perf_counter()
    export(graph, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    loaded = time.perf_counter()
    feed = {session.get_inputs()[0].name: data}
    (output,) = session.run(None, feed)
    first = time.perf_counter()
    steady = _median_ms(lambda: session.run(None, feed), 10)
    difference = float(np.abs(output - expected).max())
    return ("onnxruntime", 1e3 * (loaded - started), 1e3 * (first - loaded), steady, difference)


def _median_ms(run: Callable[[], Any], repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1e3 * sorted(times)[len(times) // 2]


# -- ops --------------------------------------------------------------------------------------
@main.command()
@click.option("--missing", type=click.Choice(FACETS), help="List only ops lacking this facet.")
def ops(missing: str | None) -> None:
    """Print every operator and which facets it has (schema, infer, ref, lower, onnx).

    \b
    Examples:
      hybrix ops
      hybrix ops --missing onnx
    """
    from hybrix.ir.ops import all_ops

    rows = []
    for op in sorted(all_ops(), key=lambda o: o.name.lower()):
        have = {facet: getattr(op, f"{facet}_fn") is not None for facet in FACETS}
        if missing and have[missing]:
            continue
        marks = "  ".join(f"{facet}:{'y' if have[facet] else '-'}" for facet in FACETS)
        reason = f"  ({op.missing[missing]})" if missing and missing in op.missing else ""
        rows.append(f"{op.name:28} {marks}{reason}")
    click.echo("\n".join(rows))
    click.echo(f"{len(rows)} operators")


@main.command(
    "launch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-n", "--num-workers", type=int, help="Workers to start (default: one per host).")
@click.option("--hosts", type=click.Path(dir_okay=False), help="File of hosts, one a line (ssh).")
@click.option("--port", type=int, default=0, help="Coordinator port (default: a free one).")
@click.option("--timeout", type=float, default=0, help="Stop all workers after SECONDS (0: none).")
@click.option("--grace", type=float, default=10, show_default=True, help="SIGTERM to SIGKILL, s.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@reports_errors
def launch_command(
    num_workers: int | None,
    hosts: str | None,
    port: int,
    timeout: float,
    grace: float,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as a group of workers: hybrix launch -n 2 -- python train.py"""
    from hybrix import launcher

    host_list = launcher.read_hosts(hosts) if hosts else None
    if num_workers is None and host_list is None:
        num_workers = 1
    sys.exit(launcher.launch(list(command), num_workers, host_list, port, timeout, grace))


if __name__ == "__main__":
    main()
