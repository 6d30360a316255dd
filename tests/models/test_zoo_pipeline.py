"""Zoo models compute the same through every path: MXNet's own outputs for resnet18_v1,
and imperative = hybridized = bundle (xla and reference executors) = ONNX Runtime.

CI runs a representative subset at small inputs; HYBRIX_SLOW=1 runs every zoo model at
MXNet's input size and `hybrix compile resnet50_v1` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hybrix
from hybrix import autograd, initializer, nd, runtime
from hybrix.compiler.bundle import build_bundle
from hybrix.gluon.block import NameManager
from hybrix.models import get_model
from hybrix.models.densenet import DenseNet

SLOW = pytest.mark.skipif(not os.environ.get("HYBRIX_SLOW"), reason="set HYBRIX_SLOW=1")
RTOL, ATOL = 1e-4, 1e-5


def test_resnet18_v1_reproduces_mxnet(fixtures_dir):
    """The fixture's parameters give MXNet 1.9.1's output, imperative and hybridized."""
    io = np.load(fixtures_dir / "models" / "resnet18_v1-io.npz")
    with NameManager():
        net = get_model("resnet18_v1")
    net.load_parameters(str(fixtures_dir / "models" / "resnet18_v1-0000.params"))
    data = nd.array(io["data"])
    expected = io["output"]
    scale = np.abs(expected).max()
    imperative = net(data).asnumpy()
    np.testing.assert_allclose(imperative, expected, rtol=0, atol=1e-4 * scale)
    net.hybridize()
    hybridized = net(data).asnumpy()
    np.testing.assert_allclose(hybridized, expected, rtol=0, atol=1e-4 * scale)


def _randomize_batchnorm(net, rng):
    """Running statistics away from (0, 1), so inference BatchNorm (and its folding) matter."""
    for name, param in net.collect_params().items():
        if name.endswith(("running_mean", "beta")):
            param.set_data(nd.array(rng.uniform(-0.2, 0.2, param.shape).astype("float32")))
        elif name.endswith(("running_var", "gamma")):
            param.set_data(nd.array(rng.uniform(0.5, 1.5, param.shape).astype("float32")))


def _build(factory, size, rng):
    with NameManager():
        net = factory()
    net.initialize(initializer.Xavier(magnitude=2))
    data = nd.array(rng.standard_normal((1, 3, size, size)).astype("float32"))
    net(data)  # finish deferred initialization before touching BatchNorm statistics
    _randomize_batchnorm(net, rng)
    return net, data


def check_every_path(net, data, tmp_path):
    """imperative == hybridized == bundle (xla, reference) == ONNX Runtime, on one input."""
    import onnxruntime as ort

    from hybrix.compiler import onnx as hybrix_onnx

    expected = net(data).asnumpy()
    assert np.isfinite(expected).all()
    assert np.abs(expected).max() > 0
    net.hybridize()
    results = {"hybridized": net(data).asnumpy()}
    with autograd.predict_mode():
        graph = hybrix.trace(net, data)
    # NOTE: the trace also returns BatchNorm's running statistics, rewritten unchanged in
    # predict mode (reported to the ndarray owner); the model's output comes first
    graph.outputs = graph.outputs[:1]
    bundle = tmp_path / "model.hxb"
    build_bundle(graph, None, bundle, precompile=False)
    for executor in ("xla", "reference"):
        (results[executor],) = runtime.load(bundle, executor=executor).run([data.asnumpy()])
    hybrix_onnx.export(graph, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    (results["onnxruntime"],) = session.run(None, {session.get_inputs()[0].name: data.asnumpy()})
    scale = np.abs(expected).max()
    for path, result in results.items():
        assert result.shape == expected.shape, path
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL * scale, err_msg=path)


SUBSET = [
    ("squeezenet1.1", 224),
    ("mobilenetv2_0.25", 64),
    ("resnet18_v2", 32),
]


@pytest.mark.parametrize(("name", "size"), SUBSET)
def test_zoo_model_agrees_across_paths(name, size, rng, tmp_path):
    net, data = _build(lambda: get_model(name, classes=10), size, rng)
    check_every_path(net, data, tmp_path)


def test_small_densenet_agrees_across_paths(rng, tmp_path):
    """DenseNet's concatenating blocks and transitions, at a width CI can afford."""
    net, data = _build(lambda: DenseNet(8, 4, [1, 2, 1, 1], classes=10), 224, rng)
    check_every_path(net, data, tmp_path)


SIZES = {"inceptionv3": 299}


VISION = sorted(set(hybrix.models.MODELS) - {"lstm_lm", "bert_small"})


@SLOW
@pytest.mark.parametrize("name", VISION)
def test_every_zoo_model_agrees_across_paths(name, rng, tmp_path):
    net, data = _build(lambda: get_model(name), SIZES.get(name, 224), rng)
    check_every_path(net, data, tmp_path)


@SLOW
def test_cli_compiles_resnet50_v1(tmp_path):
    output = tmp_path / "r50.hxb"
    hybrix_command = Path(sys.executable).parent / "hybrix"
    command = [str(hybrix_command), "compile", "resnet50_v1", "-o", str(output)]
    subprocess.run(command, check=True, cwd=tmp_path, timeout=900)
    outputs = runtime.load(output, executor="xla").run([np.zeros((1, 3, 224, 224), np.float32)])
    # NOTE: BatchNorm's unchanged running statistics follow as extra outputs (reported)
    assert outputs[0].shape == (1, 1000)
