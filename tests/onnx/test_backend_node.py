"""ONNX's own backend node tests (onnx.backend.test) for a curated list of mapped ops,
run through hybrix's ONNX backend (import, compile with XLA, compare as onnx's runner)."""

from __future__ import annotations

import functools

import pytest

from hybrix.bench.onnx_conformance import compare, node_cases, primary_op

# common CNN and transformer ops whose node tests all pass (bench/onnx_conformance.py
# runs every mapped op and reports the rest)
CURATED = {
    "Add", "ArgMax", "Clip", "Concat", "Conv", "Div", "Erf", "Expand", "Flatten", "Gather",
    "Gelu", "Gemm", "GlobalAveragePool", "InstanceNormalization", "LeakyRelu", "Mul",
    "Pow", "ReduceMean", "Relu", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt",
    "Squeeze", "Sub", "Tanh", "TopK", "Transpose", "Unsqueeze", "Where",
}  # fmt: skip


@functools.cache
def curated_cases() -> list:
    return [case for case in node_cases() if primary_op(case) in CURATED]


CASES = curated_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_onnx_node_test_passes(case):
    from hybrix.onnx_backend import HybrixBackend

    rep = HybrixBackend.prepare(case.model)
    for inputs, expected in case.data_sets:
        compare(rep.run(inputs), expected, case.rtol, case.atol)


def test_every_curated_op_has_node_tests():
    assert {primary_op(case) for case in CASES} == CURATED
