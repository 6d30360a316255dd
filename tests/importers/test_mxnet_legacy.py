"""Legacy -symbol.json layouts, built here from the documented formats (MXNet 0.8 to 1.2).

Old files keep attributes under `param` / `attr`, write inputs as [node, output] without a
version, leave out aux states (before 0.9) and put hidden keys such as `lr_mult` or
`weight_lr_mult` on op nodes; src/nnvm/legacy_json_util.cc upgrades them by version.
"""

from __future__ import annotations

import json

import numpy as np

from hybrix.compiler import compile_graph
from hybrix.importers import mxnet as mx_import
from hybrix.importers.mxnet import params as params_codec


def var(name, **attrs):
    node = {"op": "null", "name": name, "inputs": []}
    if attrs:
        node["attr"] = attrs
    return node


def legacy_symbol():
    """FullyConnected -> BatchNorm -> relu as MXNet 0.8 wrote it: no aux states, `param`."""
    nodes = [
        var("data"),
        var("fc1_weight"),
        var("fc1_bias"),
        {
            "op": "FullyConnected",
            "name": "fc1",
            "param": {"no_bias": "False", "num_hidden": "4"},
            "inputs": [[0, 0], [1, 0], [2, 0]],
            "backward_source_id": -1,
        },
        var("bn_gamma"),
        var("bn_beta"),
        {
            "op": "BatchNorm",
            "name": "bn",
            "param": {"eps": "0.001", "fix_gamma": "False", "momentum": "0.9"},
            "inputs": [[3, 0], [4, 0], [5, 0]],
            "backward_source_id": -1,
        },
        {
            "op": "Activation",
            "name": "relu1",
            "param": {"act_type": "relu"},
            "attr": {"ctx_group": "stage1"},
            "inputs": [[6, 0]],
        },
    ]
    return {"nodes": nodes, "arg_nodes": [0, 1, 2, 4, 5], "heads": [[7, 0]]}


def legacy_params(rng):
    return {
        "arg:fc1_weight": rng.standard_normal((4, 3)).astype(np.float32),
        "arg:fc1_bias": rng.standard_normal(4).astype(np.float32),
        "arg:bn_gamma": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "arg:bn_beta": rng.standard_normal(4).astype(np.float32),
        "aux:bn_moving_mean": rng.standard_normal(4).astype(np.float32),
        "aux:bn_moving_var": rng.uniform(0.5, 1.5, 4).astype(np.float32),
    }


def expected_output(x, p):
    hidden = x @ p["arg:fc1_weight"].T + p["arg:fc1_bias"]
    normed = (hidden - p["aux:bn_moving_mean"]) / np.sqrt(p["aux:bn_moving_var"] + 1e-3)
    return np.maximum(normed * p["arg:bn_gamma"] + p["arg:bn_beta"], 0)


def test_version_08_gets_its_aux_states_and_computes_the_right_thing(rng, tmp_path):
    arrays = legacy_params(rng)
    params_codec.save(tmp_path / "old-0000.params", arrays)
    (tmp_path / "old-symbol.json").write_text(json.dumps(legacy_symbol()))
    model = mx_import.load(
        tmp_path / "old-symbol.json", tmp_path / "old-0000.params", input_shapes={"data": (5, 3)}
    )
    bn = next(node for node in model.graph.nodes if node.op == "BatchNorm")
    assert [v.name for v in bn.inputs[3:]] == ["bn_moving_mean", "bn_moving_var"]
    assert model.metadata["mxnet_version"] == "800"
    x = rng.standard_normal((5, 3)).astype(np.float32)
    (got,) = compile_graph(model.graph)(x)
    np.testing.assert_allclose(np.asarray(got), expected_output(x, arrays), rtol=1e-5, atol=1e-5)


def test_version_08_without_params_makes_the_added_aux_states_inputs():
    model = mx_import.load(legacy_symbol(), input_shapes={"data": ("N", 3)})
    names = [v.name for v in model.graph.inputs]
    assert names[:2] == ["bn_moving_mean", "bn_moving_var"]  # added first, as MXNet does
    assert model.graph.find_value("bn_moving_var").shape == (4,)


