"""gluon.Block: MXNet 1.9.1 naming, parameters, hooks, repr, save/load, summary."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import init, nd
from hybrix.gluon import Block, HybridBlock, nn
from hybrix.gluon.block import LayerError, NameManager
from hybrix.gluon.parameter import ParameterError
from hybrix.ir import HybrixError


class Model(Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense0 = nn.Dense(4, in_units=3)
            self.dense1 = nn.Dense(2)

    def forward(self, x):
        return self.dense1(nd.relu(self.dense0(x)))


def test_automatic_names_as_mxnet():
    with NameManager():
        first, second = nn.Dense(2), nn.Dense(2)
        assert (first.name, second.name) == ("dense0", "dense1")
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(3, activation="relu"), nn.Conv2D(2, 3), nn.Dense(1))
        assert net.prefix == "hybridsequential0_"
        assert list(net.collect_params().keys()) == [
            "hybridsequential0_dense0_weight",
            "hybridsequential0_dense0_bias",
            "hybridsequential0_conv0_weight",
            "hybridsequential0_conv0_bias",
            "hybridsequential0_dense1_weight",
            "hybridsequential0_dense1_bias",
        ]
        assert net[0].act.name == "hybridsequential0_dense0_relu"
        assert Model().prefix == "model0_"
        assert nn.Dense(1, prefix="mine_").weight.name == "mine_weight"
        assert nn.MaxPool2D().name == "pool0"


def test_empty_prefix_and_shared_params():
    with NameManager():
        net = nn.HybridSequential(prefix="")
        with net.name_scope():
            net.add(nn.Dense(2))
        assert net[0].weight.name == "dense0_weight"
        shared = nn.Dense(2, params=net[0].collect_params())
        assert shared.weight is net[0].weight


def test_collect_params_select_and_structural_names():
    model = Model(prefix="m_")
    assert list(model.collect_params(".*weight").keys()) == ["m_dense0_weight", "m_dense1_weight"]
    assert sorted(model._collect_params_with_prefix()) == [
        "dense0.bias",
        "dense0.weight",
        "dense1.bias",
        "dense1.weight",
    ]


def test_forward_hooks_and_detach():
    model = Model()
    model.initialize()
    seen = []
    pre = model.register_forward_pre_hook(
        lambda block, inputs: seen.append(("pre", inputs[0].shape))
    )
    post = model.register_forward_hook(lambda block, inputs, out: seen.append(("post", out.shape)))
    model(nd.ones((5, 3)))
    assert seen == [("pre", (5, 3)), ("post", (5, 2))]
    pre.detach()
    with post:
        model(nd.ones((1, 3)))
    model(nd.ones((1, 3)))
    assert seen[2:] == [("post", (1, 2))]


def test_repr_as_mxnet():
    model = Model(prefix="m_")
    assert repr(model) == (
        "Model(\n  (dense0): Dense(3 -> 4, linear)\n  (dense1): Dense(None -> 2, linear)\n)"
    )
    net = nn.HybridSequential()
    net.add(nn.Dense(4, activation="tanh", in_units=2), nn.Dropout(0.5))
    assert repr(net) == (
        "HybridSequential(\n  (0): Dense(2 -> 4, Activation(tanh))\n"
        "  (1): Dropout(p = 0.5, axes=())\n)"
    )


def test_apply_initialize_and_cast():
    model = Model()
    names = []
    model.apply(lambda block: names.append(type(block).__name__))
    assert names == ["Dense", "Dense", "Model"]
    model.initialize(init.One())
    out = model(nd.ones((2, 3)))
    assert out.asnumpy().tolist() == [[12.0, 12.0], [12.0, 12.0]]
    model.cast("float64")
    assert model.dense0.weight.data().dtype == np.float64


def test_save_load_parameters_roundtrip_and_errors(tmp_path):
    model = Model()
    model.initialize(init.Uniform(1.0))
    x = nd.ones((2, 3))
    expected = model(x).asnumpy()
    path = str(tmp_path / "model.params")
    model.save_parameters(path)
    assert sorted(nd.load(path)) == ["dense0.bias", "dense0.weight", "dense1.bias", "dense1.weight"]
    fresh = Model()
    fresh.load_parameters(path)
    np.testing.assert_array_equal(fresh(x).asnumpy(), expected)

    class Bigger(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.dense2 = nn.Dense(2, in_units=2)

    with pytest.raises(ParameterError, match=r"'dense2.weight', 'dense2.bias'"):
        Bigger().load_parameters(path)
    Bigger().load_parameters(path, allow_missing=True)
    smaller = nn.Dense(4, in_units=3)
    with pytest.raises(ParameterError, match=r"'dense1\.weight'"):
        smaller.load_parameters(path)


def test_load_parameters_of_full_names(tmp_path):
    """Files of full names (save_params, or export's arg:/aux: names) load too."""
    model = Model(prefix="m_")
    model.initialize(init.Uniform(1.0))
    model(nd.ones((1, 3)))
    path = str(tmp_path / "legacy.params")
    model.collect_params().save(path, strip_prefix="m_")
    fresh = Model(prefix="m_")
    fresh.load_parameters(path)
    np.testing.assert_array_equal(
        fresh.dense0.weight.data().asnumpy(), model.dense0.weight.data().asnumpy()
    )
    exported = str(tmp_path / "exported.params")
    nd.save(exported, {f"arg:{k}": v.data() for k, v in model.collect_params().items()})
    other = Model(prefix="m_")
    other.load_parameters(exported)
    np.testing.assert_array_equal(
        other.dense1.bias.data().asnumpy(), model.dense1.bias.data().asnumpy()
    )


def test_hybrid_children_must_be_hybrid():
    net = nn.HybridSequential()
    with pytest.raises(HybrixError, match="must also be HybridBlock"):
        net.add(Model())


def test_layer_errors_name_the_layer():
    dense = nn.Dense(4, in_units=3, prefix="fc_")
    dense.initialize()
    with pytest.raises(LayerError, match=r"fc \(Dense\(3 -> 4, linear\)\).*weight"):
        dense(nd.ones((2, 5)))


def test_summary_prints_mxnet_table(capsys):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3, activation="relu"), nn.Dense(2, in_units=4))
    net.initialize()
    net.summary(nd.ones((1, 3)))
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert out[3].split() == ["Input", "(1,", "3)", "0"]
    assert out[4].split() == ["Activation-1", "(1,", "4)", "0"]
    assert out[5].split() == ["Dense-2", "(1,", "4)", "16"]
    assert out[6].split() == ["Dense-3", "(1,", "2)", "10"]
    assert "   Total params: 26" in out
    net.hybridize()
    with pytest.raises(HybrixError, match="must not be hybridized"):
        net.summary(nd.ones((1, 3)))


def test_sequential_slicing_and_lambda():
    net = nn.Sequential()
    net.add(nn.Lambda("relu"), nn.Lambda(lambda x: x * 2), nn.HybridLambda(lambda F, x: F.exp(x)))
    assert len(net) == 3
    assert isinstance(net[1:], nn.Sequential)
    assert len(net[1:]) == 2
    out = net(nd.array([-1.0, 0.5]))
    np.testing.assert_allclose(out.asnumpy(), np.exp([0.0, 1.0]), rtol=1e-6)
    assert repr(net[0]) == "Lambda(relu)"
    with pytest.raises(HybrixError, match="not found"):
        nn.Lambda("no_such_op")
    with pytest.raises(HybrixError, match="does not define forward"):
        Block()(nd.ones((1,)))


def test_hybrid_block_with_own_parameter():
    class Scale(HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.scale = self.params.get("scale", shape=(1,), init=init.Constant(3.0))

        def hybrid_forward(self, F, x, scale):
            return F.broadcast_mul(x, scale)

    block = Scale()
    block.initialize()
    assert block(nd.ones((2,))).asnumpy().tolist() == [3.0, 3.0]
    block.hybridize()
    assert block(nd.ones((2,))).asnumpy().tolist() == [3.0, 3.0]
