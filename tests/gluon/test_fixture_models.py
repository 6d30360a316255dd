"""Gluon models built with hybrix reproduce real MXNet 1.9.1 outputs (shared fixtures):
LeNet, the 784-256-256-10 MLP, the LSTM net and ResNet-18 v1, imperative and hybridized,
with parameters loaded by name from the files MXNet's export wrote."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import nd
from hybrix.gluon import HybridBlock, nn, rnn
from hybrix.gluon.block import NameManager
from hybrix.models.resnet import resnet18_v1


def _lenet():
    net = nn.HybridSequential(prefix="")
    with net.name_scope():
        net.add(
            nn.Conv2D(20, 5, activation="relu"),
            nn.MaxPool2D(2, 2),
            nn.Conv2D(50, 5, activation="relu"),
            nn.MaxPool2D(2, 2),
            nn.Flatten(),
            nn.Dense(500, activation="relu"),
            nn.Dense(10),
        )
    return net


def _mlp():
    # NOTE: the fixture's MLP was built after the LeNet in one process: dense2..dense4.
    net = nn.HybridSequential(prefix="")
    net.add(
        nn.Dense(256, activation="relu", prefix="dense2_"),
        nn.Dense(256, activation="relu", prefix="dense3_"),
        nn.Dense(10, prefix="dense4_"),
    )
    return net


class LSTMNet(HybridBlock):
    """rnn.LSTM(32, num_layers=1, layout='NTC') -> last step -> Dense(10)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.lstm = rnn.LSTM(32, num_layers=1, layout="NTC")
            self.dense = nn.Dense(10)

    def hybrid_forward(self, F, x):
        return self.dense(F.slice_axis(self.lstm(x), axis=1, begin=-1, end=None))


MODELS = {
    "lenet": _lenet,
    "mlp": _mlp,
    "lstm": lambda: LSTMNet(prefix="lstmnet0_"),
    "resnet18_v1": lambda: resnet18_v1(prefix="resnetv10_"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_reproduces_mxnet(name, fixtures_dir):
    io = np.load(fixtures_dir / "models" / f"{name}-io.npz")
    with NameManager():  # LeNet's children count in the global scope: conv0, dense0
        net = MODELS[name]()
    net.load_parameters(str(fixtures_dir / "models" / f"{name}-0000.params"))
    data = nd.array(io["data"])
    expected = io["output"]
    scale = np.abs(expected).max()
    eager = net(data).asnumpy()
    np.testing.assert_allclose(eager, expected, rtol=1e-4, atol=1e-4 * scale)
    net.hybridize()
    hybrid = net(data).asnumpy()
    np.testing.assert_allclose(hybrid, expected, rtol=1e-4, atol=1e-4 * scale)


def test_resnet_names_match_the_zoo():
    net = resnet18_v1(prefix="resnetv10_")
    names = list(net.collect_params().keys())
    assert names[:5] == [
        "resnetv10_conv0_weight",
        "resnetv10_batchnorm0_gamma",
        "resnetv10_batchnorm0_beta",
        "resnetv10_batchnorm0_running_mean",
        "resnetv10_batchnorm0_running_var",
    ]
    assert "resnetv10_stage2_conv2_weight" in names  # the downsample conv
    assert names[-2:] == ["resnetv10_dense0_weight", "resnetv10_dense0_bias"]
    assert len(names) == 102
