"""Time the pass pipeline on zoo models (the passes issue: ResNet-50 under 0.5 s together).

    python bench/pipeline_time.py [--models resnet18_v1 resnet50_v1] [--level O1]
Prints nodes before/after, total seconds and the slowest passes; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hybrix.cli import _trace_callable
from hybrix.compiler.pipelines import run_pipeline
from hybrix.models import get_model


def measure(name: str, level: str) -> dict:
    net = get_model(name)
    net.initialize()
    graph = _trace_callable(net, {"data": (("N", 3, 224, 224), "float32")})
    before = len(graph.nodes)
    started = time.perf_counter()
    results = run_pipeline(graph, level, inference=True)
    seconds = time.perf_counter() - started
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    return {
        "model": name,
        "nodes_before": before,
        "nodes_after": len(graph.nodes),
        "seconds": seconds,
        "slowest": [[r.name, r.seconds] for r in slowest],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18_v1", "resnet50_v1"])
    parser.add_argument("--level", default="O1")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "pipeline_time.json")
    )
    args = parser.parse_args()
    rows = [measure(name, args.level) for name in args.models]
    print(f"{'model':14} {'nodes':>10} {'seconds':>8}  slowest passes")
    for row in rows:
        slow = ", ".join(f"{n} {1e3 * s:.0f} ms" for n, s in row["slowest"])
        nodes = f"{row['nodes_before']}->{row['nodes_after']}"
        print(f"{row['model']:14} {nodes:>10} {row['seconds']:8.3f}  {slow}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"level": args.level, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
