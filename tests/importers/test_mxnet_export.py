"""MXNet export: the 1.9.1 JSON layout, arg:/aux: params, and save -> load round trips.

Real MXNet 1.9.1 loading these files (mx.sym.load + SymbolBlock.imports, same outputs) was
checked by hand in a side virtualenv; see the issue-6 report. These tests pin the layout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrix.compiler import compile_graph
from hybrix.importers import mxnet as mx_import
from hybrix.importers.mxnet import params as params_codec
from hybrix.ir import DType, Graph, HybrixError, TensorType, structurally_equal
from hybrix.tests.conftest import FIXTURES

MODEL_DIR = FIXTURES / "models"
needs_fixtures = pytest.mark.skipif(not MODEL_DIR.is_dir(), reason="shared fixtures not found")
F32 = DType.float32


def small_net(rng):
    """data, conv weight and BatchNorm params as inputs (as HybridBlock.export passes them)."""
    graph = Graph("net")
    data = graph.add_input("data", TensorType(F32, ("N", 2, 5, 5)))
    names = ["conv_weight", "bn_gamma", "bn_beta", "bn_running_mean", "bn_running_var"]
    shapes = [(3, 2, 3, 3), (3,), (3,), (3,), (3,)]
    inputs = [graph.add_input(n, TensorType(F32, s)) for n, s in zip(names, shapes, strict=True)]
    attrs = {"kernel": (3, 3), "num_filter": 3, "no_bias": True}
    conv = graph.add_node("Convolution", [data, inputs[0]], attrs, name="conv")
    bn = graph.add_node("BatchNorm", [conv.outputs[0], *inputs[1:]], {"fix_gamma": False}, "bn")
    drop = graph.add_node("Dropout", [bn.outputs[0]], {"p": 0.5}, name="drop")
    both = graph.add_node("Concat", [drop.outputs[0], conv.outputs[0]], {"dim": 1}, "concat")
    last = graph.add_node("slice_axis", [both.outputs[0]], {"axis": 1, "begin": 1}, "last")
    graph.outputs = [last.outputs[0]]
    params = {
        "conv_weight": rng.standard_normal(shapes[0]).astype(np.float32),
        "bn_gamma": rng.uniform(0.5, 1.5, 3).astype(np.float32),
        "bn_beta": rng.standard_normal(3).astype(np.float32),
        "bn_running_mean": rng.standard_normal(3).astype(np.float32),
        "bn_running_var": rng.uniform(0.5, 1.5, 3).astype(np.float32),
    }
    return graph, params


def test_json_layout_is_mxnet_191s(rng):
    graph, params = small_net(rng)
    symbol = json.loads(mx_import.to_json(graph, params))
    assert set(symbol) == {"nodes", "arg_nodes", "node_row_ptr", "heads", "attrs"}
    assert symbol["attrs"] == {"mxnet_version": ["int", 10901]}
    nodes = symbol["nodes"]
    assert [n["name"] for n in nodes if n["op"] == "null"] == ["data", *params]
    assert symbol["arg_nodes"] == [i for i, n in enumerate(nodes) if n["op"] == "null"]
    by_name = {n["name"]: (i, n) for i, n in enumerate(nodes)}
    _, bn = by_name["bn"]
    assert bn["inputs"][3:] == [
        [by_name["bn_running_mean"][0], 0, 1],
        [by_name["bn_running_var"][0], 0, 1],
    ]
    assert bn["attrs"] == {"fix_gamma": "False"}  # hybrix's `training` is not written
    assert by_name["bn_gamma"][1]["attrs"]["__shape__"] == "(3,)"
    assert by_name["data"][1] == {"op": "null", "name": "data", "inputs": []}
    assert by_name["concat"][1]["attrs"] == {"num_args": "2"}  # dim=1 is the default
    assert by_name["last"][1]["attrs"] == {"axis": "1", "begin": "1", "end": "None"}
    assert by_name["conv"][1]["attrs"]["kernel"] == "(3, 3)"
    row_ptr = symbol["node_row_ptr"]
    assert row_ptr[by_name["bn"][0] + 1] - row_ptr[by_name["bn"][0]] == 3
    assert symbol["heads"] == [[len(nodes) - 1, 0, 0]]


def test_save_writes_arg_and_aux_params_and_loads_back(rng, tmp_path):
    graph, params = small_net(rng)
    symbol_path, params_path = mx_import.save(graph, tmp_path / "net", 3, params)
    assert params_path.name == "net-0003.params"
    stored = params_codec.load(params_path)
    assert sorted(stored) == sorted(
        [f"arg:{n}" for n in ("conv_weight", "bn_gamma", "bn_beta")]
        + ["aux:bn_running_mean", "aux:bn_running_var"]
    )
    model = mx_import.load(symbol_path, params_path, input_shapes={"data": ("N", 2, 5, 5)})
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    expected = compile_graph(graph)(x, *params.values())[0]
    np.testing.assert_allclose(np.asarray(compile_graph(model.graph)(x)[0]), expected, 1e-6)


def test_round_trip_without_params_is_structurally_equal(rng, tmp_path):
    graph, _ = small_net(rng)
    again = mx_import.load(mx_import.to_json(graph), input_shapes={"data": ("N", 2, 5, 5)})
    assert structurally_equal(graph, again.graph)


def test_constants_become_parameters(rng, tmp_path):
    graph = Graph("affine")
    data = graph.add_input("data", TensorType(F32, (2, 3)))
    weight = graph.add_constant("w", rng.standard_normal((4, 3)).astype(np.float32))
    bias = graph.add_constant("b", rng.standard_normal(4).astype(np.float32))
    graph.outputs = [
        graph.add_node("FullyConnected", [data, weight, bias], {"num_hidden": 4}).outputs[0]
    ]
    symbol_path, params_path = mx_import.save(graph, tmp_path / "affine")
    assert sorted(params_codec.load(params_path)) == ["arg:b", "arg:w"]
    again = mx_import.load(symbol_path, params_path, input_shapes={"data": (2, 3)})
    assert structurally_equal(graph, again.graph)


@needs_fixtures
@pytest.mark.parametrize("name", ["mlp", "lenet", "lstm", "resnet18_v1"])
def test_fixture_save_load_round_trip(name, tmp_path):
    io = np.load(MODEL_DIR / f"{name}-io.npz")
    files = (MODEL_DIR / f"{name}-symbol.json", MODEL_DIR / f"{name}-0000.params")
    model = mx_import.load(*files, input_shapes={"data": io["data"].shape})
    symbol_path, params_path = mx_import.save(model, tmp_path / name)
    again = mx_import.load(symbol_path, params_path, input_shapes={"data": io["data"].shape})
    assert structurally_equal(model.graph, again.graph)
    assert again.metadata["mxnet.variables"] == model.metadata["mxnet.variables"]
    assert params_codec.load(params_path).keys() == params_codec.load(files[1]).keys()
    original = json.loads(files[0].read_text())
    written = json.loads(symbol_path.read_text())
    assert [n["name"] for n in written["nodes"]] == [n["name"] for n in original["nodes"]]
    assert written["arg_nodes"] == original["arg_nodes"]
    assert written["heads"] == original["heads"]
    inputs = [[n["inputs"] for n in doc["nodes"]] for doc in (written, original)]
    assert inputs[0] == inputs[1]  # including BatchNorm's aux version 1


def test_export_refuses_what_mxnet_cannot_express(rng):
    graph, params = small_net(rng)
    with pytest.raises(HybrixError, match="params nope are not graph inputs; its inputs are"):
        mx_import.to_json(graph, {"nope": 1, **params})
    bn = next(node for node in graph.nodes if node.op == "BatchNorm")
    graph.outputs = [bn.outputs[1]]  # new_moving_mean: an aux update MXNet does not show
    with pytest.raises(
        HybrixError, match=r"output 1 of bn \(BatchNorm\), which MXNet does not expose"
    ):
        mx_import.to_json(graph, params)


def test_export_checks_param_arrays_against_inputs(rng, tmp_path):
    graph, params = small_net(rng)
    params["bn_gamma"] = np.ones(4, np.float32)
    with pytest.raises(HybrixError, match=r"parameter bn_gamma: array is float32\[4\]"):
        mx_import.save(graph, tmp_path / "net", 0, params)