def test_hidden_keys_move_to_variables_and_metadata():
    symbol = legacy_symbol()
    symbol["attrs"] = {"mxnet_version": ["int", 10000]}
    symbol["nodes"][3]["attr"] = {"weight_lr_mult": "0.1", "bias_wd_mult": "0"}
    symbol["nodes"][0]["attr"] = {"lr_mult": "2"}
    symbol["nodes"][6]["inputs"] += [[4, 0], [5, 0]]  # 1.0 files have aux states...
    symbol["nodes"].insert(6, var("bn_moving_mean"))  # ...as variables before the op
    symbol["nodes"].insert(7, var("bn_moving_var"))
    for node in symbol["nodes"][8:]:
        node["inputs"] = [[i + 2 if i >= 6 else i, o] for i, o in node["inputs"]]
    symbol["nodes"][8]["inputs"][3:] = [[6, 0, 1], [7, 0, 1]]
    symbol["heads"] = [[9, 0]]
    model = mx_import.load(symbol, input_shapes={"data": (2, 3)})
    variables = json.loads(model.metadata["mxnet.variables"])
    assert variables["fc1_weight"] == {"__lr_mult__": "0.1"}
    assert variables["fc1_bias"] == {"__wd_mult__": "0"}
    assert variables["data"] == {"__lr_mult__": "2"}
    assert json.loads(model.metadata["mxnet.nodes"])["relu1"] == {"__ctx_group__": "stage1"}


def test_attr_key_of_mxnet_1_2_and_two_element_entries():
    symbol = {
        "nodes": [
            var("data"),
            {
                "op": "Pooling",
                "name": "pool",
                "attr": {"kernel": "(2L, 2L)", "pool_type": "avg", "stride": "(2, 2)"},
                "inputs": [[0, 0]],
            },
        ],
        "arg_nodes": [0],
        "heads": [[1, 0]],
        "attrs": {"mxnet_version": ["int", 10200]},
    }
    model = mx_import.load(symbol, input_shapes={"data": (1, 1, 4, 4)})
    assert model.graph.nodes[0].attrs["kernel"] == (2, 2)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    (got,) = compile_graph(model.graph)(x)
    np.testing.assert_allclose(np.asarray(got)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_argmax_axis_minus_one_before_095_means_all_elements():
    def symbol(version):
        return {
            "nodes": [
                var("data"),
                {"op": "argmax", "name": "am", "param": {"axis": "-1"}, "inputs": [[0, 0]]},
            ],
            "arg_nodes": [0],
            "heads": [[1, 0]],
            "attrs": {"mxnet_version": ["int", version]},
        }

    old = mx_import.load(symbol(904), input_shapes={"data": (2, 3)})
    new = mx_import.load(symbol(10901), input_shapes={"data": (2, 3)})
    assert old.graph.nodes[0].attrs["axis"] is None
    assert new.graph.nodes[0].attrs["axis"] == -1
    x = np.array([[0, 5, 1], [9, 2, 3]], np.float32)
    assert int(np.asarray(compile_graph(old.graph)(x)[0]).ravel()[0]) == 3
    np.testing.assert_array_equal(np.asarray(compile_graph(new.graph)(x)[0]), [1, 0])


def test_variable_dtype_flag_and_name():
    symbol = {
        "nodes": [
            var("a", __dtype__="1", __shape__="(2,)"),
            var("b", __dtype__="float64"),  # its shape comes from elemwise_add's other input
            {"op": "elemwise_add", "name": "sum", "inputs": [[0, 0, 0], [1, 0, 0]]},
        ],
        "arg_nodes": [0, 1],
        "heads": [[2, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]},
    }
    model = mx_import.load(symbol)
    assert [str(v.type) for v in model.graph.inputs] == ["f64[2]", "f64[2]"]


def test_legacy_params_layout_feeds_the_import(tmp_path):
    """A magic-less (pre-V1) .params file, written byte by byte, loads into a symbol."""
    import struct

    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    name = b"arg:fc_weight"
    body = struct.pack("<QQQ", 0x112, 0, 1)  # list magic, reserved, one array
    body += struct.pack("<III", 2, 2, 3)  # legacy: the first word is the rank, uint32 dims
    body += struct.pack("<iii", 1, 0, 0) + weight.tobytes()  # cpu(0), float32, data
    body += struct.pack("<QQ", 1, len(name)) + name
    (tmp_path / "p.params").write_bytes(body)
    symbol = {
        "nodes": [
            var("data"),
            var("fc_weight"),
            {
                "op": "FullyConnected",
                "name": "fc",
                "param": {"num_hidden": "2", "no_bias": "True"},
                "inputs": [[0, 0], [1, 0]],
            },
        ],
        "arg_nodes": [0, 1],
        "heads": [[2, 0]],
    }
    model = mx_import.load(symbol, tmp_path / "p.params", input_shapes={"data": (1, 3)})
    (got,) = compile_graph(model.graph)(np.ones((1, 3), np.float32))
    np.testing.assert_allclose(np.asarray(got), [[3.0, 12.0]])
