"""Cold start: seconds from process start to the first result, each option in fresh processes.

ResNet-18 v1 at batch 1, imported from the MXNet fixture (shared/fixtures/mxnet/models),
compiled once into a bundle (with a precompiled executable) and exported to ONNX. Then,
for each option, `--repeats` fresh Python processes each load and run it once and exit;
the time is the parent's wall clock from spawning the process to its exit (interpreter
start and imports included), and each child's output is checked against MXNet's.

    (a) precompiled   hybrix.runtime, the bundle's executable (jaxlib only, no `import jax`)
    (b) stablehlo     hybrix.runtime, the StableHLO compiled by XLA at load
    (c) reference     hybrix.runtime, the numpy executor over the memory plan
    (d) onnxruntime   onnxruntime on hybrix's ONNX export
    (e) mxnet         MXNet 1.9.1 is not installed here (row left out)

    python -m hybrix.bench.cold_start --repeats 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "cold_start.json"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mxnet" / "models"

_HYBRIX = """
import sys
import numpy as np
from hybrix import runtime
session = runtime.load(sys.argv[1], executor=sys.argv[2])
(out,) = session.run([np.load(sys.argv[3])])
np.save(sys.argv[4], out)
print(session.last_executor, 'jax' in sys.modules)
"""
_ORT = """
import sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
(out,) = session.run(None, {session.get_inputs()[0].name: np.load(sys.argv[3])})
np.save(sys.argv[4], out)
print('onnxruntime', 'jax' in sys.modules)
"""


def build(directory: Path) -> tuple[Path, Path, Path, np.ndarray, dict]:
    """The ResNet-18 bundle, its ONNX export, the input file and MXNet's output."""
    from hybrix.compiler.bundle import build_bundle
    from hybrix.compiler.onnx import export
    from hybrix.importers import mxnet

    prefix = FIXTURE / "resnet18_v1"
    io = np.load(f"{prefix}-io.npz")
    model = mxnet.load(
        f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": (1, 3, 224, 224)}
    )
    bundle, onnx_path, data = directory / "r18.hxb", directory / "r18.onnx", directory / "x.npy"
    report = build_bundle(model, None, bundle)
    export(model, onnx_path)
    np.save(data, io["data"])
    steps = {step: round(seconds, 3) for step, seconds, _ in report.steps}
    return bundle, onnx_path, data, io["output"], steps


def cold_run(code: str, model: Path, executor: str, data: Path, out: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(model), executor, str(data), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{executor}: {done.stderr.strip().splitlines()[-1]}")
    return seconds, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        bundle, onnx_path, data, expected, steps = build(directory)
        options = [
            ("(a) precompiled", _HYBRIX, bundle, "precompiled"),
            ("(b) stablehlo", _HYBRIX, bundle, "stablehlo"),
            ("(c) reference", _HYBRIX, bundle, "reference"),
            ("(d) onnxruntime", _ORT, onnx_path, "onnxruntime"),
        ]
        for label, code, model, executor in options:
            out = directory / f"{executor}.npy"
            times, note = [], ""
            for _ in range(args.repeats):
                seconds, note = cold_run(code, model, executor, data, out)
                times.append(seconds)
            difference = float(np.abs(np.load(out) - expected).max())
            rows.append(
                {
                    "option": label,
                    "median_s": statistics.median(times),
                    "min_s": min(times),
                    "max_s": max(times),
                    "max_abs_diff_vs_mxnet": difference,
                    "imported_jax": note.endswith("True"),
                }
            )
    print(f"ResNet-18 v1, batch 1, {args.repeats} fresh processes each (wall clock, seconds)")
    print(f"{'option':18} {'median':>8} {'min':>8} {'max':>8} {'|diff| vs MXNet':>16} {'jax?':>5}")
    for row in rows:
        print(
            f"{row['option']:18} {row['median_s']:8.3f} {row['min_s']:8.3f} {row['max_s']:8.3f} "
            f"{row['max_abs_diff_vs_mxnet']:16.2e} {'yes' if row['imported_jax'] else 'no':>5}"
        )
    print("(e) mxnet: MXNet 1.9.1 is not installed on this machine; not measured")
    result = {
        "benchmark": "cold_start",
        "model": "resnet18_v1 (MXNet fixture)",
        "batch": 1,
        "repeats": args.repeats,
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "build_steps_s": steps,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
