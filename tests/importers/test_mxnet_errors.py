"""Bad MXNet input gives a HybrixError naming the file, node, op and what was expected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrix.importers import mxnet as mx_import
from hybrix.ir import AttrError, HybrixError, ModelFormatError, ShapeError, UnknownOpError


def symbol(*nodes, heads=None):
    count = len(nodes)
    return {
        "nodes": list(nodes),
        "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
        "heads": heads or [[count - 1, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]},
    }


def var(name, **attrs):
    return {"op": "null", "name": name, "attrs": attrs, "inputs": []}


def op(kind, name, inputs, **attrs):
    return {"op": kind, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs]}


def relu_net():
    return symbol(var("data"), op("Activation", "act", [0], act_type="relu"))


def test_not_json(tmp_path):
    path = tmp_path / "x-symbol.json"
    path.write_text("this is not json")
    with pytest.raises(ModelFormatError, match=r"x-symbol.json: not an MXNet symbol JSON"):
        mx_import.load(path)


def test_binary_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07\x12\x04\xff\xfe\x00")
    with pytest.raises(ModelFormatError, match=r"model.onnx: not an MXNet symbol JSON"):
        mx_import.load(path)


def test_json_that_is_not_mxnet(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": "resnet", "layers": 18}))
    with pytest.raises(ModelFormatError, match=r"config.json: not an MXNet symbol JSON: expected"):
        mx_import.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match=r"nowhere-symbol.json: cannot read"):
        mx_import.load(tmp_path / "nowhere-symbol.json")


def test_unknown_op_names_node_op_and_the_ops_command():
    bad = symbol(var("data"), op("_contrib_MultiBoxPrior", "anchors", [0], sizes="(0.5,)"))
    with pytest.raises(UnknownOpError) as info:
        mx_import.load(bad, input_shapes={"data": (1, 3, 8, 8)})
    message = str(info.value)
    assert "node anchors" in message
    assert "'_contrib_MultiBoxPrior'" in message
    assert "`hybrix ops` lists the supported ones" in message


def test_unknown_attribute_names_node_and_attribute():
    bad = symbol(var("data"), op("Activation", "act", [0], act_type="relu", flavour="spicy"))
    with pytest.raises(AttrError, match=r"node act \(Activation\): unknown attribute flavour"):
        mx_import.load(bad, input_shapes={"data": (2,)})


def test_backend_and_hidden_attributes_are_not_errors():
    net = symbol(
        var("data"),
        var("w", __shape__="(4, 0, 3, 3)", __init__='["xavier", {}]'),
        op(
            "Convolution",
            "conv",
            [0, 1],
            kernel="(3, 3)",
            num_filter="4",
            no_bias="True",
            cudnn_tune="limited_workspace",
            workspace="512",
            __profiler_scope__="conv:",
        ),
    )
    model = mx_import.load(net, input_shapes={"data": (1, 2, 5, 5)})
    assert model.graph.find_value("w").shape == (4, 2, 3, 3)
    assert json.loads(model.metadata["mxnet.nodes"])["conv"] == {"__profiler_scope__": "conv:"}


def test_malformed_attribute_value():
    bad = symbol(var("data"), op("Pooling", "pool", [0], kernel="(2, x)"))
    with pytest.raises(AttrError, match=r"node pool: Pooling.kernel = '\(2, x\)' is not a valid"):
        mx_import.load(bad, input_shapes={"data": (1, 1, 4, 4)})


def test_params_names_that_do_not_match_are_listed():
    params = {"arg:w": np.ones((2, 2), np.float32), "arg:stray": np.ones(1, np.float32)}
    with pytest.raises(
        ModelFormatError,
        match=r"2 names that are not variables of the symbol: stray, w; its variables are: data",
    ):
        mx_import.load(relu_net(), params, input_shapes={"data": (2,)})


def test_param_shape_against_declared_shape():
    net = symbol(var("data"), var("w", __shape__="(3, 4)"), op("elemwise_add", "add", [0, 1]))
    with pytest.raises(ModelFormatError, match=r"parameter w has shape \(4, 3\), the symbol"):
        mx_import.load(net, {"w": np.ones((4, 3), np.float32)}, input_shapes={"data": (4, 3)})


@pytest.mark.parametrize(("storage", "kind"), [("1", "row_sparse"), ("2", "csr")])
def test_sparse_variable_is_refused(storage, kind):
    net = symbol(var("data", __storage_type__=storage), op("relu", "act", [0]))
    with pytest.raises(ModelFormatError, match=f"variable data has {kind} storage"):
        mx_import.load(net, input_shapes={"data": (2,)})


def test_input_without_shape_says_how_to_give_it():
    with pytest.raises(ShapeError, match=r"data \(variable\), a head, is unknown.*input_shapes"):
        mx_import.load(symbol(var("data")))
    with pytest.raises(
        ShapeError, match=r"shape of data \(variable\), input of node act, is unknown"
    ):
        mx_import.load(relu_net())


def test_reading_a_hidden_output_is_refused():
    net = symbol(
        var("data"),
        *(var(n, __shape__="(2,)") for n in ("g", "b", "m", "v")),
        op("BatchNorm", "bn", [0, 1, 2, 3, 4]),
        heads=[[5, 1, 0]],
    )
    with pytest.raises(ModelFormatError, match=r"reads output 1 of node bn \(BatchNorm\)"):
        mx_import.load(net, input_shapes={"data": (3, 2)})


def test_entries_must_point_backwards():
    net = symbol(var("data"), op("relu", "act", [2]), op("relu", "act2", [1]))
    with pytest.raises(ModelFormatError, match=r"node act: input entry .* does not come before"):
        mx_import.load(net)


def test_subgraph_ops_are_refused():
    loop = op("_foreach", "loop", [0])
    loop["subgraphs"] = [relu_net()]
    with pytest.raises(ModelFormatError, match=r"node loop \(_foreach\) holds subgraphs"):
        mx_import.load(symbol(var("data"), loop))


def test_errors_are_hybrix_errors():
    assert issubclass(ModelFormatError, HybrixError)
    assert issubclass(UnknownOpError, HybrixError)
