"""Interleaved A/B of hybrix's native kernels: their sources at a git revision against the
working tree, in one process, on whole networks (bench/infer.py's rows).

Both libraries are built; the revision's is registered under its own target names. Each row
is compiled once per library (the same graph and strategies: only the FFI targets differ)
and the calls alternate, so the machine's load (it moved timings 10-40% between runs here)
hits both alike. Separate runs of bench/infer.py could not resolve 2-5% kernel changes; this
can. The two must compute the same outputs. The revision's kernels must take the same FFI
attributes as the working tree's Python side (else the row says so).

    python bench/native_ab.py [--rev HEAD] [--rows "mobilenet1.0 b1 224" ...] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import infer  # bench/infer.py: the rows and their graphs

DEFAULT_OUT = Path(__file__).parent / "results" / "native_ab.json"
DEFAULT_ROWS = ("resnet18_v1 b1 224", "resnet50_v1 b1 224", "mobilenet1.0 b1 224")


def revision_targets(rev: str, directory: Path) -> dict[str, str]:
    """Build the kernels as they were at `rev`; symbol -> the FFI target registered for it."""
    import jax

    from hybrix.compiler import native
    from hybrix.runtime.native import SYMBOLS, register_library

    root = Path(native.__file__).parent
    for source in (*native._SOURCES, *native._HEADERS):
        name = source.relative_to(root.parents[1]).as_posix()
        shown = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=root, capture_output=True)
        # a kernel the revision did not have: the working tree's, in both libraries
        text = shown.stdout if shown.returncode == 0 else source.read_bytes()
        (directory / source.name).write_bytes(text)
    path = directory / "kernels-rev.so"
    sources = tuple(directory / s.name for s in native._SOURCES)
    compiler, include = native._compiler(), jax.ffi.include_dir()
    command = [compiler, *native._FLAGS, "-I", include, *map(str, sources), "-o", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    suffix = f"rev{time.time_ns() % 10**8}"
    targets = {f"{symbol}_{suffix}": symbol for symbol in SYMBOLS}
    register_library(path, targets)
    return {symbol: name for name, symbol in targets.items()}


def compiled_with(graph: Any, targets: dict[str, str]) -> Any:
    """compile_graph(graph) calling the kernels registered under `targets`."""
    from hybrix.compiler import clear_cache, compile_graph, native

    saved = dict(native._STATE["targets"])
    native._STATE["targets"] = targets
    try:
        clear_cache()
        return compile_graph(graph)
    finally:
        native._STATE["targets"] = saved


def measure_row(name: str, rev_targets: dict[str, str], runs: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from hybrix.compiler import native
    from hybrix.compiler.pipelines import optimize

    model, shape = infer.ROWS[name]
    graph = optimize(infer.load_graph(model, shape), "O2", inference=True)
    data = jnp.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    variants = {"rev": compiled_with(graph, rev_targets)}
    variants["tree"] = compiled_with(graph, dict(native._STATE["targets"]))
    try:
        outs = {tag: np.asarray(c(data)[0]) for tag, c in variants.items()}
    except Exception as e:  # the revision's kernels refuse this tree's calls
        return {"error": str(e).splitlines()[0][:200]}
    difference = float(np.abs(outs["rev"] - outs["tree"]).max())
    times: dict[str, list[float]] = {tag: [] for tag in variants}
    for _ in range(5):
        for c in variants.values():
            jax.block_until_ready(c(data))
    for _ in range(runs):
        for tag, c in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(c(data))
            times[tag].append(time.perf_counter() - start)
    rev, tree = (statistics.median(times[t]) * 1e3 for t in ("rev", "tree"))
    return {
        "rev_ms": round(rev, 4),
        "tree_ms": round(tree, 4),
        "ratio": round(tree / rev, 4),
        "max_abs_diff": difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="git revision of compiler/native")
    parser.add_argument("--rows", nargs="*", default=list(DEFAULT_ROWS), choices=list(infer.ROWS))
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    from hybrix.compiler import native

    reason = native.unavailable()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as directory:
        rev_targets = revision_targets(args.rev, Path(directory))
        results = {name: measure_row(name, rev_targets, args.runs) for name in args.rows}
    print(f"\n{'ms per inference':<22}{args.rev:>12}{'tree':>12}{'tree/rev':>10}")
    for name, row in results.items():
        if "error" in row:
            print(f"{name:<22}  {row['error']}")
        else:
            print(f"{name:<22}{row['rev_ms']:>12.3f}{row['tree_ms']:>12.3f}{row['ratio']:>10.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"rev": args.rev, "runs": args.runs, "results": results}, indent=1)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
