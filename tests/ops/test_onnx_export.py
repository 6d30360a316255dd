"""Every op sample exported as a one-node ONNX graph, checked and run in onnxruntime.

Each sample (float32 where the sample has it, else its first dtype) becomes a one-node
graph; its ONNX export must pass onnx.checker.check_model(full_check=True) at the newest
opset, run in onnxruntime and match the op's numpy `ref`. float16 samples run too where
onnxruntime's CPU provider has float16 kernels for the ops used.
"""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.compiler.onnx import NEWEST_OPSET, OLDEST_OPSET, OnnxExportError, check_onnx, to_onnx
from hybrix.ir import DType, Graph, TensorType, get_op
from hybrix.tests.ops.op_db import SAMPLES

ort = pytest.importorskip("onnxruntime")

# sample id -> what the export error must say: attribute combinations with no ONNX form
REJECTED = {
    "dropout_training": "training",
    "dropout_always_shared_axis": "training",
    "dropout_p1": "training",
    "batchnorm_train": "training",
    "batchnorm_train_fix_gamma": "training",
    "batchnorm_axis_last": "training",
    "batchnorm_2d": "training",
    "batchnorm_output_mean_var": "training",
    "rnn_lstm_clip": "clip",
    "rnn_lstm_clip_nan": "clip",
    "rnn_lstm_clip_nan_in_state": "clip",
}


def exportable(sample) -> bool:
    """An op with an onnx facet, or one holding a subgraph the exporter expands (_fused)."""
    op = get_op(sample.op)
    return op.onnx_fn is not None or any(a.kind == "graph" for a in op.attrs.values())


CASES = [s for s in SAMPLES if exportable(s)]
F16_CASES = [s for s in CASES if "float16" in s.dtypes and s.id not in REJECTED]


def one_node_graph(sample, dtype, rng) -> tuple[Graph, list[np.ndarray]]:
    arrays = sample.arrays(dtype, rng)
    graph = Graph(f"{sample.id}_graph")
    inputs = []
    for i, array in enumerate(arrays):
        type = TensorType(DType.from_any(np.asarray(array).dtype), np.shape(array))
        inputs.append(graph.add_input(f"x{i}", type))
    graph.outputs = list(graph.add_node(sample.op, inputs, sample.attrs).outputs)
    return graph, arrays


def run_onnx(model, arrays) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays, strict=True)))


def expected_outputs(sample, arrays):
    op = get_op(sample.op)
    attrs = op.check_attrs(sample.attrs)
    result = op.ref_fn(*arrays, **attrs)
    return list(result) if isinstance(result, tuple | list) else [result]


def compare(sample, dtype, got, expected):
    assert len(got) == len(expected)
    rtol, atol = sample.tolerance(dtype)
    rtol, atol = max(rtol, 1e-5), max(atol, 1e-5)
    for g, e in zip(got, expected, strict=True):
        e = np.asarray(e)
        assert g.dtype == e.dtype
        assert g.shape == e.shape
        np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), rtol, atol)


def check_sample(sample, dtype, rng, opset=NEWEST_OPSET):
    graph, arrays = one_node_graph(sample, dtype, rng)
    if sample.id in REJECTED:
        with pytest.raises(OnnxExportError, match=REJECTED[sample.id]):
            to_onnx(graph, opset=opset)
        return
    model = to_onnx(graph, opset=opset)
    check_onnx(model)
    compare(sample, dtype, run_onnx(model, arrays), expected_outputs(sample, arrays))


@pytest.mark.parametrize("sample", CASES, ids=[s.id for s in CASES])
def test_onnx_export_matches_ref(sample, rng):
    dtype = "float32" if "float32" in sample.dtypes else sample.dtypes[0]
    check_sample(sample, dtype, rng)


@pytest.mark.parametrize("sample", CASES, ids=[s.id for s in CASES])
def test_onnx_export_oldest_opset(sample, rng):
    dtype = "float32" if "float32" in sample.dtypes else sample.dtypes[0]
    check_sample(sample, dtype, rng, opset=OLDEST_OPSET)


@pytest.mark.parametrize("sample", F16_CASES, ids=[s.id for s in F16_CASES])
def test_onnx_export_float16(sample, rng):
    graph, arrays = one_node_graph(sample, "float16", rng)
    model = to_onnx(graph)
    check_onnx(model)
    try:
        got = run_onnx(model, arrays)
    except ort.capi.onnxruntime_pybind11_state.NotImplemented as e:
        pytest.skip(f"onnxruntime has no float16 CPU kernel: {str(e)[:120]}")
    compare(sample, "float16", got, expected_outputs(sample, arrays))
