"""Zoo models have MXNet 1.9.1's parameter names and shapes; get_model and pretrained files.

The table golden/mxnet_zoo_params.json was made by scripts/gen_zoo_table.py from real
MXNet 1.9.1, each model built in a fresh `mx.name.NameManager()`; here each model is built
in a fresh hybrix NameManager, so the names compare as they are, prefix included.
Shapes come from a symbolic trace: parameters are bound to graph inputs when their deferred
shapes are known, so nothing is allocated and all 34 models check in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybrix import nd
from hybrix._trace import Tracer
from hybrix.context import cpu
from hybrix.gluon.block import NameManager
from hybrix.gluon.parameter import Parameter
from hybrix.ir import DType, HybrixError, TensorType
from hybrix.models import MODELS, UnknownModelError, get_model
from hybrix.models._store import PretrainedFileError
from hybrix.ndarray import _dispatch

GOLDEN = json.loads((Path(__file__).parent / "golden" / "mxnet_zoo_params.json").read_text())
TABLE = GOLDEN["models"]


def symbolic_build(name: str, input_shape: tuple, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Build zoo model `name` in a fresh name scope and trace it on a symbolic input."""
    tracer = Tracer("shapes")

    def bind(param: Parameter) -> None:
        if not param._deferred_init:
            return
        param._deferred_init = ()
        param._ctx_list = [cpu()]
        param._data = [tracer.add_input(param.name, TensorType(DType.float32, param.shape))]

    monkeypatch.setattr(Parameter, "_finish_deferred_init", bind)
    with NameManager():
        net = get_model(name)
    net.initialize()
    data = tracer.add_input("data", TensorType(DType.float32, tuple(input_shape)))
    _dispatch.TRACER = tracer
    try:
        out = net(data)
    finally:
        _dispatch.TRACER = None
        tracer.restore()
    return net, out


def test_table_is_mxnet_1_9_1_and_covers_the_zoo():
    assert GOLDEN["mxnet"] == "1.9.1"
    vision = {name for name in MODELS if name not in ("lstm_lm", "bert_small")}
    assert vision == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_parameter_names_and_shapes_equal_mxnet(name, monkeypatch):
    entry = TABLE[name]
    net, out = symbolic_build(name, entry["input"], monkeypatch)
    assert net.prefix == entry["prefix"]
    got = [[key, list(param.shape)] for key, param in net.collect_params().items()]
    assert got == entry["params"]
    assert tuple(out.shape) == (1, 1000)


@pytest.mark.parametrize(
    ("alias", "key"),
    [
        ("mobilenet1_0", "mobilenet1.0"),
        ("mobilenet_v2_0_25", "mobilenetv2_0.25"),
        ("squeezenet1_1", "squeezenet1.1"),
        ("inception_v3", "inceptionv3"),
        ("ResNet18_V1", "resnet18_v1"),
    ],
)
def test_function_names_find_the_same_model(alias, key):
    with NameManager():
        by_alias = get_model(alias)
    with NameManager():
        by_key = get_model(key)
    assert type(by_alias) is type(by_key)
    assert list(by_alias.collect_params()) == list(by_key.collect_params())


def test_gluon_model_zoo_exposes_mxnet_names():
    from hybrix.gluon.model_zoo import vision

    with NameManager():
        net = vision.mobilenet_v2_0_25(classes=10)
    assert net.prefix == "mobilenetv20_"
    assert "mobilenetv20_output_pred_weight" in net.collect_params()
    with NameManager():
        assert vision.get_model("squeezenet1.0").prefix == "squeezenet0_"
        assert vision.get_resnet(2, 50).prefix == "resnetv20_"


def test_unknown_model_lists_the_options():
    with pytest.raises(UnknownModelError, match="resnet18_v1") as info:
        get_model("resnet19_v1")
    assert "Model resnet19_v1 is not supported" in str(info.value)
    assert isinstance(info.value, HybrixError)


def test_bad_architecture_arguments_raise_hybrix_errors():
    from hybrix.models import densenet, squeezenet, vgg

    with pytest.raises(HybrixError, match="121"):
        densenet.get_densenet(122)
    with pytest.raises(HybrixError, match=r"1\.0 or 1\.1"):
        squeezenet.SqueezeNet("1.2")
    with pytest.raises(HybrixError, match="11/13/16/19"):
        vgg.get_vgg(12)


def test_pretrained_missing_file_names_the_file_and_folder(tmp_path):
    with pytest.raises(PretrainedFileError) as info:
        get_model("mobilenet0.25", pretrained=True, root=tmp_path)
    message = str(info.value)
    assert "mobilenet0.25-9f83e440.params" in message
    assert "mobilenet0.25.params" in message
    assert str(tmp_path) in message


def test_pretrained_default_folder_is_hybrix_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIX_HOME", str(tmp_path))
    with pytest.raises(PretrainedFileError, match=str(tmp_path / "models")):
        get_model("alexnet", pretrained=True)


def test_pretrained_loads_a_local_mxnet_file(tmp_path, monkeypatch, fixtures_dir):
    source = fixtures_dir / "models" / "resnet18_v1-0000.params"
    (tmp_path / "models").mkdir()
    shutil.copy(source, tmp_path / "models" / "resnet18_v1.params")
    monkeypatch.setenv("HYBRIX_HOME", str(tmp_path))
    with NameManager():
        net = get_model("resnet18_v1", pretrained=True)
    saved = nd.load(str(source))
    for name in ("resnetv10_conv0_weight", "resnetv10_dense0_bias"):
        got = net.collect_params()[name].data().asnumpy()
        np.testing.assert_array_equal(got, saved[f"arg:{name}"].asnumpy())


def test_pretrained_file_with_a_wrong_hash_is_refused(tmp_path, fixtures_dir):
    shutil.copy(
        fixtures_dir / "models" / "resnet18_v1-0000.params",
        tmp_path / "resnet18_v1-a0666292.params",
    )
    with pytest.raises(PretrainedFileError, match="sha1"):
        get_model("resnet18_v1", pretrained=True, root=tmp_path)
