"""gluon.SymbolBlock over MXNet files: runs, hybridizes, trains, exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrix import autograd, nd
from hybrix.gluon.parameter import ParameterError
from hybrix.gluon.symbol_block import SymbolBlock
from hybrix.importers import mxnet as mx_import
from hybrix.ir import DType, Graph, HybrixError, TensorType
from hybrix.tests.conftest import FIXTURES

MODEL_DIR = FIXTURES / "models"
pytestmark = pytest.mark.skipif(not MODEL_DIR.is_dir(), reason="shared fixtures not found")


def files(name):
    return MODEL_DIR / f"{name}-symbol.json", MODEL_DIR / f"{name}-0000.params"


def fixture_io(name):
    io = np.load(MODEL_DIR / f"{name}-io.npz")
    return io["data"], io["output"]


def assert_close_relative(got, expected, rtol=1e-4):
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_imports_runs_and_hybridizes_to_mxnets_output(name):
    data, expected = fixture_io(name)
    net = SymbolBlock.imports(*files(name)[:1], ["data"], files(name)[1])
    assert_close_relative(net(nd.array(data)).asnumpy(), expected)
    net.hybridize()
    assert_close_relative(net(nd.array(data)).asnumpy(), expected)


def test_parameters_are_named_as_in_the_file():
    net = SymbolBlock.imports(files("resnet18_v1")[0], "data", files("resnet18_v1")[1])
    params = net.collect_params()
    raw = mx_import.read_params(files("resnet18_v1")[1])
    assert set(params.keys()) == set(raw)
    assert params["resnetv10_batchnorm0_running_mean"].grad_req == "null"
    assert params["resnetv10_conv0_weight"].grad_req == "write"
    assert params["resnetv10_conv0_weight"].shape == (64, 3, 7, 7)
    np.testing.assert_array_equal(
        params["resnetv10_conv0_weight"].data().asnumpy(), raw["resnetv10_conv0_weight"]
    )


def conv_bn_net():
    """data -> Convolution -> BatchNorm -> FullyConnected, as an MXNet symbol."""
    graph = Graph("small")
    data = graph.add_input("data", TensorType(DType.float32, (2, 1, 4, 4)))
    weights = {
        "conv_weight": (2, 1, 3, 3),
        "bn_gamma": (2,),
        "bn_beta": (2,),
        "bn_running_mean": (2,),
        "bn_running_var": (2,),
        "fc_weight": (3, 8),
    }
    values = {n: graph.add_input(n, TensorType(DType.float32, s)) for n, s in weights.items()}
    conv = graph.add_node(
        "Convolution",
        [data, values["conv_weight"]],
        {"kernel": (3, 3), "num_filter": 2, "no_bias": True},
    ).outputs[0]
    stats = [values[n] for n in ("bn_gamma", "bn_beta", "bn_running_mean", "bn_running_var")]
    norm = graph.add_node("BatchNorm", [conv, *stats], {"fix_gamma": False}).outputs[0]
    fc = graph.add_node(
        "FullyConnected", [norm, values["fc_weight"]], {"num_hidden": 3, "no_bias": True}
    )
    graph.outputs = [fc.outputs[0]]
    return graph


def test_trains_gradients_and_batchnorm_statistics(rng):
    net = SymbolBlock(conv_bn_net(), ["data"])
    net.initialize()
    params = net.collect_params()
    assert params["bn_running_mean"].grad_req == "null"
    x = nd.array(rng.standard_normal((2, 1, 4, 4)).astype(np.float32) + 3)
    net(x)  # finishes the deferred initialization
    before = params["bn_running_mean"].data().asnumpy().copy()
    with autograd.record():
        loss = net(x).sum()
    loss.backward()
    assert np.abs(params["fc_weight"].grad().asnumpy()).sum() > 0
    assert np.abs(params["conv_weight"].grad().asnumpy()).sum() > 0
    after = params["bn_running_mean"].data().asnumpy()
    assert not np.allclose(after, before)  # train mode updates the aux states, as MXNet
    net(x)  # predict mode leaves them
    np.testing.assert_array_equal(params["bn_running_mean"].data().asnumpy(), after)


def test_gradient_matches_finite_differences(rng):
    net = SymbolBlock.imports(files("mlp")[0], ["data"], files("mlp")[1])
    x = rng.standard_normal((2, 784)).astype(np.float32)
    bias = net.collect_params()["dense4_bias"]
    with autograd.record():
        out = net(nd.array(x))
    out.backward(nd.ones_like(out))
    # d(sum of outputs)/d(last bias) is the batch size for every class
    np.testing.assert_allclose(bias.grad().asnumpy(), np.full(10, 2.0), rtol=1e-6)


def test_without_param_file_shapes_are_deferred_to_the_first_call(rng):
    net = SymbolBlock(files("mlp")[0], ["data"])
    weight = net.collect_params()["dense2_weight"]
    assert weight.shape == (256, 0)
    net.initialize()
    out = net(nd.array(rng.standard_normal((3, 784)).astype(np.float32)))
    assert out.shape == (3, 10)
    assert weight.shape == (256, 784)


def test_symbol_block_exports_what_mxnet_reads(tmp_path):
    data, expected = fixture_io("lenet")
    net = SymbolBlock.imports(files("lenet")[0], ["data"], files("lenet")[1])
    net.hybridize()
    net(nd.array(data))
    symbol_path, params_path = net.export(str(tmp_path / "again"))
    again = SymbolBlock.imports(symbol_path, ["data"], params_path)
    assert_close_relative(again(nd.array(data)).asnumpy(), expected)
    names = {n["name"] for n in json.loads(Path(symbol_path).read_text())["nodes"]}
    assert {"data", "conv0_weight", "dense1_bias"} <= names


def test_from_an_imported_graph(rng):
    model = mx_import.load(files("mlp")[0], input_shapes={"data": (2, 784)})
    net = SymbolBlock(model, ["data"])
    net.initialize()
    assert net(nd.array(rng.standard_normal((2, 784)).astype(np.float32))).shape == (2, 10)


def test_bad_input_names_and_param_files(tmp_path):
    with pytest.raises(HybrixError, match=r"inputs \['image'\] are not variables"):
        SymbolBlock(files("mlp")[0], ["image"])
    with pytest.raises(ParameterError, match=r"missing \['conv0_bias'"):
        SymbolBlock.imports(files("lenet")[0], ["data"], files("mlp")[1])
