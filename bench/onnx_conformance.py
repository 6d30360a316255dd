"""ONNX's backend node tests (onnx.backend.test) run through hybrix's ONNX backend.

Every node test case shipped in the `onnx` package is generated in memory; a test runs
when hybrix maps every op its model uses (importers/onnx), and is skipped otherwise.
A test passes when each output has the reference's dtype and shape and matches it within
the test's own rtol/atol (as onnx's runner checks). Results per op (the op of a one-node
model; multi-node "expanded" models count under `(expanded)`) and in total are printed
and written as JSON (bench/results/onnx_conformance.json).

    python bench/onnx_conformance.py                 # every mapped op
    python bench/onnx_conformance.py --ops Relu Conv # some ops
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "onnx_conformance.json"


def node_cases() -> list:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collect_testcases("")


def primary_op(case: Any) -> str:
    ops = {node.op_type for node in case.model.graph.node}
    return ops.pop() if len(ops) == 1 else "(expanded)"


def run_case(case: Any) -> tuple[str, str]:
    """('passed' | 'failed' | 'skipped', detail)."""
    from hybrix.importers.onnx import supported_ops
    from hybrix.onnx_backend import HybrixBackend

    unmapped = sorted({n.op_type for n in case.model.graph.node} - set(supported_ops()))
    if unmapped:
        return "skipped", f"unmapped ops {unmapped}"
    try:
        rep = HybrixBackend.prepare(case.model)
        for inputs, expected in case.data_sets:
            outputs = rep.run(inputs)
            compare(outputs, expected, case.rtol, case.atol)
    except AssertionError as e:
        return "failed", f"wrong result: {str(e).strip().splitlines()[0][:200]}"
    except Exception as e:  # every failure is recorded, the run goes on
        return "failed", f"{type(e).__name__}: {str(e)[:200]}"
    return "passed", ""


def compare(outputs: Any, expected: list, rtol: float, atol: float) -> None:
    assert len(outputs) == len(expected), f"{len(outputs)} outputs, expected {len(expected)}"
    for got, want in zip(outputs, expected, strict=True):
        want = np.asarray(want)
        assert got.dtype == want.dtype, f"dtype {got.dtype}, expected {want.dtype}"
        assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(got, want)


def run(ops: list[str] | None = None, verbose: bool = False) -> dict:
    table: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, str] = {}
    for case in node_cases():
        op = primary_op(case)
        if ops and op not in ops:
            continue
        status, detail = run_case(case)
        table[op][status] += 1
        if status == "failed":
            failures[case.name] = detail
            if verbose:
                print(f"FAILED {case.name}: {detail}")
    return {"per_op": {op: dict(c) for op, c in sorted(table.items())}, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="*", help="only the tests of these ONNX ops")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verbose", action="store_true", help="print each failure")
    args = parser.parse_args()
    results = run(args.ops, args.verbose)
    total: Counter = Counter()
    print(f"{'op':28} {'passed':>7} {'failed':>7} {'skipped':>8}")
    for op, counts in results["per_op"].items():
        total.update(counts)
        if counts.get("passed") or counts.get("failed"):
            print(
                f"{op:28} {counts.get('passed', 0):7} {counts.get('failed', 0):7} "
                f"{counts.get('skipped', 0):8}"
            )
    skipped_ops = sum(1 for c in results["per_op"].values() if set(c) == {"skipped"})
    print(f"{'(ops with every test skipped)':28} {'':7} {'':7} {skipped_ops:8} ops")
    print(f"{'total':28} {total['passed']:7} {total['failed']:7} {total['skipped']:8}")
    results["total"] = dict(total)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
