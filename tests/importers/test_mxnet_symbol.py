"""MXNet -symbol.json import: the fixture models reproduce real MXNet 1.9.1 outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrix.compiler import compile_graph
from hybrix.importers import mxnet as mx_import
from hybrix.importers.mxnet import params as params_codec
from hybrix.ir import verify
from hybrix.runtime import ReferenceExecutor
from hybrix.tests.conftest import FIXTURES

MODELS = ["mlp", "lenet", "lstm", "resnet18_v1"]
MODEL_DIR = FIXTURES / "models"
pytestmark = pytest.mark.skipif(not MODEL_DIR.is_dir(), reason="shared fixtures not found")


def files(name):
    return MODEL_DIR / f"{name}-symbol.json", MODEL_DIR / f"{name}-0000.params"


def fixture_io(name):
    io = np.load(MODEL_DIR / f"{name}-io.npz")
    return io["data"], io["output"]


def assert_close_relative(got, expected, rtol=1e-4):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("name", MODELS)
def test_fixture_reproduces_mxnet_output_with_xla(name):
    data, expected = fixture_io(name)
    model = mx_import.load(*files(name), input_shapes={"data": data.shape})
    verify(model.graph)
    (got,) = compile_graph(model.graph)(data)
    assert_close_relative(got, expected)


@pytest.mark.parametrize("name", MODELS)
def test_fixture_reproduces_mxnet_output_with_reference_executor(name):
    """Without params every variable is an input; the numpy op kernels run node by node."""
    data, expected = fixture_io(name)
    arrays = mx_import.read_params(files(name)[1])
    shapes = {"data": data.shape}
    if name == "lstm":  # the file leaves the LSTM weights' input size open: (128, 0)
        shapes |= {k: v.shape for k, v in arrays.items() if "i2h_weight" in k}
    model = mx_import.load(files(name)[0], input_shapes=shapes)
    graph = model.graph
    assert not graph.constants
    assert graph.inputs[0].name == "data"
    weights = [arrays[value.name] for value in graph.inputs[1:]]
    assert [w.shape for w in weights] == [v.shape for v in graph.inputs[1:]]
    (got,) = ReferenceExecutor(graph, weights).run([data], {})
    assert_close_relative(got, expected)


def test_params_become_constants_named_without_prefix():
    model = mx_import.load(*files("resnet18_v1"), input_shapes={"data": (1, 3, 224, 224)})
    graph = model.graph
    raw = params_codec.load(files("resnet18_v1")[1])
    assert [v.name for v in graph.inputs] == ["data"]
    assert {v.name for v in graph.constants} == {k.split(":", 1)[1] for k in raw}
    mean = graph.find_value("resnetv10_batchnorm0_running_mean")
    np.testing.assert_array_equal(mean.const, raw["aux:resnetv10_batchnorm0_running_mean"])


def test_symbolic_batch_fills_the_zero_batch_of_the_lstm_begin_state():
    data, expected = fixture_io("lstm")
    model = mx_import.load(*files("lstm"), input_shapes={"data": ("N", 5, 8)})
    graph = model.graph
    rnn = next(node for node in graph.nodes if node.op == "RNN")
    assert rnn.inputs[2].shape == (1, "N", 32)
    assert graph.outputs[0].shape == ("N", 10)
    program = compile_graph(graph)
    assert_close_relative(program(data)[0], expected)
    assert program(np.concatenate([data, data, data]))[0].shape == (6, 10)


def test_static_batch_fills_the_zero_batch_in_the_zeros_attribute():
    model = mx_import.load(*files("lstm"), input_shapes={"data": (2, 5, 8)})
    zeros = [node for node in model.graph.nodes if node.op == "_zeros"]
    assert [node.attrs["shape"] for node in zeros] == [(1, 2, 32), (1, 2, 32)]


def test_parameter_shapes_are_deduced_from_consumers_without_params():
    model = mx_import.load(files("resnet18_v1")[0], input_shapes={"data": ("N", 3, 224, 224)})
    raw = mx_import.read_params(files("resnet18_v1")[1])
    shapes = {v.name: v.shape for v in model.graph.inputs[1:]}
    assert shapes == {name: array.shape for name, array in raw.items()}
    assert model.graph.outputs[0].shape == ("N", 1000)


def test_variable_attributes_are_kept_as_metadata():
    model = mx_import.load(*files("lstm"), input_shapes={"data": (2, 5, 8)})
    variables = json.loads(model.metadata["mxnet.variables"])
    assert variables["lstmnet0_dense0_bias"]["__init__"] == "zeros"
    assert variables["lstmnet0_dense0_weight"]["__lr_mult__"] == "1.0"
    nodes = json.loads(model.metadata["mxnet.nodes"])
    assert nodes["lstmnet0_lstmnet0_lstm0_h0_0"] == {"__layout__": "LNC"}
    assert model.metadata["mxnet_version"] == "10901"


def test_load_accepts_json_text_and_dict_and_params_dict():
    symbol_path, params_path = files("mlp")
    data, expected = fixture_io("mlp")
    text = symbol_path.read_text()
    arrays = params_codec.load(params_path)
    for symbol in (text, json.loads(text)):
        model = mx_import.load(symbol, arrays, input_shapes={"data": data.shape})
        assert_close_relative(compile_graph(model.graph)(data)[0], expected)


def test_input_dtype_override():
    nodes = json.loads(files("mlp")[0].read_text())["nodes"]
    dtypes = {node["name"]: "float64" for node in nodes if node["op"] == "null"}
    model = mx_import.load(files("mlp")[0], input_shapes={"data": (2, 784)}, input_dtypes=dtypes)
    assert {value.dtype.name for value in model.graph.inputs} == {"float64"}
    assert model.graph.outputs[0].dtype.name == "float64"
