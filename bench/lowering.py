"""Lowering strategies on ResNet-18 v1 (MXNet's weights): ms per inference, 2 threads.

Rows: the naive lowering (every op's facet) in NCHW and NHWC, each strategy set (XLA's conv
with trimmed taps; im2col/1x1-as-matmul wherever it fits), the cost model, the autotuned
choice (timed per distinct conv/pool case, cached under HYBRIX_CACHE_DIR), and ONNX Runtime
on hybrix's ONNX export (skipped when the export is unavailable). Columns: batch 1 at
224x224 and batch 32 at 32x32. `--per-op` also prints the time of every candidate strategy
of every distinct case (where the weak spots are). Median of --runs after a warm-up.

    python bench/lowering.py --runs 20 [--per-op]
"""

from __future__ import annotations

import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"
)

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "lowering.json"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mxnet" / "models"
SHAPES = {"b1_224": (1, 3, 224, 224), "b32_32": (32, 3, 32, 32)}
STRATEGY_SETS = {
    "xla_trim": ("xla_trim", "global_reduce"),
    "im2col": ("matmul_1x1", "im2col", "depthwise", "slices", "global_reduce"),
}


def resnet18(shape: tuple[int, ...]) -> Any:
    from hybrix.compiler.pipelines import optimize
    from hybrix.importers.mxnet import load

    prefix = FIXTURE / "resnet18_v1"
    model = load(f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": shape})
    return optimize(model.graph, "O2", inference=True, layout=False)


def preferring(names: tuple[str, ...]) -> Callable[..., Any]:
    """A chooser taking the first fitting strategy of `names`, else the op's facet."""
    from hybrix.compiler.autotune import node_case
    from hybrix.compiler.strategies import candidates

    def pick(node: Any, args: Any) -> Any:
        case = node_case(node, [tuple(a.shape) for a in args], args[0].dtype, "cpu")
        if case is None:
            return None
        fitting = {s.name: s for s, why in candidates(case) if why is None}
        for name in names:
            if name in fitting:
                return fitting[name].lower
        return None

    return pick


def time_call(fn: Callable[[], Any], runs: int) -> float:
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def hybrix_row(graph: Any, choose: Any, data: np.ndarray, runs: int) -> tuple[float, float]:
    import jax
    import jax.numpy as jnp

    from hybrix.compiler.lower import lower_graph

    constants = [jnp.asarray(v.const) for v in graph.constants]
    jitted = jax.jit(lower_graph(graph, choose))
    x = jnp.asarray(data)
    start = time.perf_counter()
    jax.block_until_ready(jitted(constants, x))
    compile_s = time.perf_counter() - start
    return time_call(lambda: jitted(constants, x), runs), compile_s


def ort_row(graph: Any, data: np.ndarray, runs: int) -> float | None:
    try:
        import onnxruntime as ort

        from hybrix.compiler.onnx import export
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = export(graph, Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: data})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: data})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def variants() -> dict[str, tuple[str, Any]]:
    """name -> (layout, chooser): chooser None is the naive lowering."""
    from hybrix.compiler.autotune import strategy_chooser

    rows: dict[str, tuple[str, Any]] = {
        "naive NCHW": ("NCHW", None),
        "naive NHWC": ("NHWC", None),
    }
    for name, prefer in STRATEGY_SETS.items():
        rows[f"{name} NHWC"] = ("NHWC", preferring(prefer))
    rows["cost model NCHW"] = ("NCHW", strategy_chooser("cost"))
    rows["cost model NHWC"] = ("NHWC", strategy_chooser("cost"))
    rows["autotuned NHWC"] = ("NHWC", strategy_chooser("tune"))
    return rows


def per_op(graph: Any) -> list[dict[str, Any]]:
    from hybrix.compiler.autotune import measure, plan_lowering

    seen, rows = set(), []
    for _path, _op, case, choice in plan_lowering(graph, "cost"):
        if case is None or case.key() in seen:
            continue
        seen.add(case.key())
        times = {k: round(v * 1e3, 3) for k, v in measure(case).items()}
        rows.append({"case": case.key(), "ms": times, "cost_model_pick": choice.strategy})
        print(f"  {case.key()[:90]:<90} {times}  cost->{choice.strategy}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-op", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    from hybrix.compiler.layout import convert_layout

    results: dict[str, dict[str, Any]] = {}
    per_case: dict[str, Any] = {}
    for column, shape in SHAPES.items():
        graph = resnet18(shape)
        data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        graphs = {"NCHW": graph, "NHWC": convert_layout(graph, "NHWC")}
        if args.per_op:
            print(f"per-op candidates, {column} (ms):")
            per_case[column] = per_op(graphs["NHWC"])
        for name, (layout, choose) in variants().items():
            ms, compile_s = hybrix_row(graphs[layout], choose, data, args.runs)
            results.setdefault(name, {})[column] = {
                "ms": round(ms, 2),
                "compile_s": round(compile_s, 2),
            }
            print(f"{column} {name}: {ms:.2f} ms (first call {compile_s:.1f} s)", flush=True)
        ort_ms = ort_row(graph, data, args.runs)
        if ort_ms is not None:
            results.setdefault("onnxruntime", {})[column] = {"ms": round(ort_ms, 2)}
            print(f"{column} onnxruntime: {ort_ms:.2f} ms", flush=True)

    print(f"\n{'ResNet-18 v1, ms':<22} {'batch 1, 224x224':>17} {'batch 32, 32x32':>16}")
    for name, row in results.items():
        cells = [f"{row[c]['ms']:>16.2f}" if c in row else f"{'-':>16}" for c in SHAPES]
        print(f"{name:<22} {cells[0]:>17} {cells[1]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": args.runs,
        "results": results,
        "per_op": per_case,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
