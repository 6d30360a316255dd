"""Inference latency of zoo models: hybrix compiled vs ONNX Runtime, naive jax.jit and MXNet.

Rows: ResNet-18 v1 (MXNet's weights from the fixtures) and ResNet-50 v1 at batch 1, 224x224
and batch 32, 32x32; MobileNet 1.0 at batch 1, 224x224; the LSTM net of the fixtures.
Columns, ms per inference (median of --runs after a warm-up), 2 threads everywhere:
- hybrix: the default path, `optimize(graph, "O2", inference=True)` (target layout
  included) and `compile_graph` (default lowering strategies);
- onnxruntime: hybrix's ONNX export of the same graph before the layout stage (weights as
  initializers), CPUExecutionProvider;
- hybridized: the Gluon path MXNet users run, the model as a HybridBlock (`SymbolBlock.imports`
  for the fixtures) with `hybridize(static_alloc=True, static_shape=True)`, called in predict
  mode (its Parameters frozen once seen unchanged);
- naive jit: `jax.jit` of that graph with every op's own `lower` facet;
- mxnet: MXNet 1.9.1 hybridized (static_alloc, static_shape), OMP_NUM_THREADS=2, run in
  the venv of `--mxnet-python` (skipped without it).

    python bench/infer.py [--runs 20] [--mxnet-python /tmp/mxzoo/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

THREADS = 2
DEFAULT_OUT = Path(__file__).parent / "results" / "infer.json"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mxnet" / "models"
# row name -> (model, input shape); "fixture:" models come with MXNet's own weights
ROWS = {
    "resnet18_v1 b1 224": ("fixture:resnet18_v1", (1, 3, 224, 224)),
    "resnet18_v1 b32 32": ("fixture:resnet18_v1", (32, 3, 32, 32)),
    "resnet50_v1 b1 224": ("resnet50_v1", (1, 3, 224, 224)),
    "resnet50_v1 b32 32": ("resnet50_v1", (32, 3, 32, 32)),
    "mobilenet1.0 b1 224": ("mobilenet1.0", (1, 3, 224, 224)),
    "lstm b2 T5": ("fixture:lstm", (2, 5, 8)),
}
COLUMNS = ("hybrix", "hybridized", "onnxruntime", "naive jit", "mxnet")
OURS = ("hybrix", "hybridized")


# -- the graph of each row ---------------------------------------------------------------------
def load_graph(model: str, shape: tuple[int, ...]) -> Any:
    """The inference graph of `model` at `shape`, parameters as constants, unoptimized."""
    if model.startswith("fixture:"):
        from hybrix.importers.mxnet import load

        prefix = FIXTURES / model.split(":", 1)[1]
        loaded = load(
            f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": shape}
        )
        return loaded.graph
    import hybrix
    from hybrix import autograd, models

    net = models.get_model(model)
    net.initialize()
    x = hybrix.nd.array(np.zeros(shape, np.float32))
    with autograd.predict_mode():
        return hybrix.trace(net, x)


def copy_graph(graph: Any) -> Any:
    from hybrix.ir.serde import dumps, loads

    return loads(dumps(graph)).graph


# -- timing ------------------------------------------------------------------------------------
def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 5) -> float:
    import jax

    # NOTE: one warm-up call was not enough: right after a compile the first few calls ran
    # up to 1.7x slower (MobileNet 6.5 vs 3.8 ms), as if something else still held a core
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def hybrix_ms(graph: Any, data: np.ndarray, runs: int) -> tuple[float, float, np.ndarray]:
    """The default path: O2 inference pipeline and compile_graph. (ms, first call s, out)."""
    import jax.numpy as jnp

    from hybrix.compiler import compile_graph
    from hybrix.compiler.pipelines import optimize

    graph = optimize(copy_graph(graph), "O2", inference=True)
    compiled = compile_graph(graph)
    x = jnp.asarray(data)
    start = time.perf_counter()
    out = np.asarray(compiled(x)[0])
    first = time.perf_counter() - start
    return median_ms(lambda: compiled(x), runs), first, out


def hybridized_ms(model: str, data: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    """A Gluon HybridBlock, hybridized with static_alloc, called in predict mode."""
    import hybrix
    from hybrix import autograd, gluon, models

    if model.startswith("fixture:"):
        prefix = FIXTURES / model.split(":", 1)[1]
        net = gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params")
    else:
        net = models.get_model(model)
        net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    x = hybrix.nd.array(data)
    with autograd.predict_mode():
        for _ in range(3):
            net(x).wait_to_read()
        out = net(x).asnumpy()
        return median_ms(lambda: net(x)._data, runs), out


def naive_ms(graph: Any, data: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    import jax
    import jax.numpy as jnp

    from hybrix.compiler.lower import lower_graph

    constants = [jnp.asarray(v.const) for v in graph.constants]
    jitted = jax.jit(lower_graph(graph, None))
    x = jnp.asarray(data)
    out = np.asarray(jitted(constants, x)[0])
    return median_ms(lambda: jitted(constants, x), runs), out


def ort_ms(graph: Any, data: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    from hybrix.compiler.onnx import export

    with tempfile.TemporaryDirectory() as tmp:
        path = export(graph, Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: data}
    out = session.run(None, feed)[0]
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1e3, out


def measure_row(name: str, runs: int) -> dict[str, Any]:
    from hybrix.compiler.pipelines import optimize

    model, shape = ROWS[name]
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    graph = load_graph(model, shape)
    row: dict[str, Any] = {}
    ms, first, out = hybrix_ms(graph, data, runs)
    row["hybrix"], row["hybrix_first_call_s"] = round(ms, 4), round(first, 2)
    ms, _ = hybridized_ms(model, data, runs)
    row["hybridized"] = round(ms, 4)
    portable = optimize(copy_graph(graph), "O2", inference=True, layout=False)
    ms, ort_out = ort_ms(portable, data, runs)
    row["onnxruntime"] = round(ms, 4)
    ms, naive_out = naive_ms(portable, data, max(3, runs // 4))
    row["naive jit"] = round(ms, 4)
    scale = float(np.abs(naive_out).max()) or 1.0
    # NOTE: the three must agree, or the comparison is meaningless
    row["max_rel_diff"] = round(
        max(float(np.abs(out - naive_out).max()), float(np.abs(ort_out - naive_out).max())) / scale,
        6,
    )
    return row


# -- MXNet, in its own venv --------------------------------------------------------------------
_MXNET_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import mxnet as mx
from mxnet.gluon.model_zoo import vision
rows, runs, fixtures = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
result = {}
for name, (model, shape) in rows.items():
    if model.startswith("fixture:"):
        prefix = f"{fixtures}/{model.split(':', 1)[1]}"
        net = mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"],
                                           f"{prefix}-0000.params")
    else:
        net = vision.get_model(model)
        net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.array(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    for _ in range(3):
        net(x).wait_to_read()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        net(x).wait_to_read()
        times.append(time.perf_counter() - start)
    result[name] = round(statistics.median(times) * 1e3, 4)
print("RESULT " + json.dumps(result))
"""


