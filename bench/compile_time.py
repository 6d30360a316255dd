"""Cold and warm compile time of ResNet-18 v1 at batch 1, 224x224, each in a fresh process.

A child process times: importing hybrix, building the Gluon model (get_model, initialize),
tracing it (predict mode),
the O2 inference pipeline, choosing lowerings (the cost model, or with --tune the autotuner
timing every distinct case), and jit + XLA compile + the first call. Runs, all with their
own empty HYBRIX_CACHE_DIR to start with:
- cold: an empty cache dir;
- warm: a second process on the cache dir the cold one filled (autotune table, and JAX's
  persistent compilation cache: HYBRIX_XLA_CACHE=1 unless --no-xla-cache).
"compile" is trace + passes + lowering choice + XLA (the goal: cold under 10 s, warm under
1 s). Prints a table, writes JSON.

    python bench/compile_time.py [--tune] [--no-xla-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent / "results" / "compile_time.json"
THREADS = 2

_CHILD = r"""
import json, sys, time
start = time.perf_counter()
stamps = {}
import numpy as np
import hybrix
from hybrix import autograd, models
from hybrix.compiler import compile_graph
from hybrix.compiler.autotune import plan_lowering
from hybrix.compiler.pipelines import optimize
stamps["import"] = time.perf_counter()
net = models.get_model("resnet18_v1")
net.initialize()
x = hybrix.nd.array(np.zeros((1, 3, 224, 224), np.float32))
x.wait_to_read()
stamps["build"] = time.perf_counter()
with autograd.predict_mode():
    graph = hybrix.trace(net, x)
stamps["trace"] = time.perf_counter()
optimize(graph, "O2", inference=True)
stamps["passes"] = time.perf_counter()
plan_lowering(graph, sys.argv[1])
stamps["autotune"] = time.perf_counter()
compiled = compile_graph(graph)
compiled(x._data)[0].block_until_ready()
stamps["xla_compile"] = time.perf_counter()
times, last = {}, start
for name, stamp in stamps.items():
    times[name] = round(stamp - last, 3)
    last = stamp
times["total"] = round(last - start, 3)
times["compile"] = round(last - stamps["build"], 3)
print("RESULT " + json.dumps(times))
"""


def child(cache: str, mode: str, xla_cache: bool) -> dict[str, float]:
    env = {
        **os.environ,
        "HYBRIX_CACHE_DIR": cache,
        "HYBRIX_LOWERING": mode,
        "HYBRIX_XLA_CACHE": "1" if xla_cache else "0",
        "XLA_FLAGS": (f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="autotune (time every case)")
    parser.add_argument("--no-xla-cache", action="store_true", help="JAX's cache off")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    mode, xla_cache = ("tune" if args.tune else "cost"), not args.no_xla_cache
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        results["cold"] = child(cache, mode, xla_cache)
        results["warm"] = child(cache, mode, xla_cache)
    columns = list(results["cold"])
    print(f"\nResNet-18 v1 b1 224, lowering {mode}, XLA cache {'on' if xla_cache else 'off'} (s)")
    print(f"{'':<6}" + "".join(f"{c:>12}" for c in columns))
    for name, row in results.items():
        print(f"{name:<6}" + "".join(f"{row[c]:>12.3f}" for c in columns))
    report = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "lowering": mode,
        "xla_cache": xla_cache,
        "results": results,
    }
    out = args.out
    if args.out == DEFAULT_OUT:
        out = out.with_name(f"compile_time_{mode}_{'cache' if xla_cache else 'nocache'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
