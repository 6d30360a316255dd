"""hybrix.sym: building, listing, shape/type inference, JSON, executors."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import hybrix as mx
from hybrix import gluon, ir, sym
from hybrix.gluon import nn
from hybrix.ir import HybrixError
from hybrix.test_utils import assert_almost_equal

MXNET_PYTHON = "/tmp/mxzoo/bin/python"


def mlp_symbol():
    data = sym.var("data")
    fc1 = sym.FullyConnected(data, num_hidden=8, name="fc1")
    act = sym.Activation(fc1, act_type="relu", name="relu1")
    bn = sym.BatchNorm(act, name="bn")
    return sym.FullyConnected(bn, num_hidden=3, name="fc2")


def test_lists_follow_mxnet_naming():
    out = mlp_symbol()
    assert out.list_arguments() == [
        "data",
        "fc1_weight",
        "fc1_bias",
        "bn_gamma",
        "bn_beta",
        "fc2_weight",
        "fc2_bias",
    ]
    assert out.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert out.list_outputs() == ["fc2_output"]
    internals = out.get_internals()
    assert "relu1_output" in internals.list_outputs()
    assert internals["relu1_output"].list_arguments() == ["data", "fc1_weight", "fc1_bias"]


def test_infer_shape_and_type():
    arg_shapes, out_shapes, aux_shapes = mlp_symbol().infer_shape(data=(4, 5))
    assert arg_shapes == [(4, 5), (8, 5), (8,), (8,), (8,), (3, 8), (3,)]
    assert out_shapes == [(4, 3)]
    assert aux_shapes == [(8,), (8,)]
    assert sym.var("x").infer_shape() == (None, None, None)
    arg_types, out_types, _ = (sym.var("x", shape=(2,)) * 2).infer_type(x="float64")
    assert arg_types == [np.float64]
    assert out_types == [np.float64]


def test_arithmetic_and_group():
    a, b = sym.var("a"), sym.var("b")
    c = (a + b) * 2 - a / b
    group = sym.Group([c, a * b])
    assert len(group) == 2
    ex = group.bind(mx.cpu(), {"a": mx.nd.array([1.0, 2.0]), "b": mx.nd.array([4.0, 8.0])})
    first, second = ex.forward()
    assert_almost_equal(first, np.array([9.75, 19.75]))
    assert_almost_equal(second, np.array([4.0, 16.0]))
    with pytest.raises(HybrixError, match="no output"):
        group["nope"]


def test_executor_forward_backward_against_numpy(rng):
    x, w = sym.var("x"), sym.var("w")
    y = sym.sum(sym.tanh(sym.dot(x, w)))
    xv, wv = rng.normal(size=(3, 4)).astype("f"), rng.normal(size=(4, 2)).astype("f")
    ex = y.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2))
    ex.forward(is_train=True, x=xv, w=wv)
    assert_almost_equal(ex.outputs[0], np.tanh(xv @ wv).sum().reshape(1))
    ex.backward()
    dz = 1 - np.tanh(xv @ wv) ** 2
    assert_almost_equal(ex.grad_dict["x"], dz @ wv.T)
    assert_almost_equal(ex.grad_dict["w"], xv.T @ dz)
    ex.grad_req = ["add", "null"]
    ex.backward()
    assert_almost_equal(ex.grad_dict["x"], 2 * dz @ wv.T)


def test_batchnorm_aux_updates_in_training():
    ex = mlp_symbol().simple_bind(mx.cpu(), data=(4, 5))
    for _name, array in ex.arg_dict.items():
        array[:] = mx.nd.array(np.random.default_rng(0).normal(size=array.shape))
    ex.aux_dict["bn_moving_var"][:] = 1.0
    ex.forward(is_train=False)
    assert float(ex.aux_dict["bn_moving_mean"].asnumpy().sum()) == 0.0
    ex.forward(is_train=True)
    assert float(np.abs(ex.aux_dict["bn_moving_mean"].asnumpy()).sum()) > 0.0


def test_blockgrad_and_make_loss():
    x = sym.var("x")
    loss = sym.make_loss(sym.BlockGrad(x * 3) + x * 2, grad_scale=0.5)
    ex = loss.simple_bind(mx.cpu(), x=(2,))
    ex.forward(is_train=True, x=np.array([1.0, 2.0]))
    ex.backward(mx.nd.array([100.0, 100.0]))  # make_loss ignores head gradients
    assert_almost_equal(ex.grad_dict["x"], np.array([1.0, 1.0]))


def test_json_round_trip_and_importer(tmp_path):
    out = mlp_symbol()
    text = out.tojson()
    again = sym.load_json(text)
    assert again.list_arguments() == out.list_arguments()
    assert again.tojson() == text
    out.save(tmp_path / "net-symbol.json")
    assert sym.load(tmp_path / "net-symbol.json").list_outputs() == ["fc2_output"]
    model = mx.importers.mxnet.load(
        str(tmp_path / "net-symbol.json"), input_shapes={"data": (2, 5)}
    )
    assert ir.structurally_equal(model.graph, out.to_graph({"data": (2, 5)}))


@pytest.mark.skipif(not os.path.exists(MXNET_PYTHON), reason="no MXNet 1.9.1 side venv")
def test_tojson_loads_in_mxnet(tmp_path):
    path = tmp_path / "net-symbol.json"
    mlp_symbol().save(path)
    script = (
        "import mxnet as mx, sys; s = mx.sym.load(sys.argv[1]);"
        "a, o, x = s.infer_shape(data=(2, 5)); print(s.list_arguments(), o, x)"
    )
    result = subprocess.run(
        [MXNET_PYTHON, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[(2, 3)]" in result.stdout
    assert "fc2_weight" in result.stdout


class Mlp(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc1 = nn.Dense(8, in_units=5)
            self.fc2 = nn.Dense(3, in_units=8)

    def hybrid_forward(self, F, x):
        return self.fc2(F.Activation(self.fc1(x), act_type="relu"))


def test_symbol_and_hybridized_block_give_the_same_ir():
    net = Mlp(prefix="mlp_")
    net.initialize()
    from_block = sym.block_to_symbol(net, sym.var("data", shape=(2, 5)))
    data = sym.var("data")
    fc1 = sym.FullyConnected(
        data, sym.var("mlp_dense0_weight"), sym.var("mlp_dense0_bias"), num_hidden=8, name="fc1"
    )
    act = sym.Activation(fc1, act_type="relu")
    built = sym.FullyConnected(
        act, sym.var("mlp_dense1_weight"), sym.var("mlp_dense1_bias"), num_hidden=3
    )
    shapes = {"data": (2, 5)}
    left, right = from_block.to_graph(shapes), built.to_graph(shapes)
    assert ir.structurally_equal(left, right)
    assert _body(left) == _body(right)


def _body(graph):
    """IR text without value names (which follow each frontend's node naming)."""
    import re

    return [re.sub(r"%[\w.]+", "%v", line) for line in str(graph).splitlines()[1:]]


def test_errors_name_the_problem():
    with pytest.raises(HybrixError, match="not inputs of the symbol"):
        mlp_symbol().to_graph({"nope": (1,)})
    with pytest.raises(HybrixError, match="lacks"):
        mlp_symbol().bind(mx.cpu(), {"data": mx.nd.ones((2, 5))})
    with pytest.raises(HybrixError, match="needs the input's shape"):
        sym.block_to_symbol(Mlp(), sym.var("data"))