def mxnet_ms(python: str, names: list[str], runs: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MXNET_ENGINE_TYPE": "ThreadedEngine"}
    env.pop("XLA_FLAGS", None)
    rows = json.dumps({n: ROWS[n] for n in names})
    done = subprocess.run(
        [python, "-c", _MXNET_SCRIPT, rows, str(runs), str(FIXTURES)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(f"mxnet run failed ({done.returncode}): {done.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(lines[-1][len("RESULT ") :])


# -- report ------------------------------------------------------------------------------------
def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'ms per inference':<22}" + "".join(f"{c:>13}" for c in COLUMNS) + "   best peer")
    for name, row in results.items():
        cells = [f"{row[c]:>13.3f}" if c in row else f"{'-':>13}" for c in COLUMNS]
        peers = {c: row[c] for c in COLUMNS if c in row and c not in OURS}
        best = min(peers, key=peers.__getitem__)
        mark = "hybrix ahead" if row["hybrix"] <= peers[best] else f"{best} ahead"
        print(f"{name:<22}" + "".join(cells) + f"   {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--mxnet-python", help="a python with mxnet 1.9.1 installed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    # NOTE: before jax is first imported (every import of it here is inside a function)
    os.environ.setdefault(
        "XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}"
    )
    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    for name in args.rows:
        results[name] = measure_row(name, args.runs)
        print(name, results[name], flush=True)
    if args.mxnet_python:
        for name, ms in mxnet_ms(args.mxnet_python, args.rows, args.runs).items():
            results[name]["mxnet"] = ms
    print_table(results)
    import jax

    report = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": THREADS,
        "jax": jax.__version__,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": args.runs,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
