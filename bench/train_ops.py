"""Forward + backward ms of every fitting lowering strategy, per training case.

Cases: LeNet's convolutions and max poolings (batch 64, 1x28x28, NCHW, as bench/train_step.py
builds it), ResNet's 3x3/2 max pool (32x64x32x32) and a few Deconvolution shapes (forward
only: its strategies share the facet's backward). Each strategy is timed as the autotuner
times a training case (compiler.autotune.measure: jax.vjp with a random cotangent; best of
several runs); the table shows each strategy against the op's own lowering ("xla").

    python bench/train_ops.py [--out bench/results/train_ops.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).parent / "results" / "train_ops.json"
# name -> (op, input shapes, attrs, train?)
CASES: dict[str, tuple[str, list[tuple[int, ...]], dict[str, Any], bool]] = {
    "lenet conv1 20@5x5": (
        "Convolution",
        [(64, 1, 28, 28), (20, 1, 5, 5), (20,)],
        {"kernel": (5, 5), "num_filter": 20},
        True,
    ),
    "lenet conv2 50@5x5": (
        "Convolution",
        [(64, 20, 12, 12), (50, 20, 5, 5), (50,)],
        {"kernel": (5, 5), "num_filter": 50},
        True,
    ),
    "lenet pool1 2x2/2": (
        "Pooling",
        [(64, 20, 24, 24)],
        {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"},
        True,
    ),
    "resnet pool 3x3/2": (
        "Pooling",
        [(32, 64, 32, 32)],
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"},
        True,
    ),
    "deconv b1 64@56 4x4/2": (
        "Deconvolution",
        [(1, 64, 56, 56), (64, 64, 4, 4)],
        {"kernel": (4, 4), "stride": (2, 2), "pad": (1, 1), "num_filter": 64},
        False,
    ),
    "deconv b8 64@16 3x3/1": (
        "Deconvolution",
        [(8, 64, 16, 16), (64, 64, 3, 3)],
        {"kernel": (3, 3), "pad": (1, 1), "num_filter": 64},
        False,
    ),
    "deconv b1 512@7 4x4/2": (
        "Deconvolution",
        [(1, 512, 7, 7), (512, 256, 4, 4)],
        {"kernel": (4, 4), "stride": (2, 2), "pad": (1, 1), "num_filter": 256},
        False,
    ),
}


def measure_all() -> dict[str, dict[str, float]]:
    from hybrix.compiler.autotune import measure
    from hybrix.compiler.strategies import Case
    from hybrix.ir import get_op

    results = {}
    for name, (op, shapes, attrs, train) in CASES.items():
        full = get_op(op).check_attrs(attrs)
        case = Case.make(op, shapes, "float32", full, "cpu", train)
        results[name] = {k: v * 1e3 for k, v in measure(case).items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    results = measure_all()
    print(f"{'case':<26}{'xla ms':>9}   strategies (ms, x faster than xla)")
    for name, times in results.items():
        base = times["xla"]
        others = ", ".join(
            f"{k} {v:.3f} ({base / v:.1f}x)" for k, v in sorted(times.items()) if k != "xla"
        )
        print(f"{name:<26}{base:>9.3f}   {others}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": platform.processor() or platform.machine(), "ms": results}
    args.out.write_text(json.dumps(payload, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
