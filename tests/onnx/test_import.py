"""hybrix.importers.onnx: hybrix's own exports read back, and the errors for models it
cannot import."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hybrix.compiler import compile_graph
from hybrix.compiler.onnx import to_onnx
from hybrix.importers.onnx import OnnxImportError, load, supported_ops
from hybrix.ir import verify

mxnet_import = pytest.importorskip("hybrix.importers.mxnet")


@pytest.mark.parametrize("name", ["lenet", "lstm"])
def test_exported_fixture_reads_back_and_matches_mxnet(name, fixtures_dir, tmp_path):
    io = np.load(fixtures_dir / "models" / f"{name}-io.npz")
    model = mxnet_import.load(
        fixtures_dir / "models" / f"{name}-symbol.json",
        fixtures_dir / "models" / f"{name}-0000.params",
        input_shapes={"data": io["data"].shape},
    )
    path = tmp_path / f"{name}.onnx"
    onnx.save(to_onnx(model), path)
    back = load(path)
    verify(back.graph)
    assert [v.name for v in back.graph.inputs] == ["data"]  # weights are constants
    (got,) = compile_graph(back.graph)(io["data"])
    np.testing.assert_allclose(np.asarray(got), io["output"], rtol=1e-4, atol=1e-5)


def one_node(op, inputs, outputs, opset=17, **attrs):
    node = helper.make_node(op, [i.name for i in inputs], [o.name for o in outputs], **attrs)
    graph = helper.make_graph([node], "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def info(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_symbolic_input_dims_stay_symbolic():
    model = one_node("Relu", [info("x", ["batch", 3])], [info("y", ["batch", 3])])
    graph = load(model).graph
    assert graph.inputs[0].shape == ("batch", 3)
    assert graph.outputs[0].shape == ("batch", 3)


def test_unsupported_op_names_node_op_and_supported_ops():
    model = one_node("Einsum", [info("x", [2, 2])], [info("y", [2])], equation="ii->i")
    with pytest.raises(OnnxImportError, match=r"node y has op Einsum, .* supported: Abs, "):
        load(model)
    assert "Conv" in supported_ops()


def test_unsupported_opset_and_domain_and_file_errors(tmp_path):
    with pytest.raises(OnnxImportError, match="opset 6 is not supported; expected 7 to"):
        load(one_node("Relu", [info("x", [2])], [info("y", [2])], opset=6))
    node = helper.make_node("Custom", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [info("x", [2])], [info("y", [2])])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    with pytest.raises(OnnxImportError, match=r"domains \['com.example'\]"):
        load(model)
    with pytest.raises(OnnxImportError, match="no such ONNX file"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model")
    with pytest.raises(OnnxImportError, match="not a readable ONNX model"):
        load(tmp_path / "junk.onnx")


def test_attribute_inputs_must_be_constant_unless_given():
    shape = info("shape", [2], TensorProto.INT64)
    model = one_node("Reshape", [info("x", [2, 3]), shape], [info("y", [3, 2])])
    with pytest.raises(
        OnnxImportError, match=r"node y \(Reshape\): input shape must be a constant"
    ):
        load(model)
    graph = load(model, constants={"shape": np.array([3, 2])}).graph
    assert graph.outputs[0].shape == (3, 2)
    assert [v.name for v in graph.inputs] == ["x"]
