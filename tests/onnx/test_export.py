"""hybrix.onnx.export on whole models: traced built-ins, the MXNet fixture models, dynamic
batch, bundles, fused graphs, and the errors for what cannot be exported."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import hybrix
from hybrix import nd
from hybrix.compiler.onnx import (
    NEWEST_OPSET,
    OLDEST_OPSET,
    OnnxExportError,
    check_onnx,
    export,
    to_onnx,
)
from hybrix.ir import DType, Graph, TensorType
from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params

ort = pytest.importorskip("onnxruntime")


def run_onnx(model, *arrays):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays, strict=True)))


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def traced(name, batch=3, symbolic=True):
    params = init_params(name, seed=1)
    data = nd.array(np.random.default_rng(0).standard_normal((batch, *INPUT_SHAPES[name])))

    def forward(x):
        return NETS[name](params, x)

    graph = hybrix.trace(forward, data, symbolic={0: "N"} if symbolic else None)
    return graph, forward


@pytest.mark.parametrize("name", ["lenet", "mlp"])
def test_builtin_model_runs_in_onnxruntime_at_two_batch_sizes(name, tmp_path):
    graph, forward = traced(name)
    path = export(graph, tmp_path / f"{name}.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert dims(model.graph.input[0])[0] == "N"
    assert dims(model.graph.output[0])[0] == "N"
    initializers = {t.name for t in model.graph.initializer}
    assert [i.name for i in model.graph.input] == ["x"]  # weights are initializers only
    assert {v.name for v in graph.constants} <= initializers
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, *INPUT_SHAPES[name]))
        x = x.astype(np.float32)
        (got,) = run_onnx(model, x)
        expected = forward(nd.array(x)).asnumpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [OLDEST_OPSET, 17, NEWEST_OPSET])
def test_every_supported_opset_checks_and_runs(opset):
    graph, forward = traced("lenet", batch=2)
    model = to_onnx(graph, opset=opset)
    check_onnx(model)
    assert model.opset_import[0].version == opset
    x = np.ones((2, 1, 28, 28), np.float32)
    np.testing.assert_allclose(
        run_onnx(model, x)[0], forward(nd.array(x)).asnumpy(), rtol=1e-4, atol=1e-5
    )


def test_dynamic_axes_make_a_static_graph_symbolic():
    graph, forward = traced("mlp", batch=2, symbolic=False)
    assert graph.inputs[0].shape[0] == 2
    model = to_onnx(graph, dynamic_axes={"x": {0: "batch"}}, input_names=["data"])
    check_onnx(model)
    assert dims(model.graph.input[0]) == ["batch", 784]
    assert model.graph.input[0].name == "data"
    x = np.random.default_rng(3).standard_normal((7, 784)).astype(np.float32)
    (got,) = run_onnx(model, x)
    np.testing.assert_allclose(got, forward(nd.array(x)).asnumpy(), rtol=1e-4, atol=1e-5)
    listed = to_onnx(graph, dynamic_axes={"x": [0]})
    assert dims(listed.graph.input[0]) == ["x_0", 784]


def test_export_errors_name_the_problem(tmp_path):
    graph, _ = traced("mlp")
    with pytest.raises(OnnxExportError, match=r"opset 12 is not supported; expected 13 to"):
        to_onnx(graph, opset=12)
    with pytest.raises(OnnxExportError, match=r"dynamic_axes names \['nope'\]"):
        to_onnx(graph, dynamic_axes={"nope": [0]})
    with pytest.raises(OnnxExportError, match="has no axis 5"):
        to_onnx(graph, dynamic_axes={"x": [5]})
    with pytest.raises(OnnxExportError, match="2 input_names for 1 inputs"):
        to_onnx(graph, input_names=["a", "b"])
    with pytest.raises(OnnxExportError, match="cannot export a dict"):
        to_onnx({})


def test_ops_without_onnx_form_are_all_named():
    graph = Graph("noisy")
    key = graph.add_input("key", TensorType(DType.uint32, (2,)))
    x = graph.add_input("x", TensorType(DType.float32, (4,)))
    u = graph.add_node("_random_uniform", [key], {"shape": (4,)}).outputs[0]
    n = graph.add_node("_random_normal", [key], {"shape": (4,)}).outputs[0]
    graph.outputs = [
        graph.add_node(
            "broadcast_add", [graph.add_node("elemwise_add", [u, n]).outputs[0], x]
        ).outputs[0]
    ]
    with pytest.raises(OnnxExportError) as info:
        to_onnx(graph)
    message = str(info.value)
    assert "_random_uniform (draws from a JAX PRNG key" in message
    assert "_random_normal" in message


def test_training_only_attributes_are_rejected_with_the_node():
    graph = Graph("bn")
    x = graph.add_input("x", TensorType(DType.float32, (2, 3)))
    stats = [graph.add_constant(f"p{i}", np.ones(3, np.float32)) for i in range(4)]
    node = graph.add_node("BatchNorm", [x, *stats], {"training": True}, name="bn0")
    graph.outputs = [node.outputs[0]]
    with pytest.raises(OnnxExportError, match=r"node bn0 \(BatchNorm\): BatchNorm in training"):
        to_onnx(graph)


def test_outputs_that_alias_inputs_or_repeat_get_their_own_names():
    graph = Graph("alias")
    x = graph.add_input("x", TensorType(DType.float32, (2,)))
    y = graph.add_node("identity", [x]).outputs[0]
    w = graph.add_constant("w", np.arange(2, dtype=np.float32))
    graph.outputs = [x, y, y, w]
    model = to_onnx(graph)
    check_onnx(model)
    names = [o.name for o in model.graph.output]
    assert len(set(names)) == 4
    data = np.array([1.0, -2.0], np.float32)
    got = run_onnx(model, data)
    for result, expected in zip(got, [data, data, data, np.arange(2)], strict=True):
        np.testing.assert_array_equal(result, expected)


def test_export_writes_atomically_and_replaces(tmp_path):
    graph, _ = traced("mlp")
    path = tmp_path / "out" / "mlp.onnx"
    export(graph, path)
    first = path.read_bytes()
    export(graph, path, opset=OLDEST_OPSET)
    assert path.read_bytes() != first
    assert sorted(p.name for p in path.parent.iterdir()) == ["mlp.onnx"]


def test_fused_graph_exports_op_by_op():
    from hybrix.compiler.pipelines import optimize

    graph = Graph("chain")
    x = graph.add_input("x", TensorType(DType.float32, ("N", 4)))
    h = graph.add_node("_mul_scalar", [x], {"scalar": 2.0}).outputs[0]
    h = graph.add_node("relu", [h]).outputs[0]
    h = graph.add_node("_plus_scalar", [h], {"scalar": 1.0}).outputs[0]
    graph.outputs = [graph.add_node("exp", [h]).outputs[0]]
    fused = optimize(graph, "O2")
    assert any(node.op == "_fused" for node in fused.nodes), str(fused)
    model = to_onnx(fused)
    check_onnx(model)
    data = np.array([[-1, 0, 0.5, 1]] * 3, np.float32)
    np.testing.assert_allclose(run_onnx(model, data)[0], np.exp(np.maximum(2 * data, 0) + 1))


def test_hybridized_gluon_block_exports_its_last_signature(tmp_path):
    from hybrix import gluon

    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Conv2D(4, 3, in_channels=1), gluon.nn.BatchNorm(in_channels=4))
        net.add(gluon.nn.Activation("relu"), gluon.nn.Dense(3))
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))
    expected = net(x).asnumpy()
    model = onnx.load(export(net, tmp_path / "net.onnx", dynamic_axes={"data": [0]}))
    assert [i.name for i in model.graph.input] == ["data"]
    assert len(model.graph.initializer) >= 8  # weights, BatchNorm statistics
    np.testing.assert_allclose(run_onnx(model, x.asnumpy())[0], expected, rtol=1e-5, atol=1e-6)


def test_unrun_block_export_says_to_run_it_first():
    from hybrix import gluon

    net = gluon.nn.Dense(3, in_units=2)
    net.initialize()
    with pytest.raises(hybrix.HybrixError, match="run the block once"):
        to_onnx(net)
