"""ResNet-18 exported by hybrix, run in onnxruntime: batch 1, 2 threads.

The fixture model (shared/fixtures/mxnet/models/resnet18_v1) is imported with hybrix's
MXNet importer and exported three ways: a static batch of 1, a symbolic batch `N`, and
after hybrix's inference pipeline (BatchNorm folded into the convolutions). Sessions take
turns run by run, so load from other processes hits them alike; the median and the
fastest run are printed as a table and written as JSON (bench/results/onnx_export.json).
The goal is MXNet's own exporter's output measured on this kind of machine: 23.9 ms with
weights as initializers (31.8 ms as MXNet exported it).

    python bench/onnx_export.py --runs 100
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from hybrix.compiler.onnx import NEWEST_OPSET, check_onnx, to_onnx
from hybrix.compiler.pipelines import optimize
from hybrix.importers import mxnet

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mxnet" / "models"
DEFAULT_OUT = Path(__file__).parent / "results" / "onnx_export.json"
MXNET_MS = {"mxnet exporter, weights as initializers": 23.9, "mxnet exporter as written": 31.8}


def _models(batch: int) -> dict:
    symbol, params = FIXTURES / "resnet18_v1-symbol.json", FIXTURES / "resnet18_v1-0000.params"
    static = mxnet.load(symbol, params, input_shapes={"data": (batch, 3, 224, 224)})
    symbolic = mxnet.load(symbol, params, input_shapes={"data": ("N", 3, 224, 224)})
    folded = mxnet.load(symbol, params, input_shapes={"data": (batch, 3, 224, 224)})
    optimize(folded.graph, "O1", inference=True)
    return {
        "hybrix, static batch": to_onnx(static),
        "hybrix, symbolic batch N": to_onnx(symbolic),
        "hybrix, BatchNorm folded (O1 inference)": to_onnx(folded),
    }


def _session(model, threads: int):
    import onnxruntime as ort

    check_onnx(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def measure(runs: int, threads: int, batch: int) -> dict:
    data = np.load(FIXTURES / "resnet18_v1-io.npz")["data"][:batch]
    sessions = {name: _session(model, threads) for name, model in _models(batch).items()}
    for session in sessions.values():
        for _ in range(5):
            session.run(None, {"data": data})
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(runs):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"data": data})
            times[name].append(1e3 * (time.perf_counter() - start))
    return {
        name: {"median_ms": statistics.median(v), "min_ms": min(v), "runs": len(v)}
        for name, v in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    import onnxruntime as ort

    results = measure(args.runs, args.threads, args.batch)
    print(
        f"ResNet-18 in onnxruntime {ort.__version__}, opset {NEWEST_OPSET}, batch "
        f"{args.batch}, {args.threads} threads, {args.runs} runs"
    )
    print(f"{'export':60} {'median ms':>10} {'min ms':>8}")
    for name, row in results.items():
        print(f"{name:60} {row['median_ms']:10.2f} {row['min_ms']:8.2f}")
    for name, ms in MXNET_MS.items():
        print(f"{name + ' (measured before, goal)':60} {ms:10.2f} {'':>8}")
    report = {
        "benchmark": "onnx_export",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "opset": NEWEST_OPSET,
        "batch": args.batch,
        "threads": args.threads,
        "results": results,
        "mxnet_reference_ms": MXNET_MS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
