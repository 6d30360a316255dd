"""hybrix.models: the model zoo, MXNet 1.9.1's gluon.model_zoo.vision with its names.

    net = hybrix.models.get_model("resnet50_v1")                 # or "mobilenet0.25", ...
    net = hybrix.models.get_model("resnet18_v1", pretrained=True) # a local .params file

Names are MXNet's `get_model` keys (`resnet18_v1`, `mobilenet1.0`, `mobilenetv2_0.25`,
`squeezenet1.1`, `inceptionv3`, `vgg16_bn`, ...) and its function names (`mobilenet1_0`,
`mobilenet_v2_0_25`, `squeezenet1_1`, `inception_v3`), plus the sequence models
`lstm_lm` and `bert_small`. Parameter names equal MXNet's when a model is built in a
fresh name scope (`with hybrix.gluon.block.NameManager():`), as a new MXNet process
builds it; `pretrained=True` loads `{name}-{hash}.params` or `{name}.params` from `root`
or `$HYBRIX_HOME/models` (see `hybrix.models._store`), and never downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybrix.ir import HybrixError
from hybrix.models import (
    alexnet as _alexnet,
    densenet,
    inception,
    mobilenet,
    resnet,
    squeezenet,
    text,
    vgg,
)
from hybrix.models._store import PretrainedFileError, get_model_file, load_pretrained

__all__ = [
    "MODELS",
    "PretrainedFileError",
    "UnknownModelError",
    "get_model",
    "get_model_file",
    "get_resnet",
    "model_names",
]


class UnknownModelError(HybrixError, ValueError):
    """get_model was given a name the zoo does not have; the message lists the names."""


def _resnet(name: str) -> Callable[..., Any]:
    """models/resnet.py refuses pretrained=True; load the local file here instead."""
    build = getattr(resnet, name)

    def factory(pretrained: bool = False, ctx: Any = None, root: Any = None, **kwargs: Any):
        net = build(**kwargs)
        return load_pretrained(net, name, ctx, root) if pretrained else net

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = build.__doc__
    return factory


def get_resnet(
    version: int,
    num_layers: int,
    pretrained: bool = False,
    ctx: Any = None,
    root: Any = None,
    **kwargs: Any,
) -> Any:
    """ResNet `version` (1, 2) with `num_layers` (18/34/50/101/152); MXNet's get_resnet."""
    net = resnet.get_resnet(version, num_layers, **kwargs)
    if pretrained:
        load_pretrained(net, f"resnet{num_layers}_v{version}", ctx, root)
    return net


_RESNETS = [f"resnet{n}_v{v}" for v in (1, 2) for n in (18, 34, 50, 101, 152)]

# NOTE: MXNet's get_model keys (python/mxnet/gluon/model_zoo/vision/__init__.py, 1.9.1)
MODELS: dict[str, Callable[..., Any]] = {
    **{name: _resnet(name) for name in _RESNETS},
    "vgg11": vgg.vgg11,
    "vgg13": vgg.vgg13,
    "vgg16": vgg.vgg16,
    "vgg19": vgg.vgg19,
    "vgg11_bn": vgg.vgg11_bn,
    "vgg13_bn": vgg.vgg13_bn,
    "vgg16_bn": vgg.vgg16_bn,
    "vgg19_bn": vgg.vgg19_bn,
    "alexnet": _alexnet.alexnet,
    "densenet121": densenet.densenet121,
    "densenet161": densenet.densenet161,
    "densenet169": densenet.densenet169,
    "densenet201": densenet.densenet201,
    "squeezenet1.0": squeezenet.squeezenet1_0,
    "squeezenet1.1": squeezenet.squeezenet1_1,
    "inceptionv3": inception.inception_v3,
    "mobilenet1.0": mobilenet.mobilenet1_0,
    "mobilenet0.75": mobilenet.mobilenet0_75,
    "mobilenet0.5": mobilenet.mobilenet0_5,
    "mobilenet0.25": mobilenet.mobilenet0_25,
    "mobilenetv2_1.0": mobilenet.mobilenet_v2_1_0,
    "mobilenetv2_0.75": mobilenet.mobilenet_v2_0_75,
    "mobilenetv2_0.5": mobilenet.mobilenet_v2_0_5,
    "mobilenetv2_0.25": mobilenet.mobilenet_v2_0_25,
    "lstm_lm": text.lstm_lm,
    "bert_small": text.bert_small,
}
# the function names (mobilenet1_0, inception_v3, ...) find the same models
_ALIASES = {factory.__name__: key for key, factory in MODELS.items()}


def model_names() -> list[str]:
    """The zoo's names as MXNet's get_model spells them, sorted."""
    return sorted(MODELS)


def get_model(name: str, **kwargs: Any) -> Any:
    """The zoo model `name` (MXNet's key or function name, any case), built with `kwargs`
    (classes=, pretrained=, root=, ctx=, and the model's own arguments)."""
    key = name.lower()
    key = key if key in MODELS else _ALIASES.get(key, key)
    if key not in MODELS:
        options = "\n\t".join(model_names())
        raise UnknownModelError(
            f"Model {name} is not supported. Available options are\n\t{options}"
        )
    return MODELS[key](**kwargs)
